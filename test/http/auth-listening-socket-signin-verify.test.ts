/**
 * The application API over a real listening socket (the other suites use `inject`): `app.listen` on an
 * ephemeral loopback port and `fetch` for a password sign-in that is challenged and a TOTP verification, with
 * HTTP Basic client credentials, on SQLite and PostgreSQL.
 */
import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { forEachDialect, type Harness } from '../support/harness.ts';
import { createAuthHarness, createClient, createTenant, createUser, enrollTotpViaSignin, PASSWORD, totpAt, type TestClient } from './auth-support.ts';

forEachDialect((dialect) => {
  let h: Harness;
  let client: TestClient;
  let base: string;

  before(async () => {
    h = await createAuthHarness(dialect);
    client = await createClient(h, 'socket-app');
    const tenant = await createTenant(h, 'socket', { enrollment: 'required', gracePeriodDays: 0, challenge: 'always' });
    await createUser(h, tenant.id, 'wire@example.com');
    await h.app.listen({ port: 0, host: '127.0.0.1' });
    const address = h.app.server.address();
    assert.ok(address !== null && typeof address === 'object');
    base = `http://127.0.0.1:${address.port}/api/v1`;
  });
  after(() => h.close());

  const post = async (path: string, body: unknown, authorization: string | null = client.authorization): Promise<{ status: number; body: Record<string, unknown>; headers: Headers }> => {
    const res = await fetch(`${base}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(authorization === null ? {} : { authorization }) },
      body: JSON.stringify(body),
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown>, headers: res.headers };
  };

  it('signs in, is challenged and verifies a TOTP code over TCP', async () => {
    // Enrollment through inject (covered elsewhere); the sign-in and verification below go over the socket.
    const enrolled = await enrollTotpViaSignin(h, client, 'socket', 'wire@example.com');
    h.clock.advance(30_000);

    const anonymous = await post('/auth/signin', { tenant: 'socket', identifier: 'wire@example.com', password: PASSWORD }, null);
    assert.equal(anonymous.status, 401);
    assert.equal(anonymous.body.error, 'UNAUTHORIZED');
    assert.match(anonymous.headers.get('www-authenticate') ?? '', /^Basic /);

    const signin = await post('/auth/signin', { tenant: 'socket', identifier: 'wire@example.com', password: PASSWORD, context: { ip: '192.0.2.10', deviceId: 'device-1' } });
    assert.equal(signin.status, 200);
    assert.equal(signin.body.status, 'mfa_required');
    assert.equal(typeof signin.body.mfaSessionId, 'string');
    assert.equal(signin.headers.get('cache-control'), 'no-store');
    assert.ok((signin.headers.get('x-request-id') ?? '').length > 0);
    assert.match(signin.headers.get('content-type') ?? '', /^application\/json/);

    const verified = await post('/auth/mfa/verify', { mfaSessionId: signin.body.mfaSessionId, method: 'totp', code: totpAt(enrolled.secret, h.clock.now()) });
    assert.equal(verified.status, 200);
    assert.equal(verified.body.status, 'authenticated');
    assert.equal(verified.body.verified, true);
    assert.equal(verified.body.userId, enrolled.userId);
    assert.deepEqual([...(verified.body.amr as string[])].sort(), ['mfa', 'otp', 'pwd']);

    const replay = await post('/auth/mfa/verify', { mfaSessionId: signin.body.mfaSessionId, method: 'totp', code: totpAt(enrolled.secret, h.clock.now()) });
    // The MFA session was completed by the first verification: a replay is refused as already used.
    assert.equal(replay.status, 409);
    assert.equal(replay.body.error, 'MFA_SESSION_USED');
  });
});
