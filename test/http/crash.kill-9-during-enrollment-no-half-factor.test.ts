/**
 * SECURITY "`kill -9` at each step of enrollment → after restart: no active half-enrolled factor, no orphan secret,
 * audit matches the database", with the real server: `portcullis start` as a child process, SIGKILLed and
 * restarted on the same database, which is then inspected through the store. The invariant after every crash:
 * - a factor is active only together with its recovery codes and its `mfa.factor_enrolled` audit event (the
 *   confirmation's one transaction), or none of the three exists;
 * - a factor that is not active is pending, expires within 10 minutes (the sweep then deletes it and its sealed
 *   secret), and does not count: the next sign-in is still walled;
 * - a confirmed factor challenges the next sign-in.
 *
 * Where the kill lands:
 * - after the sign-in, after enrollment began, and after the confirmation answered: between requests, by
 *   construction;
 * - **inside the confirmation's transaction**, provably: the server runs with `PORTCULLIS_TEST_PAUSE_AT` naming the
 *   pause point just after the factor is activated (src/testing/pause-point.ts). The test waits for the server's
 *   "paused" line, then shows that the first write was made and not committed — another connection still reads the
 *   factor as pending, and cannot take the write lock (SQLite `BEGIN IMMEDIATE` → `SQLITE_BUSY`; PostgreSQL
 *   `SELECT … FOR UPDATE NOWAIT` on the factor row → `55P03`) — and only then kills. That run must come back with
 *   nothing of the confirmation (pending factor, no codes, no audit event) and the factor still confirmable. On
 *   SQLite and on PostgreSQL.
 * - at fixed delays into an unpaused confirmation (0–40 ms): a sweep of timings, not a proof of where each lands;
 *   each run must satisfy the invariant whichever side of the commit it died on.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import BetterSqlite3 from 'better-sqlite3';
import { base32Decode, totpCode, totpStep } from '../../src/factors/totp.ts';
import { createStore, openDatabase, type Database, type Store } from '../../src/store/index.ts';
import { PAUSE_AT_ENV, PAUSE_MARKER, type PausePointName } from '../../src/testing/pause-point.ts';
import { createFreshSchema, dropSchema, postgresTestUrl, withPgClient } from '../support/postgres.ts';

const MAIN = new URL('../../src/cli/main.ts', import.meta.url).pathname;
const PASSWORD = 'correct horse battery staple';
const PENDING_TTL_MS = 10 * 60_000;
const CONFIRM_PAUSE: PausePointName = 'totp-confirm:factor-activated';

type Dialect = 'sqlite' | 'postgres';

interface Server {
  readonly child: ChildProcess;
  readonly url: string;
  readonly adminToken: string | null;
  /** Resolves with the pause point's line once the server wrote it to stderr. */
  readonly paused: Promise<string>;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- tests read arbitrary JSON answers
type Answer = { status: number; body: any };

/** One server's data (a SQLite file or a PostgreSQL schema), the server over it, and the inspections. */
function crashRig(dialect: Dialect, slug: string): {
  setUp(): Promise<void>;
  tearDown(): Promise<void>;
  start(extraEnv?: Record<string, string>): Promise<void>;
  kill(): Promise<void>;
  server(): Server;
  call(method: string, path: string, body: unknown, authorization: string): Promise<Answer>;
  client(): string;
  inspect<T>(fn: (store: Store) => Promise<T>): Promise<T>;
  assertConsistent(userId: string): Promise<{ active: boolean }>;
  newUser(): Promise<{ email: string; userId: string }>;
  signIn(email: string): Promise<Answer>;
  tenantId(): string;
  dataDir: string;
  schema(): string | null;
} {
  const dataDir = mkdtempSync(join(tmpdir(), 'portcullis-crash-'));
  const pgUrl = dialect === 'postgres' ? (postgresTestUrl() ?? '') : null;
  const key = randomBytes(32).toString('base64');
  let schema: string | null = null;
  let server: Server | null = null;
  let admin = '';
  let tenantId = '';
  let client = '';
  let n = 0;

  function databaseUrl(): string {
    if (pgUrl === null || schema === null) return '';
    const url = new URL(pgUrl);
    url.searchParams.set('options', `-c search_path=${schema}`);
    return url.href;
  }

  async function start(extraEnv: Record<string, string> = {}): Promise<void> {
    const env = {
      ...process.env,
      PORTCULLIS_PROFILE: 'dev',
      PORTCULLIS_DATA_DIR: dataDir,
      PORTCULLIS_SECRET_KEY: key,
      HOST: '127.0.0.1',
      PORT: '0',
      LOG_LEVEL: 'warn',
      PORTCULLIS_RATE_LIMIT: '0',
      DATABASE_URL: databaseUrl(),
      [PAUSE_AT_ENV]: '',
      ...extraEnv,
    };
    const child = spawn(process.execPath, [MAIN, 'start'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    let onPaused: (line: string) => void = () => undefined;
    const paused = new Promise<string>((resolve) => (onPaused = resolve));
    child.stderr?.on('data', (chunk: Buffer) => {
      err += chunk.toString();
      const line = new RegExp(`^${PAUSE_MARKER} .*$`, 'm').exec(err)?.[0];
      if (line !== undefined) onPaused(line);
    });
    server = await new Promise((resolve, reject) => {
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
        resolve({ child, url, adminToken: token, paused });
      });
    });
  }
  function current(): Server {
    if (server === null) throw new Error('no server started');
    return server;
  }

  async function kill(): Promise<void> {
    const child = current().child;
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
  }

  async function call(method: string, path: string, body: unknown, authorization: string): Promise<Answer> {
    const res = await fetch(`${current().url}/api/v1${path}`, { method, headers: { authorization, 'content-type': 'application/json' }, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
    return { status: res.status, body: await res.json() };
  }

  /** Opens the server's database as a second client (a WAL reader on SQLite), for one inspection. */
  async function inspect<T>(fn: (store: Store) => Promise<T>): Promise<T> {
    const database: Database = await openDatabase(pgUrl === null ? { sqlitePath: join(dataDir, 'portcullis.db') } : { url: pgUrl, ...(schema === null ? {} : { schema }), poolSize: 1 });
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

  return {
    dataDir,
    async setUp() {
      if (pgUrl !== null) schema = await createFreshSchema(pgUrl, 'portcullis_crash');
      await start();
      const token = current().adminToken;
      assert.notEqual(token, null, 'a first start prints the admin token');
      admin = `Bearer ${token}`;
      const tenant = await call('POST', '/tenants', { slug, name: 'Crash' }, admin);
      tenantId = tenant.body.id;
      assert.equal((await call('PUT', `/tenants/${tenantId}/policy`, { enrollment: 'required', gracePeriodDays: 0, challenge: 'always' }, admin)).status, 200);
      const app = await call('POST', '/applications', { name: 'bank', tenants: [tenantId] }, admin);
      assert.equal(app.status, 201, JSON.stringify(app.body));
      client = `Basic ${Buffer.from(`${app.body.clientId}:${app.body.clientSecret}`).toString('base64')}`;
    },
    async tearDown() {
      if (server !== null) await kill();
      if (pgUrl !== null && schema !== null) await dropSchema(pgUrl, schema);
      rmSync(dataDir, { recursive: true, force: true });
    },
    start,
    kill,
    server: current,
    call,
    client: () => client,
    inspect,
    assertConsistent,
    newUser,
    signIn: (email) => call('POST', '/auth/signin', { tenant: slug, identifier: email, password: PASSWORD }, client),
    tenantId: () => tenantId,
    schema: () => schema,
  };
}

/** Begins TOTP enrollment at the wall; returns what confirming needs. */
async function beginEnrollment(rig: ReturnType<typeof crashRig>, email: string): Promise<{ mfaSessionId: string; factorId: string; secret: Buffer }> {
  const walled = await rig.signIn(email);
  assert.equal(walled.body.status, 'enrollment_required', JSON.stringify(walled.body));
  const begun = await rig.call('POST', '/auth/mfa/enroll/totp', { mfaSessionId: walled.body.mfaSessionId }, rig.client());
  assert.equal(begun.status, 200, JSON.stringify(begun.body));
  const secret = base32Decode(String(begun.body.secret));
  if (secret === null) throw new Error('the enrollment answer has no base32 secret');
  return { mfaSessionId: walled.body.mfaSessionId, factorId: begun.body.factorId, secret };
}

/** Sends the confirmation without waiting for it; resolves with its status, or 'no answer' when the server died. */
function sendConfirm(rig: ReturnType<typeof crashRig>, enrolling: { mfaSessionId: string; factorId: string }, code: string): Promise<number | 'no answer'> {
  return fetch(`${rig.server().url}/api/v1/auth/mfa/enroll/totp/confirm`, {
    method: 'POST',
    headers: { authorization: rig.client(), 'content-type': 'application/json' },
    body: JSON.stringify({ mfaSessionId: enrolling.mfaSessionId, factorId: enrolling.factorId, code }),
  }).then(
    (res) => res.status,
    () => 'no answer' as const,
  );
}

/** Shows, from a second connection, that a write transaction holding the factor's activation is open and uncommitted. */
async function assertOpenWriteTransaction(rig: ReturnType<typeof crashRig>, dialect: Dialect, factorId: string): Promise<void> {
  const seen = await rig.inspect((store) => store.forTenant(rig.tenantId()).factors.get(factorId));
  assert.equal(seen?.status, 'pending', 'the activation is not committed: another connection still reads the factor as pending');
  if (dialect === 'sqlite') {
    // The server's transaction began deferred (no lock); only its first write took the write lock.
    const other = new BetterSqlite3(join(rig.dataDir, 'portcullis.db'), { timeout: 0 });
    try {
      assert.throws(() => other.exec('BEGIN IMMEDIATE'), (error: { code?: string }) => error.code === 'SQLITE_BUSY', 'the paused server holds the write lock: it wrote inside its transaction');
    } finally {
      other.close();
    }
    return;
  }
  const url = postgresTestUrl() ?? '';
  await withPgClient(url, async (c) => {
    await c.query(`set search_path to "${rig.schema() ?? ''}"`);
    await c.query('begin');
    await assert.rejects(c.query('select id from factors where id = $1 for update nowait', [factorId]), (error: { code?: string }) => error.code === '55P03', "the paused server's transaction holds the factor row's lock: it updated the row and did not commit");
    await c.query('rollback');
  });
}

describe('kill -9 during enrollment (SQLite, real process)', () => {
  const rig = crashRig('sqlite', 'crash');
  before(() => rig.setUp());
  after(() => rig.tearDown());

  it('killed after the sign-in and after enrollment began: nothing active, the pending factor expires, the user is still walled', async () => {
    const user = await rig.newUser();
    const walled = await rig.signIn(user.email);
    assert.equal(walled.body.status, 'enrollment_required');
    await rig.kill();
    await rig.start();
    assert.deepEqual(await rig.assertConsistent(user.userId), { active: false });

    await beginEnrollment(rig, user.email);
    await rig.kill();
    await rig.start();
    assert.deepEqual(await rig.assertConsistent(user.userId), { active: false });
    assert.equal((await rig.signIn(user.email)).body.status, 'enrollment_required', 'a pending factor does not count');
  });

  it('killed after the confirmation answered: the factor, its codes and its audit event are all there', async () => {
    const user = await rig.newUser();
    const enrolling = await beginEnrollment(rig, user.email);
    assert.equal(await sendConfirm(rig, enrolling, totpCode(enrolling.secret, totpStep(Date.now()))), 200);
    await rig.kill();
    await rig.start();
    assert.deepEqual(await rig.assertConsistent(user.userId), { active: true });
    assert.equal((await rig.signIn(user.email)).body.status, 'mfa_required');
  });

  for (const delayMs of [0, 4, 8, 10, 12, 14, 16, 20, 40]) {
    it(`killed ${delayMs} ms into an unpaused confirmation (wherever that lands): all of it or none of it`, async () => {
      const user = await rig.newUser();
      const enrolling = await beginEnrollment(rig, user.email);
      const confirm = sendConfirm(rig, enrolling, totpCode(enrolling.secret, totpStep(Date.now())));
      await new Promise((resolve) => setTimeout(resolve, delayMs));
      await rig.kill();
      const answered = await confirm;
      await rig.start();
      const { active } = await rig.assertConsistent(user.userId);
      if (answered === 200) assert.equal(active, true, 'an answered confirmation was durable');
      assert.equal((await rig.signIn(user.email)).body.status, active ? 'mfa_required' : 'enrollment_required');
    });
  }
});

for (const dialect of ['sqlite', 'postgres'] as const) {
  const skip = dialect === 'postgres' && postgresTestUrl() === undefined ? 'PORTCULLIS_TEST_DATABASE_URL is not set; PostgreSQL crash test skipped' : undefined;
  describe(`kill -9 inside the confirmation's transaction, at a pause point (${dialect}, real process)`, { skip }, () => {
    const rig = crashRig(dialect, 'paused');
    before(() => rig.setUp());
    after(() => rig.tearDown());

    it('dies between the activation and the commit: after restart the factor is pending, no codes, no audit, still walled, and still confirmable', async () => {
      await rig.kill();
      await rig.start({ [PAUSE_AT_ENV]: CONFIRM_PAUSE });
      const user = await rig.newUser();
      const enrolling = await beginEnrollment(rig, user.email);
      const step = totpStep(Date.now());
      const confirm = sendConfirm(rig, enrolling, totpCode(enrolling.secret, step));

      const line = await Promise.race([rig.server().paused, new Promise<never>((_, reject) => setTimeout(() => reject(new Error('the server never reached the pause point')), 15_000))]);
      assert.match(line, new RegExp(`^${PAUSE_MARKER} ${CONFIRM_PAUSE} pid=${rig.server().child.pid}$`));
      await assertOpenWriteTransaction(rig, dialect, enrolling.factorId);
      await rig.kill();
      assert.equal(await confirm, 'no answer', 'the confirmation never answered: the process died inside it');

      await rig.start();
      assert.deepEqual(await rig.assertConsistent(user.userId), { active: false });
      const factor = await rig.inspect((store) => store.forTenant(rig.tenantId()).factors.get(enrolling.factorId));
      assert.equal(factor?.status, 'pending', 'the activation was rolled back');
      assert.equal((await rig.signIn(user.email)).body.status, 'enrollment_required', 'the half-confirmed factor does not count');

      // The code was spent before the transaction (single use, committed on its own); the next step's code, inside
      // the ±1 window, completes the same pending factor.
      const confirmed = await rig.call('POST', '/auth/mfa/enroll/totp/confirm', { mfaSessionId: enrolling.mfaSessionId, factorId: enrolling.factorId, code: totpCode(enrolling.secret, step + 1) }, rig.client());
      assert.equal(confirmed.status, 200, JSON.stringify(confirmed.body));
      assert.deepEqual(await rig.assertConsistent(user.userId), { active: true });
      assert.equal((await rig.signIn(user.email)).body.status, 'mfa_required');
    });
  });
}
