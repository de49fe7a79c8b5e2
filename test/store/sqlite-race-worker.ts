/**
 * One racer of test/store/sqlite.multi-connection-races-exactly-one.test.ts, run in a worker thread: it opens its
 * own connection to the shared SQLite file (as `openDatabase` opens it: WAL, busy timeout), waits at a barrier until
 * every racer is ready, then makes its calls and posts the results back, each with a global sequence number taken
 * when the call returned, so the test can see how the racers' calls interleaved.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { createStore, openDatabase, type Store } from '../../src/store/index.ts';

/** The store operations raced, with their arguments. */
export type RaceOp =
  | { readonly kind: 'advanceTotpStep'; readonly tenantId: string; readonly factorId: string; readonly step: number }
  | { readonly kind: 'consumeRecoveryCode'; readonly tenantId: string; readonly userId: string; readonly codeId: string; readonly now: number }
  | { readonly kind: 'recordFailure'; readonly tenantId: string; readonly factorId: string; readonly now: number; readonly limit: number; readonly coolDownMs: number }
  | { readonly kind: 'recordSigninFailure'; readonly tenantId: string; readonly userId: string; readonly now: number }
  | { readonly kind: 'activate'; readonly tenantId: string; readonly factorId: string; readonly now: number }
  | { readonly kind: 'recordAttempt'; readonly tenantId: string; readonly sessionId: string; readonly now: number; readonly maxAttempts: number }
  | { readonly kind: 'completeSession'; readonly tenantId: string; readonly sessionId: string; readonly now: number }
  | { readonly kind: 'saveVersion'; readonly tenantId: string; readonly now: number }
  /**
   * The control: a read-then-write "consume" (SELECT, then every racer waits for all the others to have read, then
   * an unconditional UPDATE). Written the way SECURITY rule 2 forbids, to show that these racers' connections do
   * interleave: each one reads the code unused.
   */
  | { readonly kind: 'naiveConsume'; readonly tenantId: string; readonly codeId: string; readonly now: number };

export interface RaceWorkerData {
  readonly path: string;
  readonly op: RaceOp;
  readonly calls: number;
  readonly racers: number;
  /** Int32 cells: [0] racers ready, [1] racers past the control's read, [2] next sequence number. */
  readonly shared: SharedArrayBuffer;
}

export interface RaceWorkerResult {
  readonly results: readonly unknown[];
  /** Per call, the global order in which it returned. */
  readonly sequence: readonly number[];
}

/** Blocks this thread until `parties` threads have arrived at `cell`. */
function barrier(cells: Int32Array, cell: number, parties: number): void {
  Atomics.add(cells, cell, 1);
  Atomics.notify(cells, cell);
  for (;;) {
    const arrived = Atomics.load(cells, cell);
    if (arrived >= parties) return;
    if (Atomics.wait(cells, cell, arrived, 30_000) === 'timed-out') throw new Error(`barrier ${cell}: ${arrived} of ${parties} racers arrived`);
  }
}

async function callOnce(store: Store, op: RaceOp, cells: Int32Array, racers: number): Promise<unknown> {
  const t = store.forTenant(op.tenantId);
  switch (op.kind) {
    case 'advanceTotpStep':
      return t.factors.advanceTotpStep(op.factorId, op.step);
    case 'consumeRecoveryCode':
      return t.recoveryCodes.consume(op.userId, op.codeId, op.now);
    case 'recordFailure':
      return t.factors.recordFailure(op.factorId, op.now, { limit: op.limit, coolDownMs: op.coolDownMs });
    case 'recordSigninFailure':
      return t.users.recordSigninFailure(op.userId, op.now);
    case 'activate':
      return t.factors.activate(op.factorId, op.now);
    case 'recordAttempt':
      return t.mfaSessions.recordAttempt(op.sessionId, op.now, op.maxAttempts);
    case 'completeSession':
      return t.mfaSessions.complete(op.sessionId, op.now);
    case 'saveVersion':
      return t.policies.saveVersion({ level: 'tenant' }, { layer: { gracePeriodDays: 1 }, effectiveAt: op.now, createdBy: 'race', now: op.now });
    case 'naiveConsume': {
      const { db } = database;
      const row = await db.selectFrom('recovery_codes').select('used_at').where('id', '=', op.codeId).executeTakeFirstOrThrow();
      barrier(cells, 1, racers);
      await db.updateTable('recovery_codes').set({ used_at: op.now }).where('id', '=', op.codeId).execute();
      return row.used_at === null;
    }
  }
}

const data = workerData as RaceWorkerData;
const cells = new Int32Array(data.shared);
const database = await openDatabase({ sqlitePath: data.path, busyTimeoutMs: 30_000 });
try {
  const store = createStore(database);
  barrier(cells, 0, data.racers);
  const sequence: number[] = new Array<number>(data.calls);
  const results = await Promise.all(
    Array.from({ length: data.calls }, async (_, i) => {
      const result = await callOnce(store, data.op, cells, data.racers);
      sequence[i] = Atomics.add(cells, 2, 1);
      return result;
    }),
  );
  parentPort?.postMessage({ results, sequence } satisfies RaceWorkerResult);
} finally {
  await database.close();
}
