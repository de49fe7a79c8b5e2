/**
 * Flow benchmark of issue 13: the full password + TOTP flow and the password sign-in alone, each against the
 * argon2id-alone bound on the same core, in one run, on SQLite and on PostgreSQL.
 *
 *   bound    argon2id `verifyPassword` calls per second (src/factors/password.ts, the users' hash and parameters)
 *            with `--concurrency` in flight, inside the server process (asked over IPC: bench code, no route);
 *   flow     `POST /api/v1/auth/signin` (tenant `enrollment: required, challenge: always`, users with a password
 *            and their own TOTP factor: answers `mfa_required` with an `mfaSessionId`), then on the same
 *            connection `POST /api/v1/auth/mfa/verify` `{mfaSessionId, method: 'totp', code}` → `authenticated`.
 *            Counted as flows that end `authenticated` per second, `--concurrency` flows in flight. The codes are
 *            computed by the load generator when the verification is sent; a code is accepted once per user and
 *            30-s step (replay refusal), so a flow takes a user with no flow in flight whose code of the current
 *            step is unused (`--users`, 3,000 by default, is more than the flows of one step; running out is
 *            reported as EXHAUSTED and marks the run not clean);
 *   signin   `POST /api/v1/auth/signin` on a tenant `enrollment: optional, challenge: never` whose 200 users have no
 *            factor: every sign-in is allowed after the password (what bench/signin.ts measures in-process).
 *
 * Ratios: flow ÷ bound (goal ≥ 0.9) and signin ÷ bound (goal ≥ 0.95). The server's CPU time (user + system, all its
 * threads) per argon2id verification, per flow and per sign-in is printed too, with the same ratios taken from it:
 * on a machine others share, the rates also measure their load; CPU time per unit much less so (on PostgreSQL the
 * database's own CPU is not in it). The server's resident set size is read
 * (over IPC, `process.memoryUsage().rss`) idle — after start and seeding, before any load, after one full garbage
 * collection so that the seeding's garbage (bench work) is not counted; the figure before it is printed too — and
 * right after the load (no collection), against the goals ≤ 150 MiB / ≤ 300 MiB; the peak (maxRSS, seeding
 * included) and the RSS just after start (before the seeding) are printed too.
 *
 * Placement: the server is a child process (bench/support/flow-server.ts, the real composition root as
 * bench/support/bench-server.ts builds it) started with `taskset -c 0` and `UV_THREADPOOL_SIZE=1`, so the bound
 * and the flows share one core and one libuv thread; this process (the load generator, autocannon in a worker
 * thread) pins itself and its threads to core 1 (`taskset -a -p -c 1`) when the machine has two cores or more.
 * What was done is printed. The three are measured in interleaved rounds (bound, flow, signin, bound, …) after a
 * warm-up of each; each rate is the total of its rounds. Any 5xx, socket error, timeout, or flow that does not end
 * `authenticated` marks the run as not clean (exit code 1).
 *
 *   npm run bench:flow
 *   npx node bench/flow.ts --dialect sqlite|postgres|both --duration 10 --rounds 5 --concurrency 8 --warmup 3
 *                          --users 3000
 *
 * `--duration` is the total measured time of each of the three per dialect. PostgreSQL: as bench/http.ts
 * (PORTCULLIS_TEST_DATABASE_URL, else DATABASE_URL, else postgres://postgres@127.0.0.1:5432/test; fresh schema).
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { cpus, loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { fmt, type BenchDialect } from './support/bench-server.ts';
import type { FlowServerReply, FlowServerRequest } from './support/flow-server.ts';
import { formatStatuses, runLoad, serverErrors, sumLoads, type LoadResult, type LoadSpec } from './support/load.ts';

const { values: args } = parseArgs({
  options: {
    dialect: { type: 'string', default: 'both' },
    duration: { type: 'string', default: '10' },
    rounds: { type: 'string', default: '5' },
    concurrency: { type: 'string', default: '8' },
    warmup: { type: 'string', default: '3' },
    users: { type: 'string', default: '3000' },
  },
});

const DURATION = Number(args.duration);
const ROUNDS = Math.max(1, Math.trunc(Number(args.rounds)));
const CONCURRENCY = Number(args.concurrency);
const WARMUP = Number(args.warmup);
const SLICE = DURATION / ROUNDS;
const FLOW_GOAL = 0.9;
const SIGNIN_GOAL = 0.95;
const MIB = 1024 * 1024;
const RSS_IDLE_GOAL = 150 * MIB;
const RSS_LOAD_GOAL = 300 * MIB;
const dialects: BenchDialect[] = args.dialect === 'both' ? ['sqlite', 'postgres'] : [args.dialect as BenchDialect];
for (const d of dialects) if (d !== 'sqlite' && d !== 'postgres') throw new Error(`--dialect: ${d} is not sqlite, postgres or both`);

/** Whether `taskset` can be run here. */
function hasTaskset(): boolean {
  try {
    execFileSync('taskset', ['-V'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

const TASKSET = hasTaskset();
const mib = (bytes: number): string => `${(bytes / MIB).toFixed(0)} MiB`;
const CORES = cpus().length;

/** Pins this process (all its threads; worker threads started later inherit it) to core 1; says what was done. */
function pinLoadGenerator(): string {
  if (!TASKSET) return 'load generator not pinned (no taskset)';
  if (CORES < 2) return `load generator not pinned (${CORES} core)`;
  execFileSync('taskset', ['-a', '-p', '-c', '1', String(process.pid)], { stdio: 'ignore' });
  return `load generator pinned to core 1 (taskset -a -p -c 1 ${process.pid})`;
}

/** The server child and a one-question-at-a-time IPC exchange with it. */
interface FlowServer {
  readonly child: ChildProcess;
  readonly ready: Extract<FlowServerReply, { type: 'ready' }>;
  ask<T extends FlowServerReply['type']>(request: FlowServerRequest, answer: T): Promise<Extract<FlowServerReply, { type: T }>>;
}

function nextMessage<T extends FlowServerReply['type']>(child: ChildProcess, type: T): Promise<Extract<FlowServerReply, { type: T }>> {
  return new Promise((resolve, reject) => {
    const onMessage = (message: FlowServerReply): void => {
      if (message.type !== type) return;
      child.off('message', onMessage);
      child.off('exit', onExit);
      resolve(message as Extract<FlowServerReply, { type: T }>);
    };
    const onExit = (code: number | null): void => {
      child.off('message', onMessage);
      reject(new Error(`the server child exited (code ${code}) before answering ${type}`));
    };
    child.on('message', onMessage);
    child.once('exit', onExit);
  });
}

async function startFlowServer(dialect: BenchDialect): Promise<FlowServer> {
  const script = fileURLToPath(new URL('./support/flow-server.ts', import.meta.url));
  const argv = ['--expose-gc', script, '--dialect', dialect, '--users', String(args.users)];
  const env = { ...process.env, UV_THREADPOOL_SIZE: '1' };
  const stdio = ['ignore', 'inherit', 'inherit', 'ipc'] as const;
  // taskset execs node in place: the child's pid is the server's.
  const child = TASKSET ? spawn('taskset', ['-c', '0', process.execPath, ...argv], { env, stdio: [...stdio] }) : spawn(process.execPath, argv, { env, stdio: [...stdio] });
  const ready = await nextMessage(child, 'ready');
  return {
    child,
    ready,
    ask: (request, answer) => {
      const reply = nextMessage(child, answer);
      child.send(request);
      return reply;
    },
  };
}

interface DialectResult {
  readonly dialect: BenchDialect;
  readonly bound: number;
  readonly flow: LoadResult;
  readonly flowsPerSecond: number;
  readonly flowsFailed: number;
  readonly signin: LoadResult;
  readonly rssIdle: number;
  readonly rssAfter: number;
  readonly maxRss: number;
  readonly roundRatios: readonly { flow: number; signin: number }[];
}

function line(label: string, rate: number, unit: string, seconds: number, r?: LoadResult): void {
  const tail = r === undefined ? '' : `  p50 ${r.latencyP50Ms} ms  p99 ${r.latencyP99Ms} ms  [${formatStatuses(r)}]`;
  console.log(`  ${label.padEnd(30)} ${fmt(rate, 1).padStart(8)} ${unit}  over ${seconds.toFixed(1)} s${tail}`);
}

async function runDialect(dialect: BenchDialect): Promise<DialectResult> {
  const t0 = performance.now();
  const server = await startFlowServer(dialect);
  try {
    const { ready } = server;
    console.log(`\n${dialect}: ${ready.where}; server ${ready.url}, pid ${server.child.pid ?? '?'}; seeded ${fmt(ready.flow.users.length)} TOTP users in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    const idleRaw = await server.ask({ type: 'rss', gc: false }, 'rss');
    const idle = await server.ask({ type: 'rss', gc: true }, 'rss');
    console.log(`  RSS ${mib(ready.rssStarted)} just started; idle ${mib(idle.rss)} after seeding and a full GC (${mib(idleRaw.rss)} before it)`);

    const context = (i: number): { ip: string; userAgent: string; deviceId: string } => ({ ip: '203.0.113.9', userAgent: 'portcullis-bench', deviceId: `bench-device-${i}` });
    const flowUsers = ready.flow.users.map((u, i) => ({ body: JSON.stringify({ tenant: ready.flow.slug, identifier: u.email, password: ready.password, context: context(i) }), secretHex: u.secretHex }));
    let lastSteps: readonly number[] = flowUsers.map(() => -1);
    const flowRun = async (seconds: number): Promise<LoadResult> => {
      const spec: LoadSpec = {
        url: ready.url,
        connections: CONCURRENCY,
        method: 'POST',
        path: '/api/v1/auth/signin',
        headers: { authorization: ready.flow.authorization },
        duration: seconds,
        flow: { verifyPath: '/api/v1/auth/mfa/verify', users: flowUsers, lastSteps },
      };
      const result = await runLoad(spec);
      if (result.flow === undefined) throw new Error('a flow run reported no flow counts');
      lastSteps = result.flow.lastSteps;
      return result;
    };
    const signinSpec: LoadSpec = {
      url: ready.url,
      connections: CONCURRENCY,
      method: 'POST',
      path: '/api/v1/auth/signin',
      headers: { authorization: ready.signin.authorization },
      bodies: ready.signin.emails.map((identifier, i) => JSON.stringify({ tenant: ready.signin.slug, identifier, password: ready.password, context: context(i) })),
    };
    const bound = (seconds: number): Promise<{ count: number; seconds: number }> => server.ask({ type: 'bound', seconds, concurrency: CONCURRENCY }, 'bound');

    // Warm-up of each (JIT, statement caches, pools); its flows spend user steps too, which the rounds respect.
    await bound(WARMUP);
    const warmFlow = await flowRun(WARMUP);
    await runLoad({ ...signinSpec, duration: WARMUP });

    let boundCount = 0;
    let boundSeconds = 0;
    const flows: LoadResult[] = [];
    const signins: LoadResult[] = [];
    const roundRatios: { flow: number; signin: number }[] = [];
    const cpu = async (): Promise<number> => (await server.ask({ type: 'cpu' }, 'cpu')).micros;
    const cpuUsed = { bound: 0, flow: 0, signin: 0 };
    for (let round = 0; round < ROUNDS; round++) {
      const c0 = await cpu();
      const b = await bound(SLICE);
      const c1 = await cpu();
      const f = await flowRun(SLICE);
      const c2 = await cpu();
      const s = await runLoad({ ...signinSpec, duration: SLICE });
      const c3 = await cpu();
      cpuUsed.bound += c1 - c0;
      cpuUsed.flow += c2 - c1;
      cpuUsed.signin += c3 - c2;
      boundCount += b.count;
      boundSeconds += b.seconds;
      flows.push(f);
      signins.push(s);
      const boundRate = b.count / b.seconds;
      roundRatios.push({ flow: (f.flow?.authenticated ?? 0) / f.seconds / boundRate, signin: s.okPerSecond / boundRate });
    }
    const after = await server.ask({ type: 'rss', gc: false }, 'rss');

    const flow = sumLoads(flows);
    const authenticated = flows.reduce((n, f) => n + (f.flow?.authenticated ?? 0), 0);
    const flowsFailed = [warmFlow, ...flows].reduce((n, f) => n + (f.flow?.failed ?? 0), 0);
    const flowsPerSecond = flow.seconds > 0 ? authenticated / flow.seconds : 0;
    const signin = sumLoads(signins);
    const boundRate = boundCount / boundSeconds;
    line('argon2id verifyPassword alone', boundRate, '/s', boundSeconds);
    line('password + TOTP flow', flowsPerSecond, 'flows/s', flow.seconds, flow);
    line('POST /auth/signin alone', signin.okPerSecond, '/s', signin.seconds, signin);
    if (flowsFailed > 0) console.log(`  flows not ending authenticated: ${flowsFailed}`);
    // The server's CPU time per unit of work: steadier than rates when other processes share the machine (the rates
    // then measure the machine's load as much as the server). Ratios as the rates' would be on an idle core; on
    // PostgreSQL the database's own CPU is not in them.
    const perBound = cpuUsed.bound / 1000 / Math.max(1, boundCount);
    const perFlow = cpuUsed.flow / 1000 / Math.max(1, authenticated);
    const perSignin = cpuUsed.signin / 1000 / Math.max(1, signins.reduce((n, l) => n + l.ok, 0));
    console.log(`  server CPU: ${perBound.toFixed(2)} ms per argon2id verification, ${perFlow.toFixed(2)} ms per flow (÷ ${(perBound / perFlow).toFixed(3)}), ${perSignin.toFixed(2)} ms per sign-in (÷ ${(perBound / perSignin).toFixed(3)})`);
    return { dialect, bound: boundRate, flow, flowsPerSecond, flowsFailed, signin, rssIdle: idle.rss, rssAfter: after.rss, maxRss: after.maxRss, roundRatios };
  } finally {
    await server.ask({ type: 'close' }, 'closed').catch(() => undefined);
  }
}

console.log(
  `Portcullis flow benchmark — node ${process.version}, ${CORES} CPUs (${cpus()[0]?.model ?? '?'}), load average ${loadavg()[0]?.toFixed(1)}, ` +
    `concurrency ${CONCURRENCY}, ${DURATION} s each in ${ROUNDS} interleaved rounds after ${WARMUP} s warm-up`,
);
console.log(`server: ${TASKSET ? 'taskset -c 0' : 'not pinned (no taskset)'}, UV_THREADPOOL_SIZE=1; ${pinLoadGenerator()}`);
const results: DialectResult[] = [];
for (const dialect of dialects) results.push(await runDialect(dialect));

const mark = (ok: boolean): string => (ok ? '✓' : '✗');
const range = (xs: readonly number[]): string => `${Math.min(...xs).toFixed(3)}–${Math.max(...xs).toFixed(3)}`;
console.log(`\nload average at the end: ${loadavg().map((x) => x.toFixed(1)).join(' ')}`);
console.log('\n| database | bound /s | flows/s | flow ÷ bound (≥ 0.9) | per round | sign-ins/s | signin ÷ bound (≥ 0.95) | per round | RSS idle (≤ 150 MiB) | RSS after load (≤ 300 MiB) | peak RSS |');
console.log('|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
let failures = 0;
for (const r of results) {
  const flowRatio = r.flowsPerSecond / r.bound;
  const signinRatio = r.signin.okPerSecond / r.bound;
  console.log(
    `| ${r.dialect} | ${fmt(r.bound, 1)} | ${fmt(r.flowsPerSecond, 1)} | ${flowRatio.toFixed(3)} ${mark(flowRatio >= FLOW_GOAL)} | ${range(r.roundRatios.map((x) => x.flow))} | ` +
      `${fmt(r.signin.okPerSecond, 1)} | ${signinRatio.toFixed(3)} ${mark(signinRatio >= SIGNIN_GOAL)} | ${range(r.roundRatios.map((x) => x.signin))} | ` +
      `${mib(r.rssIdle)} ${mark(r.rssIdle <= RSS_IDLE_GOAL)} | ${mib(r.rssAfter)} ${mark(r.rssAfter <= RSS_LOAD_GOAL)} | ${mib(r.maxRss)} |`,
  );
  for (const [label, load] of [
    ['flow', r.flow],
    ['sign-in', r.signin],
  ] as const) {
    if (serverErrors(load) > 0 || load.errors > 0 || load.timeouts > 0 || load.notOk > 0 || load.exhausted > 0) {
      failures++;
      console.log(`${r.dialect} ${label}: ${formatStatuses(load)} — not a clean run`);
    }
  }
  if (r.flowsFailed > 0) {
    failures++;
    console.log(`${r.dialect} flow: ${r.flowsFailed} flows did not end authenticated — not a clean run`);
  }
}
if (failures > 0) process.exitCode = 1;
