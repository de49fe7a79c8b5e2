/**
 * SECURITY "A bounded load run on loopback … on 2+ nodes → zero 5xx, zero false accepts, zero lost audit events",
 * short: two real servers listening on loopback on one PostgreSQL schema (one server on SQLite), mixed traffic
 * over real sockets for a few seconds (bench/support/mixed-load.ts): status checks, wrong and right TOTP codes,
 * wrong and right passwords, each answer checked, then the audit log counted against the answers.
 * `PORTCULLIS_MIXED_LOAD_SECONDS` lengthens it; `npm run bench:soak` is the five-minute run.
 */
import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { startBenchCluster, type BenchCluster } from '../../bench/support/bench-server.ts';
import { runMixedLoad, seedMixed } from '../../bench/support/mixed-load.ts';
import { forEachDialect } from '../support/harness.ts';

const SECONDS = Number(process.env['PORTCULLIS_MIXED_LOAD_SECONDS'] ?? '6');

forEachDialect((dialect) => {
  let cluster: BenchCluster;
  before(async () => {
    cluster = await startBenchCluster(dialect, dialect === 'postgres' ? 2 : 1);
  });
  after(() => cluster.close());

  it(`${dialect === 'postgres' ? 'two nodes' : 'one node'}: no 5xx, no false accept, every answer's audit events present`, async () => {
    const { seeded, users } = await seedMixed(cluster, 1_500);
    const report = await runMixedLoad(cluster, seeded, users, { seconds: SECONDS, concurrency: 8, passwordEvery: 10 });
    assert.deepEqual(report.falseAccepts, []);
    assert.equal(report.serverErrors, 0, report.unexpected.join('\n'));
    assert.deepEqual(report.unexpected, []);
    assert.deepEqual(report.auditMismatches, [], JSON.stringify(report.audit));
    // The run did real work of every kind.
    for (const kind of ['status/check mfa_required', 'verify wrong → 400', 'verify right → verified', 'signin wrong → 401', 'signin right → mfa_required']) {
      assert.ok((report.counts[kind] ?? 0) > 0, `no "${kind}" in ${JSON.stringify(report.counts)}`);
    }
  });
});
