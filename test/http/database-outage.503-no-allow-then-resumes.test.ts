/**
 * SECURITY "Database stopped mid-run → 503s, no allow; service resumes by itself when it returns", on PostgreSQL
 * (the scale-out database): the server talks to the machine's PostgreSQL through a TCP proxy that the test cuts.
 * While it is cut — sign-ins already in flight included — every answer is a 503 `SERVICE_UNAVAILABLE` (or, for a
 * request that finished before the cut, its normal answer): never `authenticated`, never a 500, and `/readyz`
 * says not ready while `/healthz` stays up. When the proxy forwards again, the same server serves again without a
 * restart, and an MFA session opened before the outage can still be answered.
 *
 * The same for a database that goes silent (black-holed: connections stay open, nothing is answered, no reset
 * comes): every request answers 503 within the query timeout, and once the database answers again the node serves
 * again — its connections that were waiting for lost answers were dropped, not left busy for good (issue 13).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { openDatabase } from '../../src/store/index.ts';
import type { Harness } from '../support/harness.ts';
import { createFreshSchema, dropSchema, postgresTestUrl } from '../support/postgres.ts';
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy.ts';
import { api, createAuthHarness, createClient, createTenant, createUser, enrollTotpViaSignin, expectError, openSessions, PASSWORD, totpAt, type ApiResult, type Enrolled, type TestClient } from './auth-support.ts';

const url = postgresTestUrl();
const POLICY = { enrollment: 'required', gracePeriodDays: 0, challenge: 'always' } as const;

describe('PostgreSQL outage', { skip: url === undefined ? 'PORTCULLIS_TEST_DATABASE_URL is not set; PostgreSQL outage test skipped' : undefined }, () => {
  let proxy: TcpProxy;
  let h: Harness;
  let client: TestClient;
  let enrolled: Enrolled;

  before(async () => {
    const direct = new URL(url ?? '');
    proxy = await startTcpProxy({ host: direct.hostname, port: direct.port === '' ? 5432 : Number(direct.port) });
    const viaProxy = new URL(direct);
    viaProxy.hostname = '127.0.0.1';
    viaProxy.port = String(proxy.port);
    h = await createAuthHarness('postgres', {
      openDatabase: async () => {
        const schema = await createFreshSchema(direct.href, 'portcullis_outage');
        const database = await openDatabase({ url: viaProxy.href, schema, poolSize: 5, connectTimeoutMs: 1_000, queryTimeoutMs: 1_500 });
        return {
          database,
          dispose: async () => {
            await database.close();
            await dropSchema(direct.href, schema);
          },
        };
      },
    });
    client = await createClient(h, 'bank');
    const tenant = await createTenant(h, 'outage', POLICY);
    await createUser(h, tenant.id, 'ada@example.com');
    enrolled = await enrollTotpViaSignin(h, client, 'outage', 'ada@example.com');
    h.clock.advance(30_000);
  });
  after(async () => {
    proxy.up();
    await h?.close();
    await proxy?.close();
  });

  const signIn = (): Promise<ApiResult> => api(h, client, 'POST', '/auth/signin', { tenant: 'outage', identifier: 'ada@example.com', password: PASSWORD });

  it('answers 503 and never allows while the database is away, then serves again by itself', async () => {
    const [before] = await openSessions(h, client, 'outage', enrolled.userId, 1);
    assert.equal((await signIn()).body.status, 'mfa_required', 'healthy before the cut');

    // Cut while sign-ins are in flight (each spends ~25 ms in argon2id, so most are past their first query).
    const inFlight = Array.from({ length: 20 }, () => signIn());
    await new Promise((resolve) => setTimeout(resolve, 30));
    proxy.down();
    const answers = await Promise.all(inFlight);
    for (const a of answers) {
      assert.ok(a.status === 503 || (a.status === 200 && a.body.status === 'mfa_required'), `in flight: ${a.status} ${a.text}`);
      if (a.status === 503) assert.equal(a.body.error, 'SERVICE_UNAVAILABLE');
    }
    assert.ok(answers.some((a) => a.status === 503), 'the cut reached some requests in flight');

    // While it is down: every path answers 503, a right code included.
    expectError(await signIn(), 503, 'SERVICE_UNAVAILABLE', 'signin');
    expectError(await api(h, client, 'POST', '/auth/mfa/status/check', { tenant: 'outage', userId: enrolled.userId }), 503, 'SERVICE_UNAVAILABLE', 'status/check');
    expectError(await api(h, client, 'POST', '/auth/mfa/verify', { mfaSessionId: before, method: 'totp', code: totpAt(enrolled.secret, h.clock.now()) }), 503, 'SERVICE_UNAVAILABLE', 'verify with the right code');
    expectError(await api(h, client, 'POST', '/auth/mfa/step-up', { tenant: 'outage', userId: enrolled.userId, action: 'payments.send' }), 503, 'SERVICE_UNAVAILABLE', 'step-up');
    assert.equal((await h.app.inject({ method: 'GET', url: '/readyz' })).statusCode, 503);
    assert.equal((await h.app.inject({ method: 'GET', url: '/healthz' })).statusCode, 200);

    // Back: the same process serves again, and the session opened before the outage is still answerable.
    proxy.up();
    let ready = 0;
    for (let i = 0; i < 50 && ready !== 200; i++) {
      ready = (await h.app.inject({ method: 'GET', url: '/readyz' })).statusCode;
      if (ready !== 200) await new Promise((resolve) => setTimeout(resolve, 100));
    }
    assert.equal(ready, 200, 'ready again');
    assert.equal((await signIn()).body.status, 'mfa_required');
    const verified = await api(h, client, 'POST', '/auth/mfa/verify', { mfaSessionId: before, method: 'totp', code: totpAt(enrolled.secret, h.clock.now()) });
    assert.equal(verified.status, 200, verified.text);
    assert.equal(verified.body.verified, true);
  });

  it('answers 503 within the query timeout while the database is silent, then serves again by itself', async () => {
    h.clock.advance(30_000);
    const [before] = await openSessions(h, client, 'outage', enrolled.userId, 1);
    proxy.silence();
    const started = performance.now();
    // More requests than the pool has connections: each connection meets a lost answer.
    const answers = await Promise.all([
      ...Array.from({ length: 8 }, () => signIn()),
      api(h, client, 'POST', '/auth/mfa/status/check', { tenant: 'outage', userId: enrolled.userId }),
      api(h, client, 'POST', '/auth/mfa/verify', { mfaSessionId: before, method: 'totp', code: totpAt(enrolled.secret, h.clock.now()) }),
    ]);
    const seconds = (performance.now() - started) / 1000;
    for (const a of answers) expectError(a, 503, 'SERVICE_UNAVAILABLE', 'while silent');
    assert.ok(seconds < 15, `answered within the timeouts, not held: ${seconds.toFixed(1)} s`);
    assert.equal((await h.app.inject({ method: 'GET', url: '/readyz' })).statusCode, 503);

    proxy.up();
    let ready = 0;
    for (let i = 0; i < 100 && ready !== 200; i++) {
      ready = (await h.app.inject({ method: 'GET', url: '/readyz' })).statusCode;
      if (ready !== 200) await new Promise((resolve) => setTimeout(resolve, 100));
    }
    assert.equal(ready, 200, 'ready again');
    // Every connection of the pool is usable again: more requests at once than it has connections.
    const again = await Promise.all(Array.from({ length: 8 }, () => signIn()));
    for (const a of again) assert.equal(a.body.status, 'mfa_required', a.text);
    const verified = await api(h, client, 'POST', '/auth/mfa/verify', { mfaSessionId: before, method: 'totp', code: totpAt(enrolled.secret, h.clock.now()) });
    assert.equal(verified.status, 200, verified.text);
  });
});
