/**
 * Issue 13, group commit on SQLite: transactions queued behind one another on the one connection are committed
 * together. What must still hold for each of them, on a real file read back through a second connection:
 *
 * - a transaction that throws is rolled back alone: the others of its group keep their writes;
 * - a caller is answered only once its writes are committed (visible to another connection at that moment);
 * - the group really is one commit for many transactions (the point of it), counted at the SQLite statement.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import BetterSqlite3 from 'better-sqlite3';
import { createStore, migrateToLatest, openDatabase } from './index.ts';

const root = mkdtempSync(join(tmpdir(), 'portcullis-group-'));
after(() => rmSync(root, { recursive: true, force: true }));

/** Counts `commit` statements run through better-sqlite3 while `fn` runs. */
async function countingCommits<T>(fn: () => Promise<T>): Promise<{ value: T; commits: number }> {
  const probe = new BetterSqlite3(':memory:');
  const proto = Object.getPrototypeOf(probe.prepare('select 1')) as { run: (...args: unknown[]) => unknown };
  probe.close();
  const original = proto.run;
  let commits = 0;
  proto.run = function (this: { source: string }, ...args: unknown[]): unknown {
    if (/^commit$/i.test(this.source.trim())) commits++;
    return original.apply(this, args);
  };
  try {
    return { value: await fn(), commits };
  } finally {
    proto.run = original;
  }
}

describe('SQLite group commit', () => {
  it('commits 40 concurrent transactions in fewer commits, rolls back only the one that throws, answers each after its commit', async () => {
    const path = join(root, 'portcullis.db');
    const database = await openDatabase({ sqlitePath: path });
    const reader = new BetterSqlite3(path, { readonly: true });
    try {
      await migrateToLatest(database);
      const store = createStore(database);
      const now = Date.now();
      const visibleAtAnswer: boolean[] = [];
      const { value: settled, commits } = await countingCommits(() =>
        Promise.allSettled(
          Array.from({ length: 40 }, async (_, i) => {
            const tenant = await store.transaction(async (tx) => {
              const created = await tx.tenants.create({ slug: `group-${i}`, name: `Group ${i}`, now });
              if (i === 7) throw new Error('the seventh changes its mind');
              return created;
            });
            // Answered: the row must already be committed, seen by another connection.
            visibleAtAnswer[i] = (reader.prepare('select count(*) as n from tenants where id = ?').get(tenant.id) as { n: number }).n === 1;
            return tenant;
          }),
        ),
      );
      const refused = settled.flatMap((s, i) => (s.status === 'rejected' ? [i] : []));
      assert.deepEqual(refused, [7]);
      assert.equal((settled[7] as PromiseRejectedResult).reason.message, 'the seventh changes its mind');
      const slugs = (reader.prepare("select slug from tenants where slug like 'group-%' order by slug").all() as { slug: string }[]).map((r) => r.slug);
      assert.equal(slugs.length, 39);
      assert.ok(!slugs.includes('group-7'), 'the throwing transaction left no row');
      assert.deepEqual(
        visibleAtAnswer.flatMap((v, i) => (v ? [] : [i])).filter((i) => i !== 7),
        [],
        'every answered transaction was visible to another connection when answered',
      );
      assert.ok(commits < 40, `40 transactions took ${commits} commits`);
      assert.ok(commits >= 1);
    } finally {
      reader.close();
      await database.close();
    }
  });
});
