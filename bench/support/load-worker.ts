/**
 * The worker side of `runLoad` (bench/support/load.ts): runs autocannon with the spec from `workerData` and posts
 * a `LoadResult` back. Not a module to import.
 */
import { parentPort, workerData } from 'node:worker_threads';
import autocannon, { type AutocannonRequest } from 'autocannon';
import { totpCode, totpStep } from '../../src/factors/totp.ts';
import type { LoadResult, LoadSpec } from './load.ts';

const spec = workerData as LoadSpec;
let exhausted = 0;

function requestsOf(s: LoadSpec): AutocannonRequest[] | undefined {
  const bodies = s.bodies;
  if (bodies !== undefined && bodies.length > 0) {
    let next = 0;
    return [{ setupRequest: (request) => ({ ...request, body: bodies[next++ % bodies.length] ?? '' }) }];
  }
  const sessions = s.verify;
  if (sessions !== undefined) {
    const secrets = sessions.map((x) => Buffer.from(x.secretHex, 'hex'));
    let next = 0;
    return [
      {
        setupRequest: (request) => {
          const i = next++;
          if (i >= sessions.length) exhausted++;
          const index = Math.min(i, sessions.length - 1);
          const session = sessions[index];
          const secret = secrets[index];
          if (session === undefined || secret === undefined) throw new Error('no MFA sessions to verify');
          // The code of the current step, computed when the request is built (the server accepts ±1 step).
          const code = totpCode(secret, totpStep(Date.now()));
          return { ...request, body: JSON.stringify({ mfaSessionId: session.token, method: 'totp', code }) };
        },
      },
    ];
  }
  return undefined;
}

const requests = requestsOf(spec);
const options = {
  url: spec.url + spec.path,
  method: spec.method,
  connections: spec.connections,
  ...(spec.amount === undefined ? { duration: spec.duration ?? 10 } : { amount: spec.amount }),
  timeout: 30,
  headers: { ...(spec.body !== undefined || requests !== undefined ? { 'content-type': 'application/json' } : {}), ...spec.headers },
  ...(spec.body === undefined ? {} : { body: spec.body }),
  ...(requests === undefined ? {} : { requests }),
};
// In a worker thread autocannon returns the raw (histogram-encoded) result; aggregate it as the main thread would.
const result = autocannon.aggregateResult([await autocannon(options)], options);

const statuses: Record<string, number> = {};
for (const [status, { count }] of Object.entries(result.statusCodeStats)) statuses[status] = count;
const seconds = (result.finish.getTime() - result.start.getTime()) / 1000;
const out: LoadResult = {
  seconds,
  statuses,
  ok: result['2xx'],
  notOk: result.non2xx,
  errors: result.errors,
  timeouts: result.timeouts,
  latencyP50Ms: result.latency.p50,
  latencyP99Ms: result.latency.p99,
  exhausted,
  okPerSecond: seconds > 0 ? result['2xx'] / seconds : 0,
};
parentPort?.postMessage(out);
