/**
 * SECURITY "`kill -9` at each step of enrollment → after restart: no active half-enrolled factor, no orphan secret,
 * audit matches the database", with the real server: `portcullis start` as a child process on a SQLite file (the
 * embedded default), SIGKILLed after the sign-in, after TOTP enrollment began, while the confirmation is in flight
 * (at several delays, so the kill lands before, during and after its transaction), and after it answered; each
 * time restarted on the same file and inspected through the store:
 * - a factor is active only together with its recovery codes and its `mfa.factor_enrolled` audit event (the
 *   confirmation's one transaction), or none of the three exists;
 * - a factor that is not active is pending, expires within 10 minutes (the sweep then deletes it and its sealed
 *   secret), and does not count: the next sign-in is still walled;
 * - a confirmed factor challenges the next sign-in.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { base32Decode, totpCode, totpStep } from '../../src/factors/totp.ts';
import { createStore, openDatabase, type Database, type Store } from '../../src/store/index.ts';

const MAIN = new URL('../../src/cli/main.ts', import.meta.url).pathname;
const PASSWORD = 'correct horse battery staple';
const PENDING_TTL_MS = 10 * 60_000;

interface Server {
  readonly child: ChildProcess;
  readonly url: string;
  readonly adminToken: string | null;
}

describe('kill -9 during enrollment (SQLite, real process)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-crash-'));
  const env = {
    ...process.env,
    PORTCULLIS_PROFILE: 'dev',
    PORTCULLIS_DATA_DIR: dir,
    PORTCULLIS_SECRET_KEY: randomBytes(32).toString('base64'),
    HOST: '127.0.0.1',
    PORT: '0',
    LOG_LEVEL: 'warn',
    PORTCULLIS_RATE_LIMIT: '0',
    DATABASE_URL: '',
  };
  let server: Server;
  let admin = '';
  let tenantId = '';
  let client = '';
  let n = 0;

  async function start(): Promise<Server> {
    const child = spawn(process.execPath, [MAIN, 'start'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stderr?.on('data', (chunk: Buffer) => (err += chunk.toString()));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`the server did not start: ${out}${err}`)), 20_000);
      child.once('exit', (code) => reject(new Error(`the server exited with ${code}: ${out}${err}`)));
      child.stdout?.on('data', (chunk: Buffer) => {
        out += chunk.toString();
        const url = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(out)?.[1];
        // The token block follows the "API docs" line on a first start.
        if (url === undefined || !out.includes('API docs:')) return;
        const first = out.includes('First platform admin token');
        const token = /\n {2}(pat_\S+)\n/.exec(out)?.[1] ?? null;
        if (first && token === null) return;
        clearTimeout(timer);
        child.removeAllListeners('exit');
        resolve({ child, url, adminToken: token });
      });
    });
  }

  async function kill(): Promise<void> {
    const exited = new Promise((resolve) => server.child.once('exit', resolve));
    server.child.kill('SIGKILL');
    await exited;
  }

  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- tests read arbitrary JSON answers
  async function call(method: string, path: string, body: unknown, authorization: string): Promise<{ status: number; body: any }> {
    const res = await fetch(`${server.url}/api/v1${path}`, { method, headers: { authorization, 'content-type': 'application/json' }, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
    return { status: res.status, body: await res.json() };
  }

  /** Opens the file the server writes, as a second reader (WAL), for one inspection. */
  async function inspect<T>(fn: (store: Store) => Promise<T>): Promise<T> {
    const database: Database = await openDatabase({ sqlitePath: join(dir, 'portcullis.db') });
    try {
      return await fn(createStore(database));
    } finally {
      await database.close();
    }
  }

  /** The invariant after any crash: active ⇔ recovery codes ⇔ audit event; anything else pending and expiring. */
  async function assertConsistent(userId: string): Promise<{ active: boolean }> {
    return inspect(async (store) => {
      const t = store.forTenant(tenantId);
      const factors = await t.factors.listForUser(userId);
      const active = factors.filter((f) => f.status === 'active');
      const totp = active.filter((f) => f.type === 'totp');
      const described = JSON.stringify(factors.map((f) => ({ type: f.type, status: f.status })));
      assert.ok(totp.length <= 1, `at most one active TOTP factor: ${described}`);
      const codes = await t.recoveryCodes.countRemaining(userId);
      const enrolled = (await t.audit.list({ events: ['mfa.factor_enrolled'], userId })).items;
      if (totp.length === 1) {
        assert.ok(codes > 0, 'an active TOTP factor comes with its recovery codes');
        assert.deepEqual(active.map((f) => f.type).sort(), ['recovery_codes', 'totp'], described);
        assert.deepEqual(enrolled.map((e) => e.subject), [totp[0]?.id], 'and with exactly its audit event (the codes are part of it)');
      } else {
        assert.deepEqual(active, [], `nothing active without the TOTP factor: ${described}`);
        assert.equal(codes, 0, 'no recovery codes without an active factor');
        assert.equal(enrolled.length, 0, 'no enrollment audited without an active factor');
      }
      for (const f of factors.filter((x) => x.status !== 'active')) {
        assert.equal(f.status, 'pending');
        assert.ok(f.expiresAt !== null && f.expiresAt <= f.createdAt + PENDING_TTL_MS, 'a pending factor (and its sealed secret) expires within 10 minutes');
      }
      return { active: totp.length === 1 };
    });
  }

  async function newUser(): Promise<{ email: string; userId: string }> {
    n++;
    const email = `crash-${n}@example.com`;
    const created = await call('POST', `/tenants/${tenantId}/users`, { email, password: PASSWORD }, admin);
    assert.equal(created.status, 201, JSON.stringify(created.body));
    return { email, userId: created.body.id };
  }

  const signIn = (email: string) => call('POST', '/auth/signin', { tenant: 'crash', identifier: email, password: PASSWORD }, client);

  before(async () => {
    server = await start();
    assert.notEqual(server.adminToken, null, 'a first start prints the admin token');
    admin = `Bearer ${server.adminToken}`;
    const tenant = await call('POST', '/tenants', { slug: 'crash', name: 'Crash' }, admin);
    tenantId = tenant.body.id;
    assert.equal((await call('PUT', `/tenants/${tenantId}/policy`, { enrollment: 'required', gracePeriodDays: 0, challenge: 'always' }, admin)).status, 200);
    const app = await call('POST', '/applications', { name: 'bank' }, admin);
    client = `Basic ${Buffer.from(`${app.body.clientId}:${app.body.clientSecret}`).toString('base64')}`;
  });
  after(async () => {
    if (server.child.exitCode === null) await kill();
    rmSync(dir, { recursive: true, force: true });
  });

  it('killed after the sign-in and after enrollment began: nothing active, the pending factor expires, the user is still walled', async () => {
    const user = await newUser();
    const walled = await signIn(user.email);
    assert.equal(walled.body.status, 'enrollment_required');
    await kill();
    server = await start();
    assert.deepEqual(await assertConsistent(user.userId), { active: false });

    const again = await signIn(user.email);
    const begun = await call('POST', '/auth/mfa/enroll/totp', { mfaSessionId: again.body.mfaSessionId }, client);
    assert.equal(begun.status, 200, JSON.stringify(begun.body));
    await kill();
    server = await start();
    assert.deepEqual(await assertConsistent(user.userId), { active: false });
    assert.equal((await signIn(user.email)).body.status, 'enrollment_required', 'a pending factor does not count');
  });

  for (const delayMs of [0, 4, 8, 10, 12, 14, 16, 20, 40]) {
    it(`killed ${delayMs} ms into the confirmation: all of it or none of it`, async () => {
      const user = await newUser();
      const walled = await signIn(user.email);
      const begun = await call('POST', '/auth/mfa/enroll/totp', { mfaSessionId: walled.body.mfaSessionId }, client);
      const secret = base32Decode(String(begun.body.secret));
      if (secret === null) throw new Error('the enrollment answer has no base32 secret');
      const code = totpCode(secret, totpStep(Date.now()));
      const confirm = fetch(`${server.url}/api/v1/auth/mfa/enroll/totp/confirm`, {
        method: 'POST',
        headers: { authorization: client, 'content-type': 'application/json' },
        body: JSON.stringify({ mfaSessionId: walled.body.mfaSessionId, factorId: begun.body.factorId, code }),
      }).then(
        (res) => res.status,
        () => 'no answer',
      );
      await new Promise((resolve) => setTimeout(resolve, delayMs));
      await kill();
      const answered = await confirm;
      server = await start();
      const { active } = await assertConsistent(user.userId);
      if (answered === 200) assert.equal(active, true, 'an answered confirmation was durable');
      assert.equal((await signIn(user.email)).body.status, active ? 'mfa_required' : 'enrollment_required');
    });
  }
});
