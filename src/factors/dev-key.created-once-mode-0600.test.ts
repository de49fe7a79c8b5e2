import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync, chmodSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { PortcullisError } from '../core/index.ts';
import { loadOrCreateKeyFile } from './dev-key.ts';
import { createSecretBox } from './secret-box.ts';

const dir = mkdtempSync(join(tmpdir(), 'portcullis-dev-key-'));
after(() => rmSync(dir, { recursive: true, force: true }));

describe('loadOrCreateKeyFile', () => {
  test('creates a 0600 file with 32 random bytes in base64 when missing, in a new directory', () => {
    const path = join(dir, 'nested', 'secret.key');
    const first = loadOrCreateKeyFile(path);
    assert.equal(first.created, true);
    assert.equal(first.key.length, 32);
    assert.equal(first.permissionsTooOpen, false);
    assert.equal(statSync(path).mode & 0o777, 0o600);
    assert.equal(readFileSync(path, 'utf8').trim(), first.key.toString('base64'));
    assert.deepEqual(readdirSync(join(dir, 'nested')), ['secret.key'], 'no temporary file left behind');
    createSecretBox(first.key);
  });

  test('loads the same key on the next start, without creating', () => {
    const path = join(dir, 'again.key');
    const first = loadOrCreateKeyFile(path);
    const second = loadOrCreateKeyFile(path);
    assert.equal(second.created, false);
    assert.deepEqual(second.key, first.key);
  });

  test('flags a file readable by others', () => {
    const path = join(dir, 'open.key');
    loadOrCreateKeyFile(path);
    chmodSync(path, 0o644);
    assert.equal(loadOrCreateKeyFile(path).permissionsTooOpen, true);
  });

  test('a file that is not 32 bytes of base64 is refused, and its content is not echoed', () => {
    const path = join(dir, 'bad.key');
    const content = 'c2hvcnQta2V5LWNvbnRlbnQ=';
    writeFileSync(path, content, { mode: 0o600 });
    assert.throws(() => loadOrCreateKeyFile(path), (e: unknown) => e instanceof PortcullisError && e.code === 'INTERNAL' && !e.message.includes(content));
  });

  test('processes starting at once on a missing file: exactly one creates, all get the same key', async () => {
    const path = join(dir, 'race.key');
    const module = fileURLToPath(new URL('./dev-key.ts', import.meta.url));
    const script = `import { loadOrCreateKeyFile } from ${JSON.stringify(module)};
      const r = loadOrCreateKeyFile(${JSON.stringify(path)});
      process.stdout.write(JSON.stringify({ created: r.created, key: r.key.toString('hex') }));`;
    const run = (): Promise<{ created: boolean; key: string }> =>
      new Promise((resolve, reject) => {
        execFile(process.execPath, ['--input-type=module', '-e', script], (error, stdout) => {
          if (error !== null) reject(error);
          else resolve(JSON.parse(stdout) as { created: boolean; key: string });
        });
      });
    const results = await Promise.all(Array.from({ length: 6 }, run));
    assert.equal(results.filter((r) => r.created).length, 1);
    const onDisk = Buffer.from(readFileSync(path, 'utf8').trim(), 'base64').toString('hex');
    for (const r of results) assert.equal(r.key, onDisk);
  });
});
