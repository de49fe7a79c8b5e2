/**
 * Runs autocannon against a server of this process from a worker thread, so the load generator does not share
 * the server's event loop (on the same thread it would slow every route by the same client cost and flatter the
 * ratios between routes).
 */
import { Worker } from 'node:worker_threads';

/** What one load run sends. */
export interface LoadSpec {
  /** e.g. `http://127.0.0.1:41234` */
  readonly url: string;
  readonly method: 'GET' | 'POST';
  readonly path: string;
  readonly headers?: Readonly<Record<string, string>>;
  readonly connections: number;
  /** Seconds; ignored when `amount` is given. */
  readonly duration?: number;
  /** Exactly this many requests (spread over the connections). */
  readonly amount?: number;
  /** A fixed JSON body. */
  readonly body?: string;
  /** JSON bodies sent in turn, round robin (e.g. one user after another). */
  readonly bodies?: readonly string[];
  /**
   * MFA verifications: each session is sent once, with its user's TOTP code computed at send time
   * (`secretHex` is the raw TOTP secret). Running out is reported as `exhausted`.
   */
  readonly verify?: readonly { readonly token: string; readonly secretHex: string }[];
  /**
   * Passkey verifications: per session, `challengePath` (the options, with the session's challenge) then `path`
   * (verify) with the assertion of the user's software authenticator (rebuilt from its seed) over that challenge.
   * Each session is answered once; `flow.authenticated` counts the verifications that answered `authenticated`.
   */
  readonly passkey?: {
    readonly challengePath: string;
    readonly rpId: string;
    readonly origin: string;
    readonly sessions: readonly { readonly token: string; readonly seed: string; readonly userId: string }[];
  };
  /**
   * Whole password + TOTP flows: each connection sends `path` (the sign-in) with a user's body, then `verifyPath`
   * with the `mfaSessionId` of the answer and that user's TOTP code of the current step. A user is taken only
   * when no flow of theirs is in flight and their code of this step is unused (`lastSteps[i]`, the last step
   * used for user i, carried from run to run: the server refuses a step at or before the last one it accepted).
   * Running out of users is reported as `exhausted`.
   */
  readonly flow?: {
    readonly verifyPath: string;
    readonly users: readonly { readonly body: string; readonly secretHex: string }[];
    readonly lastSteps: readonly number[];
  };
}

/** What a flow run adds to its `LoadResult`. */
export interface FlowCounts {
  /** Verifications that answered 200 `authenticated`. */
  readonly authenticated: number;
  /** Sign-ins that did not answer 200 `mfa_required`, and verifications that did not answer 200 `authenticated`. */
  readonly failed: number;
  /** Each user's last used TOTP step after the run (pass on to the next run). */
  readonly lastSteps: readonly number[];
}

/** What one load run measured. */
export interface LoadResult {
  /** Wall time from the first request to the last answer. */
  readonly seconds: number;
  /** Answers by HTTP status. */
  readonly statuses: Readonly<Record<string, number>>;
  /** Answers with a 2xx status. */
  readonly ok: number;
  /** Answers with any other status. */
  readonly notOk: number;
  readonly errors: number;
  readonly timeouts: number;
  readonly latencyP50Ms: number;
  readonly latencyP99Ms: number;
  /** Verify runs: sessions asked for after the list ran out (should be 0). */
  readonly exhausted: number;
  /** 2xx answers per second. */
  readonly okPerSecond: number;
  /** Flow runs only. */
  readonly flow?: FlowCounts;
}

/** Runs one load and resolves with its result. */
export function runLoad(spec: LoadSpec): Promise<LoadResult> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(new URL('./load-worker.ts', import.meta.url), { workerData: spec });
    let settled = false;
    worker.once('message', (result: LoadResult) => {
      settled = true;
      resolve(result);
    });
    worker.once('error', (error) => {
      settled = true;
      reject(error);
    });
    worker.once('exit', (code) => {
      if (!settled) reject(new Error(`load worker exited with code ${code} before reporting`));
    });
  });
}

/** Total of a set of statuses ≥ 500 (server errors). */
export function serverErrors(result: LoadResult): number {
  let n = 0;
  for (const [status, count] of Object.entries(result.statuses)) if (Number(status) >= 500) n += count;
  return n;
}

/** `200×1234 401×2` */
export function formatStatuses(result: LoadResult): string {
  const parts = Object.entries(result.statuses).map(([status, count]) => `${status}×${count}`);
  if (result.errors > 0) parts.push(`socket errors×${result.errors}`);
  if (result.timeouts > 0) parts.push(`timeouts×${result.timeouts}`);
  if (result.exhausted > 0) parts.push(`EXHAUSTED×${result.exhausted}`);
  return parts.join(' ');
}

/**
 * Several runs of one route as one: counts and seconds added, the rate their quotient; latency percentiles are
 * the worst of the runs (an upper bound, not a merged histogram).
 */
export function sumLoads(results: readonly LoadResult[]): LoadResult {
  const statuses: Record<string, number> = {};
  let seconds = 0;
  let ok = 0;
  let notOk = 0;
  let errors = 0;
  let timeouts = 0;
  let exhausted = 0;
  let p50 = 0;
  let p99 = 0;
  for (const r of results) {
    for (const [status, count] of Object.entries(r.statuses)) statuses[status] = (statuses[status] ?? 0) + count;
    seconds += r.seconds;
    ok += r.ok;
    notOk += r.notOk;
    errors += r.errors;
    timeouts += r.timeouts;
    exhausted += r.exhausted;
    p50 = Math.max(p50, r.latencyP50Ms);
    p99 = Math.max(p99, r.latencyP99Ms);
  }
  return { seconds, statuses, ok, notOk, errors, timeouts, exhausted, latencyP50Ms: p50, latencyP99Ms: p99, okPerSecond: seconds > 0 ? ok / seconds : 0 };
}
