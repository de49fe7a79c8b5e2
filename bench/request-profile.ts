/**
 * Diagnostics for bench/http.ts and bench/flow.ts: what one password `signin` (answered `mfa_required`), one
 * `status/check` and one `verify` cost, request by request, without load
 * and without sockets (`app.inject`, one at a time): the wall and CPU time per request and every SQL statement each runs
 * with its count and time (SQLite: time inside SQLite; PostgreSQL: round trip).
 *
 *   npx node bench/request-profile.ts --dialect sqlite|postgres|both --requests 500 [--cpu-prof-dir DIR]
 *
 * `--no-sql-profile` leaves the statements unwrapped (no table; CPU profiles without the wrappers' cost).
 * With `--cpu-prof-dir`, a V8 CPU profile of each measured loop alone (no seeding, no warm-up) is written there
 * (`<dialect>-<route>.cpuprofile`; open it in Chrome DevTools).
 */
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { hashPassword } from '../src/factors/password.ts';
import { totpCode, totpStep } from '../src/factors/totp.ts';
import { checkStatus } from '../src/services/flow-service.ts';
import { fmt, mapConcurrent, seedTenant, seedTotpUsers, startBenchServer, type BenchDialect } from './support/bench-server.ts';
import { installSqlProfile, printSqlProfile, resetSqlProfile } from './support/sql-profile.ts';

const { values: args } = parseArgs({
  options: {
    dialect: { type: 'string', default: 'both' },
    requests: { type: 'string', default: '500' },
    'tenant-ref': { type: 'string', default: 'slug' },
    'cpu-prof-dir': { type: 'string' },
    'sql-profile': { type: 'boolean', default: true },
  },
  allowNegative: true,
});
const profileDir = args['cpu-prof-dir'];
const inspector = new Session();
inspector.connect();
const N = Number(args.requests);
const dialects: BenchDialect[] = args.dialect === 'both' ? ['sqlite', 'postgres'] : [args.dialect as BenchDialect];

if (args['sql-profile']) installSqlProfile();
for (const dialect of dialects) {
  const server = await startBenchServer(dialect);
  try {
    console.log(`\n${dialect}: ${server.where}`);
    const seeded = await seedTenant(server.runtime, 'bench', { enrollment: 'required', gracePeriodDays: 0, challenge: 'always' });
    const tenant = args['tenant-ref'] === 'id' ? seeded.tenantId : seeded.slug;
    const users = await seedTotpUsers(server.runtime, seeded.tenantId, 3 * N, 'p');
    const headers = { authorization: seeded.authorization, 'content-type': 'application/json' };
    const ctx = { ip: '198.51.100.1', userAgent: 'bench', deviceId: 'dev-1' };
    const inject = async (url: string, body: unknown): Promise<number> => (await server.app.inject({ method: 'POST', url, headers, payload: JSON.stringify(body) })).statusCode;

    const time = async (label: string, list: readonly unknown[], url: string): Promise<void> => {
      // warm-up on the first half, measure on the second
      const half = Math.floor(list.length / 2);
      for (const body of list.slice(0, half)) await inject(url, typeof body === 'function' ? (body as () => unknown)() : body);
      resetSqlProfile();
      if (profileDir !== undefined) {
        await inspector.post('Profiler.enable');
        await inspector.post('Profiler.start');
      }
      const cpuStart = process.cpuUsage();
      const start = performance.now();
      const statuses = new Map<number, number>();
      for (const body of list.slice(half)) {
        const status = await inject(url, typeof body === 'function' ? (body as () => unknown)() : body);
        statuses.set(status, (statuses.get(status) ?? 0) + 1);
      }
      const ms = performance.now() - start;
      const cpu = process.cpuUsage(cpuStart);
      if (profileDir !== undefined) {
        const { profile } = await inspector.post('Profiler.stop');
        writeFileSync(join(profileDir, `${dialect}-${label.replace(/\W+/g, '-')}.cpuprofile`), JSON.stringify(profile));
      }
      const n = list.length - half;
      // CPU time (user + system, this process) is steadier than wall time on a shared machine; argon2id's thread
      // counts in it for a sign-in.
      const cpuMs = (cpu.user + cpu.system) / 1000 / n;
      console.log(`${label}: ${(ms / n).toFixed(2)} ms per request, ${cpuMs.toFixed(2)} ms CPU (${fmt(n / (ms / 1000))}/s one at a time, in-process) statuses ${JSON.stringify(Object.fromEntries(statuses))}`);
      printSqlProfile(label, n);
    };

    const signinUsers = await seedTotpUsers(server.runtime, seeded.tenantId, N, 's', await hashPassword('bench-password'));
    await time('signin', signinUsers.map((_, i) => ({ tenant, identifier: `s-${i}@bench.example`, password: 'bench-password', context: ctx })), '/api/v1/auth/signin');
    await time('status/check', users.slice(0, 2 * N).map((u) => ({ tenant, userId: u.userId, context: ctx })), '/api/v1/auth/mfa/status/check');

    const sessionUsers = users.slice(N);
    const sessions = await mapConcurrent(sessionUsers, 4, async (u) => {
      const flow = await checkStatus(server.runtime.deps, { application: seeded.application }, { tenant, user: { userId: u.userId }, context: ctx });
      if (flow.status !== 'mfa_required') throw new Error(flow.status);
      return { token: flow.mfaSessionId, secret: u.secret };
    });
    await time(
      'verify',
      sessions.map((s) => () => ({ mfaSessionId: s.token, method: 'totp', code: totpCode(s.secret, totpStep(Date.now())) })),
      '/api/v1/auth/mfa/verify',
    );
    resetSqlProfile();
    const bareStart = performance.now();
    for (let i = 0; i < 2000; i++) await server.app.inject({ method: 'GET', url: '/healthz' });
    console.log(`bare /healthz: ${((performance.now() - bareStart) / 2000).toFixed(3)} ms per request (in-process)`);
  } finally {
    await server.close();
  }
}
