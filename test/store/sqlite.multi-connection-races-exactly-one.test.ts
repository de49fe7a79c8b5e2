/**
 * SECURITY rules 2 and 3 on SQLite with real concurrency. The product opens one connection per SQLite file
 * (docs/configuration.md: SQLite serves one process), so in the store contract and the API tests the SQLite calls
 * "in parallel" interleave only between statements on that one connection: a conditional write cannot race there.
 * Here each racer is a worker thread with its own connection to one WAL file, all released at once from a
 * barrier, so the single-use and counting statements meet SQLite's own locking between connections:
 * - the same TOTP step, the same recovery code, one pending factor's activation, one MFA session's completion:
 *   exactly one success among all racers;
 * - failure counters (factor and account), the MFA session's attempt cap and policy versions: exact, no lost or
 *   doubled increment, the lock engaging at the limit;
 * - the control: a read-then-write consume (what rule 2 forbids) on the same racers lets every racer "use" the one
 *   code, so these connections do interleave and the test would catch a non-atomic write.
 * Across nodes (several processes or pools) the same races are proven on PostgreSQL, in the store contract and
 * test/http/auth-concurrency-single-use-and-failure-lock.test.ts.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Worker } from 'node:worker_threads';
import { createStore, flowState, FACTOR_FAILURE_LIMIT, LOCKED_UNTIL_RESET, ACCOUNT_FAILURE_LIMIT, migrateToLatest, openDatabase, type Database, type FailureState, type Store, type TenantStore } from '../../src/store/index.ts';
import type { RaceOp, RaceWorkerData, RaceWorkerResult } from './sqlite-race-worker.ts';

const RACERS = 4;
const NOW = Date.UTC(2026, 0, 1);
const WORKER = new URL('./sqlite-race-worker.ts', import.meta.url);

interface Race {
  /** Every racer's results, flattened. */
  readonly results: readonly unknown[];
  /** Which racer returned each result, in the order the calls returned. */
  readonly order: readonly number[];
}

/** Runs `perRacer` calls of `op` in each of {@link RACERS} worker threads, each on its own connection. */
async function race(path: string, op: RaceOp, perRacer: number): Promise<Race> {
  const shared = new SharedArrayBuffer(3 * Int32Array.BYTES_PER_ELEMENT);
  const outcomes = await Promise.all(
    Array.from(
      { length: RACERS },
      (_, racer) =>
        new Promise<RaceWorkerResult & { racer: number }>((resolve, reject) => {
          const worker = new Worker(WORKER, { workerData: { path, op, calls: perRacer, racers: RACERS, shared } satisfies RaceWorkerData });
          let result: RaceWorkerResult | null = null;
          worker.once('message', (message: RaceWorkerResult) => (result = message));
          worker.once('error', reject);
          worker.once('exit', (code) => (result === null ? reject(new Error(`racer ${racer} exited with ${code} and no result`)) : resolve({ ...result, racer })));
        }),
    ),
  );
  const ordered: { racer: number; seq: number }[] = outcomes.flatMap((o) => o.sequence.map((seq) => ({ racer: o.racer, seq })));
  return { results: outcomes.flatMap((o) => o.results), order: ordered.sort((a, b) => a.seq - b.seq).map((o) => o.racer) };
}

const successes = (results: readonly unknown[]): number => results.filter((r) => r === true).length;

describe(`SQLite: ${RACERS} connections in ${RACERS} threads on one WAL file`, () => {
  let dir: string;
  let path: string;
  let database: Database;
  let store: Store;
  let n = 0;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'portcullis-race-'));
    path = join(dir, 'portcullis.db');
    database = await openDatabase({ sqlitePath: path });
    await migrateToLatest(database);
    store = createStore(database);
  });
  after(async () => {
    await database.close();
    rmSync(dir, { recursive: true, force: true });
  });

  async function fixture(): Promise<{ t: TenantStore; tenantId: string; userId: string }> {
    n++;
    const tenant = await store.tenants.create({ slug: `race-${n}`, name: `Race ${n}`, now: NOW });
    const t = store.forTenant(tenant.id);
    const user = await t.users.create({ email: `racer-${n}@example.com`, now: NOW });
    return { t, tenantId: tenant.id, userId: user.id };
  }

  it('the control: a read-then-write consume lets every racer use the one code (the connections interleave)', async () => {
    const { t, tenantId, userId } = await fixture();
    const factor = await t.factors.create({ userId, type: 'recovery_codes', status: 'active', label: 'codes', now: NOW });
    const [code] = await t.recoveryCodes.replaceBatch(userId, factor.id, ['only']);
    assert.ok(code !== undefined);
    const { results } = await race(path, { kind: 'naiveConsume', tenantId, codeId: code.id, now: NOW }, 1);
    assert.equal(successes(results), RACERS, 'each racer read the code unused before any wrote: a race a non-atomic store would lose');
  });

  it('the same TOTP step, 100 times over 4 connections → exactly one success', async () => {
    const { t, tenantId, userId } = await fixture();
    const factor = await t.factors.create({ userId, type: 'totp', label: 'x', status: 'active', now: NOW });
    const step = Math.floor(NOW / 30_000);
    const { results } = await race(path, { kind: 'advanceTotpStep', tenantId, factorId: factor.id, step }, 25);
    assert.equal(results.length, 100);
    assert.equal(successes(results), 1);
    assert.equal((await t.factors.get(factor.id))?.lastStep, step);
  });

  it('the same recovery code, 100 times over 4 connections → exactly one success', async () => {
    const { t, tenantId, userId } = await fixture();
    const factor = await t.factors.create({ userId, type: 'recovery_codes', status: 'active', label: 'codes', now: NOW });
    const [code, other] = await t.recoveryCodes.replaceBatch(userId, factor.id, ['a', 'b']);
    assert.ok(code !== undefined && other !== undefined);
    const { results } = await race(path, { kind: 'consumeRecoveryCode', tenantId, userId, codeId: code.id, now: NOW }, 25);
    assert.equal(successes(results), 1);
    assert.deepEqual((await t.recoveryCodes.listUnused(userId)).map((c) => c.id), [other.id]);
  });

  it('one pending factor activated 40 times and one MFA session completed 40 times over 4 connections → once each', async () => {
    const { t, tenantId, userId } = await fixture();
    const factor = await t.factors.create({ userId, type: 'totp', label: 'x', expiresAt: NOW + 600_000, now: NOW });
    assert.equal(successes((await race(path, { kind: 'activate', tenantId, factorId: factor.id, now: NOW + 1 }, 10)).results), 1);
    assert.equal((await t.factors.get(factor.id))?.status, 'active');

    const sessionId = `sha256-race-${n}`;
    await t.mfaSessions.create({ id: sessionId, userId, applicationId: null, purpose: 'signin', methods: ['totp'], state: flowState(), expiresAt: NOW + 300_000, now: NOW });
    assert.equal(successes((await race(path, { kind: 'completeSession', tenantId, sessionId, now: NOW + 1 }, 10)).results), 1);
    assert.equal((await t.mfaSessions.get(sessionId))?.status, 'completed');
  });

  it('1,000 factor failures over 4 connections → every count 1..1000 once, the lock from the 10th, the calls interleaved', async () => {
    const { t, tenantId, userId } = await fixture();
    const factor = await t.factors.create({ userId, type: 'totp', label: 'x', status: 'active', now: NOW });
    const coolDownMs = 5 * 60_000;
    const { results, order } = await race(path, { kind: 'recordFailure', tenantId, factorId: factor.id, now: NOW, limit: FACTOR_FAILURE_LIMIT, coolDownMs }, 250);
    const states = results as (FailureState | null)[];
    assert.deepEqual(
      states.map((s) => s?.failures ?? -1).sort((a, b) => a - b),
      Array.from({ length: 1000 }, (_, i) => i + 1),
      'every increment counted exactly once',
    );
    for (const s of states) assert.equal(s?.locked, (s?.failures ?? 0) >= FACTOR_FAILURE_LIMIT, `failure ${s?.failures}`);
    const stored = await t.factors.get(factor.id);
    assert.equal(stored?.failedCount, 1000);
    assert.equal(stored?.lockedUntil, NOW + coolDownMs);
    // Not four blocks one after another: the racers' writes alternated at the file lock.
    const switches = order.filter((racer, i) => i > 0 && racer !== order[i - 1]).length;
    assert.ok(switches >= RACERS, `the racers' calls interleaved (${switches} switches between racers)`);
  });

  it('150 account failures over 4 connections → exact, locked from the 100th until a reset', async () => {
    const { t, tenantId, userId } = await fixture();
    const { results } = await race(path, { kind: 'recordSigninFailure', tenantId, userId, now: NOW }, 38);
    const states = results as (FailureState | null)[];
    assert.deepEqual(
      states.map((s) => s?.failures ?? -1).sort((a, b) => a - b),
      Array.from({ length: 152 }, (_, i) => i + 1),
    );
    for (const s of states) assert.equal(s?.lockedUntil, (s?.failures ?? 0) >= ACCOUNT_FAILURE_LIMIT ? LOCKED_UNTIL_RESET : null, `failure ${s?.failures}`);
    assert.equal((await t.users.get(userId))?.failedSignins, 152);
  });

  it('an MFA session attempt cap of 5 under 40 attempts over 4 connections → attempts 1..5, each once', async () => {
    const { t, tenantId, userId } = await fixture();
    const sessionId = `sha256-cap-${n}`;
    await t.mfaSessions.create({ id: sessionId, userId, applicationId: null, purpose: 'signin', methods: ['totp'], state: flowState(), expiresAt: NOW + 300_000, now: NOW });
    const { results } = await race(path, { kind: 'recordAttempt', tenantId, sessionId, now: NOW + 1, maxAttempts: 5 }, 10);
    assert.deepEqual(results.filter((r) => r !== null).sort(), [1, 2, 3, 4, 5]);
    assert.equal((await t.mfaSessions.get(sessionId))?.attempts, 5);
  });

  it('40 policy saves of one scope over 4 connections → versions 1..40, each once', async () => {
    const { t, tenantId } = await fixture();
    const { results } = await race(path, { kind: 'saveVersion', tenantId, now: NOW }, 10);
    assert.deepEqual((results as number[]).sort((a, b) => a - b), Array.from({ length: 40 }, (_, i) => i + 1));
    assert.equal((await t.policies.listVersions({ level: 'tenant' })).length, 40);
  });
});
