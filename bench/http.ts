/**
 * HTTP benchmark of issue 3: one in-process server on loopback, load from autocannon in a worker thread (so the
 * load generator does not share the server's event loop), on SQLite and on PostgreSQL:
 *
 *   bare     `GET /healthz` (no I/O): what the HTTP stack alone costs;
 *   status   `POST /api/v1/auth/mfa/status/check` with tenant policy `challenge: always`, one user after another
 *            (1,000 users with TOTP), so every request runs the whole decision (policy, factors, risk, audit) and
 *            opens an MFA session — the real cost;
 *   allow    `POST /api/v1/auth/mfa/status/check` under `challenge: never` for users who hold TOTP: every request
 *            ends authenticated, so it writes a login session and signs a result JWT (issue 12's signed result);
 *   verify   `POST /api/v1/auth/mfa/verify`: every request answers a different MFA session, opened beforehand
 *            through the service exactly as `status` opens one, for a different user, with that user's TOTP code
 *            of the current step computed when the request is sent (one code per user: no replay refusal). Counted
 *            as successful verifications (200) per second.
 *
 * The three are measured in interleaved rounds (bare, status, verify, bare, status, verify, …) after a warm-up,
 * so that a change in the machine's load during the run weighs on all three alike; each rate is the total of its
 * rounds (2xx answers ÷ seconds), and the ratios divide those totals. The verify sessions number the status rate
 * of the warm-up × the run length, split over the rounds (`amount` per round, not a duration: each session is
 * answered once). Any 5xx, socket error or timeout marks the run as not clean (exit code 1).
 *
 * Goals: status/check and verify each ≥ 0.5× bare on SQLite, ≥ 0.25× on PostgreSQL.
 *
 * Passkeys (issue 15): `passkey` is a verification by passkey — `POST /api/v1/auth/mfa/challenge` (the options,
 * with a fresh single-use challenge) then `POST /api/v1/auth/mfa/verify` with a P-256 assertion over it, from a
 * software authenticator in the load worker — for a different user and MFA session each time. Counted as
 * verifications (both requests) per second, and printed beside TOTP verify: goal ≥ 0.8× TOTP verify.
 *
 * The signed result's cost (issue 12: "status/check and verify must not lose more than 10 % to the signing"): each
 * round also runs `allow` and `verify` with the result signer unwired (the server's `deps.results` set aside for
 * that run, as unit tests without a signer run), and the table prints signed ÷ unsigned for both.
 *
 *   npm run bench:http
 *   npx node bench/http.ts --dialect sqlite|postgres|both --duration 10 --rounds 5 --connections 10 --warmup 3
 *                          --tenant-ref slug|id
 *
 * `--duration` is the total measured time per route and dialect. PostgreSQL: PORTCULLIS_TEST_DATABASE_URL, else
 * DATABASE_URL, else postgres://postgres@127.0.0.1:5432/test, in a fresh schema dropped afterwards. The numbers
 * are one run on this machine; compare the ratios. Where a request's time goes: bench/request-profile.ts.
 */
import { availableParallelism, cpus, loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { checkStatus } from '../src/services/flow-service.ts';
import { fmt, mapConcurrent, seedPasskeyUsers, seedTenant, seedTotpUsers, startBenchServer, type BenchDialect, type BenchServer, type PasskeyUser, type SeededTenant, type TotpUser } from './support/bench-server.ts';
import { formatStatuses, runLoad, serverErrors, sumLoads, type LoadResult, type LoadSpec } from './support/load.ts';

const { values: args } = parseArgs({
  options: {
    dialect: { type: 'string', default: 'both' },
    duration: { type: 'string', default: '10' },
    rounds: { type: 'string', default: '5' },
    connections: { type: 'string', default: '10' },
    warmup: { type: 'string', default: '3' },
    'tenant-ref': { type: 'string', default: 'slug' },
    'status-users': { type: 'string', default: '1000' },
  },
});

const DURATION = Number(args.duration);
const ROUNDS = Math.max(1, Math.trunc(Number(args.rounds)));
const CONNECTIONS = Number(args.connections);
const WARMUP = Number(args.warmup);
const STATUS_USERS = Number(args['status-users']);
const SLICE = DURATION / ROUNDS;
const GOALS: Record<BenchDialect, number> = { sqlite: 0.5, postgres: 0.25 };
const dialects: BenchDialect[] = args.dialect === 'both' ? ['sqlite', 'postgres'] : [args.dialect as BenchDialect];
for (const d of dialects) if (d !== 'sqlite' && d !== 'postgres') throw new Error(`--dialect: ${d} is not sqlite, postgres or both`);
if (args['tenant-ref'] !== 'slug' && args['tenant-ref'] !== 'id') throw new Error('--tenant-ref: slug or id');

interface DialectResult {
  readonly dialect: BenchDialect;
  readonly bare: LoadResult;
  readonly status: LoadResult;
  readonly verify: LoadResult;
  readonly verifySessions: number;
  readonly allow: LoadResult;
  readonly allowUnsigned: LoadResult;
  readonly verifyUnsigned: LoadResult;
  /** Passkey verifications (options + assertion); `flow.authenticated` of each run summed. */
  readonly passkey: LoadResult;
  readonly passkeyVerified: number;
  readonly passkeySeconds: number;
  /** status ÷ bare and verify ÷ bare of each round (their spread shows how steady the machine was). */
  readonly roundRatios: readonly { status: number; verify: number }[];
}

function line(label: string, r: LoadResult): void {
  console.log(
    `  ${label.padEnd(14)} ${fmt(r.okPerSecond).padStart(8)} ok/s  over ${r.seconds.toFixed(1)} s  p50 ${r.latencyP50Ms} ms  p99 ${r.latencyP99Ms} ms  [${formatStatuses(r)}]`,
  );
}

function context(i: number): { ip: string; userAgent: string; deviceId: string } {
  return { ip: `198.51.${(i >> 8) & 255}.${i & 255}`, userAgent: 'portcullis-bench', deviceId: `bench-device-${i}` };
}

/** One open sign-in MFA session per user, through the service (what `status/check` does). */
async function openSessions(server: BenchServer, seeded: SeededTenant, tenantRef: string, users: readonly TotpUser[]): Promise<{ token: string; secretHex: string }[]> {
  const caller = { application: seeded.application };
  return mapConcurrent(users, CONNECTIONS, async (user) => {
    const flow = await checkStatus(server.runtime.deps, caller, { tenant: tenantRef, user: { userId: user.userId }, context: context(0) });
    if (flow.status !== 'mfa_required') throw new Error(`expected mfa_required when opening a session, got ${flow.status}`);
    return { token: flow.mfaSessionId, secretHex: user.secret.toString('hex') };
  });
}

/** The same for passkey users: a session offering `webauthn`. */
async function openPasskeySessions(server: BenchServer, seeded: SeededTenant, tenantRef: string, users: readonly PasskeyUser[]): Promise<{ token: string; seed: string; userId: string }[]> {
  const caller = { application: seeded.application };
  return mapConcurrent(users, CONNECTIONS, async (user) => {
    const flow = await checkStatus(server.runtime.deps, caller, { tenant: tenantRef, user: { userId: user.userId }, context: context(0) });
    if (flow.status !== 'mfa_required' || !flow.methods.includes('webauthn')) throw new Error(`expected a passkey challenge when opening a session, got ${flow.status}`);
    return { token: flow.mfaSessionId, seed: user.seed, userId: user.userId };
  });
}

async function runDialect(dialect: BenchDialect): Promise<DialectResult> {
  const server = await startBenchServer(dialect);
  try {
    console.log(`\n${dialect}: ${server.where}; server ${server.url}`);
    const seeded = await seedTenant(server.runtime, 'bench', { enrollment: 'required', gracePeriodDays: 0, challenge: 'always' });
    const tenantRef = args['tenant-ref'] === 'id' ? seeded.tenantId : seeded.slug;
    const headers = { authorization: seeded.authorization };
    const base = { url: server.url, connections: CONNECTIONS } as const;

    const t0 = performance.now();
    const statusUsers = await seedTotpUsers(server.runtime, seeded.tenantId, STATUS_USERS, 'status');
    console.log(`  seeded ${fmt(STATUS_USERS)} users with TOTP for status/check in ${((performance.now() - t0) / 1000).toFixed(1)} s`);

    const bareSpec: LoadSpec = { ...base, method: 'GET', path: '/healthz' };
    const statusSpec: LoadSpec = {
      ...base,
      method: 'POST',
      path: '/api/v1/auth/mfa/status/check',
      headers,
      bodies: statusUsers.map((u, i) => JSON.stringify({ tenant: tenantRef, userId: u.userId, context: context(i) })),
    };
    const verifySpec = { ...base, method: 'POST', path: '/api/v1/auth/mfa/verify', headers } as const;
    const allowSeeded = await seedTenant(server.runtime, 'bench-allow', { enrollment: 'required', gracePeriodDays: 0, challenge: 'never' });
    const allowUsers = await seedTotpUsers(server.runtime, allowSeeded.tenantId, STATUS_USERS, 'allow');
    const allowSpec: LoadSpec = {
      ...base,
      method: 'POST',
      path: '/api/v1/auth/mfa/status/check',
      headers: { authorization: allowSeeded.authorization },
      bodies: allowUsers.map((u, i) => JSON.stringify({ tenant: args['tenant-ref'] === 'id' ? allowSeeded.tenantId : allowSeeded.slug, userId: u.userId, context: context(i) })),
    };
    const deps = server.runtime.deps as { results?: unknown };
    const signer = deps.results;
    const unsigned = async <T>(run: () => Promise<T>): Promise<T> => {
      deps.results = undefined;
      try {
        return await run();
      } finally {
        deps.results = signer;
      }
    };

    // Warm-up (JIT, statement caches, pools); the status warm-up also sizes the verify runs.
    await runLoad({ ...bareSpec, duration: WARMUP });
    const statusWarm = await runLoad({ ...statusSpec, duration: WARMUP });
    const perRound = Math.max(CONNECTIONS * 10, Math.ceil((statusWarm.okPerSecond * DURATION) / ROUNDS));
    const warmN = Math.max(CONNECTIONS * 10, Math.ceil(statusWarm.okPerSecond * WARMUP));
    // autocannon builds one request per connection ahead: a little slack per run so no run can run out.
    const slack = CONNECTIONS * 2;
    const t1 = performance.now();
    const verifyUsers = await seedTotpUsers(server.runtime, seeded.tenantId, warmN + slack + 2 * ROUNDS * (perRound + slack), 'verify');
    const sessions = await openSessions(server, seeded, tenantRef, verifyUsers);
    console.log(`  seeded ${fmt(verifyUsers.length)} users with TOTP and opened one MFA session each in ${((performance.now() - t1) / 1000).toFixed(1)} s`);
    await runLoad({ ...verifySpec, amount: warmN, verify: sessions.slice(0, warmN + slack) });
    await runLoad({ ...allowSpec, duration: WARMUP });
    const t2 = performance.now();
    const passkeyUsers = await seedPasskeyUsers(server.runtime, seeded.tenantId, warmN + slack + ROUNDS * (perRound + slack), 'passkey');
    const passkeySessions = await openPasskeySessions(server, seeded, tenantRef, passkeyUsers);
    console.log(`  seeded ${fmt(passkeyUsers.length)} users with a passkey and opened one MFA session each in ${((performance.now() - t2) / 1000).toFixed(1)} s`);
    const webauthn = server.runtime.deps.webauthn;
    const passkeySpec = (list: typeof passkeySessions): LoadSpec => ({
      ...verifySpec,
      amount: 2 * (list.length - slack),
      passkey: { challengePath: '/api/v1/auth/mfa/challenge', rpId: webauthn?.rpId ?? 'localhost', origin: webauthn?.origins[0] ?? 'http://localhost', sessions: list },
    });
    await runLoad(passkeySpec(passkeySessions.slice(0, warmN + slack)));

    const bare: LoadResult[] = [];
    const status: LoadResult[] = [];
    const verify: LoadResult[] = [];
    const allow: LoadResult[] = [];
    const allowUnsigned: LoadResult[] = [];
    const verifyUnsigned: LoadResult[] = [];
    const passkey: LoadResult[] = [];
    const roundRatios: { status: number; verify: number }[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      const from = warmN + slack + 2 * round * (perRound + slack);
      const fromUnsigned = from + perRound + slack;
      const b = await runLoad({ ...bareSpec, duration: SLICE });
      const s = await runLoad({ ...statusSpec, duration: SLICE });
      const v = await runLoad({ ...verifySpec, amount: perRound, verify: sessions.slice(from, from + perRound + slack) });
      allow.push(await runLoad({ ...allowSpec, duration: SLICE }));
      allowUnsigned.push(await unsigned(() => runLoad({ ...allowSpec, duration: SLICE })));
      verifyUnsigned.push(await unsigned(() => runLoad({ ...verifySpec, amount: perRound, verify: sessions.slice(fromUnsigned, fromUnsigned + perRound + slack) })));
      const passkeyFrom = warmN + slack + round * (perRound + slack);
      passkey.push(await runLoad(passkeySpec(passkeySessions.slice(passkeyFrom, passkeyFrom + perRound + slack))));
      bare.push(b);
      status.push(s);
      verify.push(v);
      roundRatios.push({ status: s.okPerSecond / b.okPerSecond, verify: v.okPerSecond / b.okPerSecond });
    }
    const result = {
      dialect,
      bare: sumLoads(bare),
      status: sumLoads(status),
      verify: sumLoads(verify),
      verifySessions: ROUNDS * perRound,
      roundRatios,
      allow: sumLoads(allow),
      allowUnsigned: sumLoads(allowUnsigned),
      verifyUnsigned: sumLoads(verifyUnsigned),
      passkey: sumLoads(passkey),
      passkeyVerified: passkey.reduce((n, r) => n + (r.flow?.authenticated ?? 0), 0),
      passkeySeconds: passkey.reduce((n, r) => n + r.seconds, 0),
    };
    line('bare /healthz', result.bare);
    line('status/check', result.status);
    line('verify', result.verify);
    line('allow signed', result.allow);
    line('allow unsigned', result.allowUnsigned);
    line('verify unsigned', result.verifyUnsigned);
    line('passkey (2 req)', result.passkey);
    console.log(`  passkey verifications ${fmt(result.passkeyVerified / result.passkeySeconds)} /s (${fmt(result.passkeyVerified)} authenticated)`);
    return result;
  } finally {
    await server.close();
  }
}

const range = (xs: readonly number[]): string => `${Math.min(...xs).toFixed(3)}–${Math.max(...xs).toFixed(3)}`;

console.log(
  `Portcullis HTTP benchmark — node ${process.version}, ${availableParallelism()} CPUs (${cpus()[0]?.model ?? '?'}), load average ${loadavg()[0]?.toFixed(1)}, ` +
    `${CONNECTIONS} connections, ${DURATION} s per route in ${ROUNDS} interleaved rounds after ${WARMUP} s warm-up, tenant named by ${args['tenant-ref']}`,
);
const results: DialectResult[] = [];
for (const dialect of dialects) results.push(await runDialect(dialect));

console.log(`\nload average at the end: ${loadavg().map((x) => x.toFixed(1)).join(' ')}`);
console.log('\n| database | bare req/s | status/check req/s | status ÷ bare | verify/s | verify ÷ bare | goal | per-round status ÷ bare | per-round verify ÷ bare |');
console.log('|---|---:|---:|---:|---:|---:|---:|---:|---:|');
let failures = 0;
for (const r of results) {
  const goal = GOALS[r.dialect];
  const sRatio = r.status.okPerSecond / r.bare.okPerSecond;
  const vRatio = r.verify.okPerSecond / r.bare.okPerSecond;
  const mark = (x: number): string => `${x.toFixed(3)} ${x >= goal ? '✓' : '✗'}`;
  console.log(
    `| ${r.dialect} | ${fmt(r.bare.okPerSecond)} | ${fmt(r.status.okPerSecond)} | ${mark(sRatio)} | ${fmt(r.verify.okPerSecond)} | ${mark(vRatio)} | ≥ ${goal} | ` +
      `${range(r.roundRatios.map((x) => x.status))} | ${range(r.roundRatios.map((x) => x.verify))} |`,
  );
}
console.log('\nThe signed result (goal: signed ÷ unsigned ≥ 0.9 for both):\n');
console.log('| database | allow signed/s | allow unsigned/s | signed ÷ unsigned | verify signed/s | verify unsigned/s | signed ÷ unsigned |');
console.log('|---|---:|---:|---:|---:|---:|---:|');
for (const r of results) {
  const a = r.allow.okPerSecond / r.allowUnsigned.okPerSecond;
  const v = r.verify.okPerSecond / r.verifyUnsigned.okPerSecond;
  const mark = (x: number): string => `${x.toFixed(3)} ${x >= 0.9 ? '✓' : '✗'}`;
  console.log(`| ${r.dialect} | ${fmt(r.allow.okPerSecond)} | ${fmt(r.allowUnsigned.okPerSecond)} | ${mark(a)} | ${fmt(r.verify.okPerSecond)} | ${fmt(r.verifyUnsigned.okPerSecond)} | ${mark(v)} |`);
}
console.log('\nPasskey verify (options + assertion, two requests) beside TOTP verify (goal: ≥ 0.8):\n');
console.log('| database | TOTP verifications/s | passkey verifications/s | passkey ÷ TOTP |');
console.log('|---|---:|---:|---:|');
for (const r of results) {
  const perSecond = r.passkeyVerified / r.passkeySeconds;
  const x = perSecond / r.verify.okPerSecond;
  console.log(`| ${r.dialect} | ${fmt(r.verify.okPerSecond)} | ${fmt(perSecond)} | ${x.toFixed(3)} ${x >= 0.8 ? '✓' : '✗'} |`);
}
for (const r of results) {
  for (const [label, load] of [['bare', r.bare], ['status/check', r.status], ['verify', r.verify], ['allow signed', r.allow], ['allow unsigned', r.allowUnsigned], ['verify unsigned', r.verifyUnsigned], ['passkey', r.passkey]] as const) {
    if (serverErrors(load) > 0 || load.errors > 0 || load.timeouts > 0 || load.exhausted > 0) {
      failures++;
      console.log(`${r.dialect} ${label}: ${formatStatuses(load)} — not a clean run`);
    }
  }
  if (r.passkeyVerified * 2 !== r.passkey.ok) console.log(`${r.dialect} passkey: ${fmt(r.passkeyVerified)} verified of ${fmt(r.passkey.ok / 2)} answered`);
  if (r.verify.ok !== r.verifySessions) console.log(`${r.dialect} verify: ${fmt(r.verify.ok)} of ${fmt(r.verifySessions)} sessions verified [${formatStatuses(r.verify)}]`);
}
if (failures > 0) process.exitCode = 1;
