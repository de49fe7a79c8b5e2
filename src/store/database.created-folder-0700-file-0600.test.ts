/**
 * SECURITY issue #7: the SQLite database holds password hashes and sealed factor secrets. When the database layer
 * creates the data folder and the file (the production profile, where no dev key file made the folder first), the
 * folder is 0700 and the file 0600 — and SQLite's `-wal`/`-shm` files follow the file — whatever the umask allows.
 * Real files on disk.
 */
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { migrateToLatest, openDatabase } from './index.ts';

const root = mkdtempSync(join(tmpdir(), 'portcullis-modes-'));
after(() => rmSync(root, { recursive: true, force: true }));

const modeOf = (path: string): number => statSync(path).mode & 0o777;

describe('SQLite files created by the database layer', { skip: process.platform === 'win32' }, () => {
  it('creates the folder (and its missing parents) 0700 and the database, WAL and SHM files 0600', async () => {
    // A permissive umask is what a container often runs with; the modes must not depend on it.
    const previous = process.umask(0o002);
    try {
      const dir = join(root, 'fresh', 'data');
      const path = join(dir, 'portcullis.db');
      const database = await openDatabase({ sqlitePath: path });
      try {
        await migrateToLatest(database);
        assert.equal(modeOf(join(root, 'fresh')), 0o700);
        assert.equal(modeOf(dir), 0o700);
        const files = readdirSync(dir).sort();
        assert.deepEqual(files, ['portcullis.db', 'portcullis.db-shm', 'portcullis.db-wal']);
        for (const file of files) assert.equal(modeOf(join(dir, file)), 0o600, file);
      } finally {
        await database.close();
      }
    } finally {
      process.umask(previous);
    }
  });

  it("leaves an existing folder's and file's modes as their owner set them, and opens the existing data", async () => {
    const dir = join(root, 'existing');
    mkdirSync(dir, { mode: 0o750 });
    chmodSync(dir, 0o750);
    const path = join(dir, 'portcullis.db');
    const first = await openDatabase({ sqlitePath: path });
    await migrateToLatest(first);
    await first.close();
    chmodSync(path, 0o640);
    const again = await openDatabase({ sqlitePath: path });
    try {
      assert.deepEqual((await migrateToLatest(again)).applied, [], 'the same database, already migrated');
    } finally {
      await again.close();
    }
    assert.equal(modeOf(dir), 0o750);
    assert.equal(modeOf(path), 0o640);
  });

  it('an empty file made by an operator beforehand is used as the database', async () => {
    const path = join(root, 'empty.db');
    writeFileSync(path, '', { mode: 0o600 });
    const database = await openDatabase({ sqlitePath: path });
    try {
      assert.ok((await migrateToLatest(database)).applied.length > 0);
    } finally {
      await database.close();
    }
  });
});
