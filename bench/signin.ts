/**
 * Sign-in benchmark of issue 3: password sign-ins per second through `POST /api/v1/auth/signin` (one in-process
 * server on loopback, autocannon in a worker thread) against argon2id `verifyPassword` calls per second alone
 * (same process, same hash parameters, same concurrency), on the same machine in the same run. Goal: ≥ 0.95.
 *
 * The tenant policy is `enrollment: optional, challenge: never` and the users have no factor, so every sign-in is
 * allowed after the password: the cost measured is the sign-in path itself (client authentication, user lookup,
 * argon2id, the decision with its audit, the sign-in's history and counters). 200 users are signed in in turn.
 * Both are measured in interleaved rounds (argon2, sign-in, argon2, sign-in, …) after a warm-up; each rate is the
 * total of its rounds. Any 5xx, socket error or timeout marks the run as not clean (exit code 1).
 *
 *   npm run bench:signin
 *   npx node bench/signin.ts --dialect sqlite|postgres|both --duration 10 --rounds 5 --concurrency 8 --warmup 3
 *
 * argon2id runs on the libuv thread pool (UV_THREADPOOL_SIZE, default 4); `--concurrency` is the number of
 * sign-ins (HTTP connections) or verifications in flight at once.
 */
import { availableParallelism, cpus, loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { hashPassword, verifyPassword } from '../src/factors/password.ts';
import { fmt, seedTenant, startBenchServer, type BenchDialect } from './support/bench-server.ts';
import { formatStatuses, runLoad, serverErrors, sumLoads, type LoadResult } from './support/load.ts';

const { values: args } = parseArgs({
  options: {
    dialect: { type: 'string', default: 'both' },
    duration: { type: 'string', default: '10' },
    rounds: { type: 'string', default: '5' },
    concurrency: { type: 'string', default: '8' },
    warmup: { type: 'string', default: '3' },
    users: { type: 'string', default: '200' },
  },
});

const DURATION = Number(args.duration);
const ROUNDS = Math.max(1, Math.trunc(Number(args.rounds)));
const CONCURRENCY = Number(args.concurrency);
const WARMUP = Number(args.warmup);
const USERS = Number(args.users);
const SLICE = DURATION / ROUNDS;
const GOAL = 0.95;
const PASSWORD = 'correct horse battery staple';
const dialects: BenchDialect[] = args.dialect === 'both' ? ['sqlite', 'postgres'] : [args.dialect as BenchDialect];
for (const d of dialects) if (d !== 'sqlite' && d !== 'postgres') throw new Error(`--dialect: ${d} is not sqlite, postgres or both`);

/** argon2id verifications per second with `concurrency` in flight, for `seconds`. */
async function argon2Rate(passwordHash: string, seconds: number): Promise<{ count: number; seconds: number }> {
  const start = performance.now();
  const end = start + seconds * 1000;
  let count = 0;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (performance.now() < end) {
        if (!(await verifyPassword(passwordHash, PASSWORD))) throw new Error('verifyPassword refused the right password');
        count++;
      }
    }),
  );
  return { count, seconds: (performance.now() - start) / 1000 };
}

interface DialectResult {
  readonly dialect: BenchDialect;
  readonly signin: LoadResult;
  readonly argon2: number;
  readonly roundRatios: readonly number[];
}

async function runDialect(dialect: BenchDialect, passwordHash: string): Promise<DialectResult> {
  const server = await startBenchServer(dialect);
  try {
    console.log(`\n${dialect}: ${server.where}; server ${server.url}`);
    const seeded = await seedTenant(server.runtime, 'bench', { enrollment: 'optional', challenge: 'never' });
    const tenant = server.runtime.store.forTenant(seeded.tenantId);
    const now = Date.now();
    const emails: string[] = [];
    for (let i = 0; i < USERS; i++) {
      const email = `signin-${i}@bench.example`;
      await tenant.users.create({ email, passwordHash, now });
      emails.push(email);
    }
    const spec = {
      url: server.url,
      connections: CONCURRENCY,
      method: 'POST',
      path: '/api/v1/auth/signin',
      headers: { authorization: seeded.authorization },
      bodies: emails.map((identifier, i) => JSON.stringify({ tenant: seeded.slug, identifier, password: PASSWORD, context: { ip: '203.0.113.9', userAgent: 'portcullis-bench', deviceId: `bench-device-${i}` } })),
    } as const;

    await argon2Rate(passwordHash, WARMUP);
    await runLoad({ ...spec, duration: WARMUP });
    const signins: LoadResult[] = [];
    let argonCount = 0;
    let argonSeconds = 0;
    const roundRatios: number[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      const a = await argon2Rate(passwordHash, SLICE);
      const s = await runLoad({ ...spec, duration: SLICE });
      argonCount += a.count;
      argonSeconds += a.seconds;
      signins.push(s);
      roundRatios.push(s.okPerSecond / (a.count / a.seconds));
    }
    const signin = sumLoads(signins);
    const argon2 = argonCount / argonSeconds;
    console.log(`  argon2id verifyPassword alone ${fmt(argon2, 1).padStart(8)} /s  over ${argonSeconds.toFixed(1)} s`);
    console.log(`  POST /auth/signin             ${fmt(signin.okPerSecond, 1).padStart(8)} /s  over ${signin.seconds.toFixed(1)} s  p50 ${signin.latencyP50Ms} ms  p99 ${signin.latencyP99Ms} ms  [${formatStatuses(signin)}]`);
    return { dialect, signin, argon2, roundRatios };
  } finally {
    await server.close();
  }
}

console.log(
  `Portcullis sign-in benchmark — node ${process.version}, ${availableParallelism()} CPUs (${cpus()[0]?.model ?? '?'}), load average ${loadavg()[0]?.toFixed(1)}, ` +
    `UV_THREADPOOL_SIZE ${process.env['UV_THREADPOOL_SIZE'] ?? '4 (default)'}, concurrency ${CONCURRENCY}, ${DURATION} s each in ${ROUNDS} interleaved rounds after ${WARMUP} s warm-up`,
);
const passwordHash = await hashPassword(PASSWORD);
const results: DialectResult[] = [];
for (const dialect of dialects) results.push(await runDialect(dialect, passwordHash));

console.log(`\nload average at the end: ${loadavg().map((x) => x.toFixed(1)).join(' ')}`);
console.log('\n| database | sign-ins/s | argon2id verifications/s | ratio | goal | per-round ratio |');
console.log('|---|---:|---:|---:|---:|---:|');
let failures = 0;
for (const r of results) {
  const ratio = r.signin.okPerSecond / r.argon2;
  console.log(
    `| ${r.dialect} | ${fmt(r.signin.okPerSecond, 1)} | ${fmt(r.argon2, 1)} | ${ratio.toFixed(3)} ${ratio >= GOAL ? '✓' : '✗'} | ≥ ${GOAL} | ${Math.min(...r.roundRatios).toFixed(3)}–${Math.max(...r.roundRatios).toFixed(3)} |`,
  );
  if (serverErrors(r.signin) > 0 || r.signin.errors > 0 || r.signin.timeouts > 0 || r.signin.notOk > 0) {
    failures++;
    console.log(`${r.dialect} sign-in: ${formatStatuses(r.signin)} — not a clean run`);
  }
}
if (failures > 0) process.exitCode = 1;
