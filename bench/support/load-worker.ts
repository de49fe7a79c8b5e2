/**
 * The worker side of `runLoad` (bench/support/load.ts): runs autocannon with the spec from `workerData` and posts
 * a `LoadResult` back. Not a module to import.
 */
import { parentPort, workerData } from 'node:worker_threads';
import autocannon, { type AutocannonRequest } from 'autocannon';
import { totpCode, totpStep } from '../../src/factors/totp.ts';
import { SoftCredential } from '../../test/support/soft-authenticator.ts';
import type { FlowCounts, LoadResult, LoadSpec } from './load.ts';

const spec = workerData as LoadSpec;
let exhausted = 0;
let flowCounts: { authenticated: number; failed: number; lastSteps: number[] } | undefined;

/** `{status, mfaSessionId}` of a JSON answer, or nulls when it is not one. */
function flowAnswer(body: string): { status: unknown; mfaSessionId: unknown } {
  try {
    const parsed = JSON.parse(body) as { status?: unknown; mfaSessionId?: unknown } | null;
    return { status: parsed?.status ?? null, mfaSessionId: parsed?.mfaSessionId ?? null };
  } catch {
    return { status: null, mfaSessionId: null };
  }
}

/** Sign-in then MFA verification per connection, a user whose code of this step is unused each time. */
function flowRequests(s: LoadSpec, flow: NonNullable<LoadSpec['flow']>): AutocannonRequest[] {
  const users = flow.users;
  const secrets = users.map((u) => Buffer.from(u.secretHex, 'hex'));
  const counts = { authenticated: 0, failed: 0, lastSteps: [...flow.lastSteps] };
  flowCounts = counts;
  const busy = new Uint8Array(users.length);
  let cursor = 0;
  const pick = (step: number): number => {
    for (let k = 0; k < users.length; k++) {
      const i = (cursor + k) % users.length;
      if (busy[i] === 0 && (counts.lastSteps[i] ?? -1) < step) {
        cursor = i + 1;
        return i;
      }
    }
    // None left in this step: take the next one anyway (its verification will be refused as a replay) and say so.
    exhausted++;
    return cursor++ % users.length;
  };
  return [
    {
      method: 'POST',
      path: s.path,
      setupRequest: (request, context) => {
        const i = pick(totpStep(Date.now()));
        busy[i] = 1;
        context['user'] = i;
        return { ...request, body: users[i]?.body ?? '' };
      },
      onResponse: (status, body, context) => {
        const answer = flowAnswer(body);
        if (status === 200 && answer.status === 'mfa_required' && typeof answer.mfaSessionId === 'string') {
          context['mfaSessionId'] = answer.mfaSessionId;
        } else {
          counts.failed++;
          busy[context['user'] as number] = 0;
        }
      },
    },
    {
      method: 'POST',
      path: flow.verifyPath,
      setupRequest: (request, context) => {
        const token = context['mfaSessionId'];
        // No session (the sign-in failed, counted): a falsy request restarts the sequence with another sign-in.
        if (typeof token !== 'string') return null;
        const i = context['user'] as number;
        const secret = secrets[i];
        if (secret === undefined) throw new Error('no such flow user');
        // The code of the current step, computed when the request is built (the server accepts ±1 step); once
        // sent, this step is spent for the user whatever the answer.
        const step = totpStep(Date.now());
        counts.lastSteps[i] = Math.max(counts.lastSteps[i] ?? -1, step);
        return { ...request, body: JSON.stringify({ mfaSessionId: token, method: 'totp', code: totpCode(secret, step) }) };
      },
      onResponse: (status, body, context) => {
        busy[context['user'] as number] = 0;
        if (status === 200 && flowAnswer(body).status === 'authenticated') counts.authenticated++;
        else counts.failed++;
      },
    },
  ];
}

/** Passkey verification per connection: the options (a fresh challenge), then the assertion over it. */
function passkeyRequests(s: LoadSpec, passkey: NonNullable<LoadSpec['passkey']>): AutocannonRequest[] {
  const counts = { authenticated: 0, failed: 0, lastSteps: [] as number[] };
  flowCounts = counts;
  let next = 0;
  return [
    {
      method: 'POST',
      path: passkey.challengePath,
      setupRequest: (request, context) => {
        const i = next++;
        if (i >= passkey.sessions.length) exhausted++;
        const session = passkey.sessions[Math.min(i, passkey.sessions.length - 1)];
        if (session === undefined) throw new Error('no MFA sessions to verify');
        context['session'] = session;
        return { ...request, body: JSON.stringify({ mfaSessionId: session.token, method: 'webauthn' }) };
      },
      onResponse: (status, body, context) => {
        try {
          context['challenge'] = status === 200 ? (JSON.parse(body) as { options: { challenge: string } }).options.challenge : null;
        } catch {
          context['challenge'] = null;
        }
        if (context['challenge'] === null) counts.failed++;
      },
    },
    {
      method: 'POST',
      path: s.path,
      setupRequest: (request, context) => {
        const challenge = context['challenge'];
        if (typeof challenge !== 'string') return null;
        const session = context['session'] as { token: string; seed: string; userId: string };
        // The credential rebuilt from its seed: its counter starts at 0 here and the stored one is 0, so the first
        // assertion (counter 1) is accepted; each session belongs to a different user.
        const credential = new SoftCredential({ seed: session.seed, rpId: passkey.rpId, origin: passkey.origin, userHandle: session.userId });
        return { ...request, body: JSON.stringify({ mfaSessionId: session.token, method: 'webauthn', code: credential.assert(challenge) }) };
      },
      onResponse: (status, body) => {
        if (status === 200 && flowAnswer(body).status === 'authenticated') counts.authenticated++;
        else counts.failed++;
      },
    },
  ];
}

function requestsOf(s: LoadSpec): AutocannonRequest[] | undefined {
  if (s.flow !== undefined) return flowRequests(s, s.flow);
  if (s.passkey !== undefined) return passkeyRequests(s, s.passkey);
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
  ...(flowCounts === undefined ? {} : { flow: flowCounts satisfies FlowCounts }),
};
parentPort?.postMessage(out);
