/**
 * The soak run of SECURITY's test plan: mixed sign-in traffic (bench/support/mixed-load.ts) over loopback against
 * several nodes of one database for a bounded time, then: 5xx answers, false accepts, unexpected answers, and the
 * audit log counted against the answers. Exit code 1 unless all are zero.
 *
 *   npm run bench:soak                                  # PostgreSQL, 2 nodes, 5 minutes
 *   npx node bench/soak.ts --dialect sqlite|postgres --nodes 2 --seconds 300 --concurrency 8 --users 10000
 *
 * PostgreSQL: PORTCULLIS_TEST_DATABASE_URL, else DATABASE_URL, else postgres://postgres@127.0.0.1:5432/test, in a
 * fresh schema dropped afterwards.
 */
import { availableParallelism } from 'node:os';
import { parseArgs } from 'node:util';
import { fmt, startBenchCluster, type BenchDialect } from './support/bench-server.ts';
import { runMixedLoad, seedMixed } from './support/mixed-load.ts';

const { values: args } = parseArgs({
  options: {
    dialect: { type: 'string', default: 'postgres' },
    nodes: { type: 'string', default: '2' },
    seconds: { type: 'string', default: '300' },
    concurrency: { type: 'string', default: '8' },
    users: { type: 'string', default: '10000' },
    'password-every': { type: 'string', default: '10' },
  },
});
const dialect = args.dialect as BenchDialect;
if (dialect !== 'sqlite' && dialect !== 'postgres') throw new Error(`--dialect: ${args.dialect} is not sqlite or postgres`);

const cluster = await startBenchCluster(dialect, Number(args.nodes));
try {
  console.log(`Portcullis soak — node ${process.version}, ${availableParallelism()} CPUs, ${cluster.nodes.length} node(s) on ${cluster.where}`);
  const t0 = performance.now();
  const { seeded, users } = await seedMixed(cluster, Number(args.users));
  console.log(`seeded ${fmt(users.length)} users with TOTP and a password in ${((performance.now() - t0) / 1000).toFixed(1)} s; running ${args.seconds} s with ${args.concurrency} in flight`);
  const report = await runMixedLoad(cluster, seeded, users, {
    seconds: Number(args.seconds),
    concurrency: Number(args.concurrency),
    passwordEvery: Number(args['password-every']),
  });
  console.log(`\n${fmt(report.requests)} requests in ${report.seconds.toFixed(1)} s (${fmt(report.requests / report.seconds)}/s over all nodes)`);
  for (const [kind, n] of Object.entries(report.counts)) console.log(`  ${kind.padEnd(30)} ${fmt(n).padStart(8)}`);
  console.log('\naudit events found:');
  for (const [event, n] of Object.entries(report.audit).sort()) console.log(`  ${event.padEnd(30)} ${fmt(n).padStart(8)}`);
  console.log(`\n5xx: ${report.serverErrors}   false accepts: ${report.falseAccepts.length}   unexpected answers: ${report.unexpected.length}   audit mismatches: ${report.auditMismatches.length}`);
  for (const line of [...report.falseAccepts, ...report.unexpected, ...report.auditMismatches].slice(0, 20)) console.log(`  ${line}`);
  if (report.serverErrors + report.falseAccepts.length + report.unexpected.length + report.auditMismatches.length > 0) process.exitCode = 1;
} finally {
  await cluster.close();
}
