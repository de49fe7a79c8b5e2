import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDatabase } from '../../src/store/index.ts';
import { runStoreContract } from './contract.ts';

// The embedded default: a real SQLite file (WAL) in a fresh temporary folder.
runStoreContract({
  name: 'sqlite',
  open: async () => {
    const dir = mkdtempSync(join(tmpdir(), 'portcullis-store-'));
    const database = await openDatabase({ sqlitePath: join(dir, 'portcullis.db') });
    return {
      database,
      dispose: async () => {
        await database.close();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  },
});
