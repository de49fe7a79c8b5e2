/**
 * `portcullis keys list | rotate`, run as a user runs them (the real launcher in a child process) against a real
 * SQLite file: the first rotate makes a key, the second retires it (still published), `list` shows both, a server
 * opening the same file signs with the new key and publishes both, and a rotation under another secret key is
 * refused without changing anything.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { createSecretBox } from '../factors/secret-box.ts';
import { createResultSigner } from '../services/signing-keys.ts';
import { createStore, openDatabase } from '../store/index.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const BIN = join(ROOT, 'bin', 'portcullis.js');
const SECRET = randomBytes(32).toString('base64');
const silent = { info: (): void => {}, warn: (): void => {}, error: (): void => {} };

interface Run {
  readonly status: number;
  readonly stdout: string;
  readonly stderr: string;
}

let dataDir: string;

function portcullis(args: readonly string[], secret = SECRET): Promise<Run> {
  const env = { PATH: process.env.PATH ?? '', PORTCULLIS_DATA_DIR: dataDir, PORTCULLIS_SECRET_KEY: secret, PORTCULLIS_PROFILE: 'production', PUBLIC_URL: 'https://mfa.example.test' };
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { cwd: ROOT, encoding: 'utf8', env }, (error, stdout, stderr) => {
      resolve({ status: error === null ? 0 : typeof error.code === 'number' ? error.code : -1, stdout, stderr });
    });
  });
}

interface ListedKey {
  readonly kid: string;
  readonly state: string;
  readonly published: boolean;
  readonly retireAfter: number | null;
}

before(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'portcullis-keys-'));
});
after(async () => {
  await rm(dataDir, { recursive: true, force: true });
});

test('keys rotate and keys list work against a real SQLite file, and a server on it signs with the new key', async () => {
  const empty = await portcullis(['keys', 'list']);
  assert.equal(empty.status, 0, empty.stderr);
  assert.match(empty.stdout, /No signing key yet/);

  const first = await portcullis(['keys', 'rotate']);
  assert.equal(first.status, 0, first.stderr);
  const firstKid = /New active signing key: (\S+)/.exec(first.stdout)?.[1];
  assert.ok(firstKid !== undefined, first.stdout);
  assert.doesNotMatch(first.stdout, /Retired/);

  const second = await portcullis(['keys', 'rotate', '--json']);
  assert.equal(second.status, 0, second.stderr);
  const report = JSON.parse(second.stdout) as { active: { kid: string }; retiredKid: string; retiredUntil: number };
  assert.equal(report.retiredKid, firstKid);
  assert.notEqual(report.active.kid, firstKid);

  const listed = await portcullis(['keys', 'list', '--json']);
  assert.equal(listed.status, 0, listed.stderr);
  const { keys } = JSON.parse(listed.stdout) as { keys: ListedKey[] };
  assert.deepEqual(keys.map((k) => [k.kid, k.state, k.published]), [[report.active.kid, 'active', true], [firstKid, 'retiring', true]]);
  assert.equal(keys[1]?.retireAfter, report.retiredUntil);
  const text = await portcullis(['keys', 'list']);
  assert.match(text.stdout, new RegExp(`${report.active.kid}\\s+ES256\\s+active`));
  assert.match(text.stdout, new RegExp(`${firstKid}\\s+ES256\\s+retiring .* published until `));

  // A server on the same file and secret key: signs with the new key, publishes both.
  const database = await openDatabase({ sqlitePath: join(dataDir, 'portcullis.db') });
  try {
    const signer = createResultSigner({ store: createStore(database), secrets: createSecretBox(Buffer.from(SECRET, 'base64')), logger: silent }, { issuer: 'https://mfa.example.test' });
    const now = Date.now();
    assert.equal((await signer.ensureKey(now)).kid, report.active.kid);
    const token = await signer.signResult({ subject: 'u', audience: 'c', tenantId: 't', sessionId: 's', amr: ['pwd'], acr: 'urn:portcullis:acr:pwd', authTime: now }, now);
    assert.equal((JSON.parse(Buffer.from(token.split('.')[0] ?? '', 'base64url').toString('utf8')) as { kid: string }).kid, report.active.kid);
    assert.deepEqual((await signer.jwks(now)).keys.map((k) => k.kid), [report.active.kid, firstKid]);
  } finally {
    await database.close();
  }

  // Another secret key: refused, exit 1, nothing changed.
  const wrong = await portcullis(['keys', 'rotate'], randomBytes(32).toString('base64'));
  assert.equal(wrong.status, 1);
  assert.match(wrong.stderr, /does not open with this secret key/);
  const unchanged = JSON.parse((await portcullis(['keys', 'list', '--json'])).stdout) as { keys: ListedKey[] };
  assert.deepEqual(unchanged.keys.map((k) => k.kid), [report.active.kid, firstKid]);
});

test('keys: usage errors exit 2, --help exits 0, and the top-level help lists the command', async () => {
  const [bare, unknown] = await Promise.all([portcullis(['keys']), portcullis(['keys', 'rotate', '--force'])]);
  assert.equal(bare.status, 2);
  assert.equal(unknown.status, 2);
  const help = await portcullis(['keys', '--help']);
  assert.equal(help.status, 0);
  assert.match(help.stdout, /Usage: portcullis keys <list \| rotate>/);
  assert.match((await portcullis(['--help'])).stdout, /\n {2}keys +list or rotate the keys that sign sign-in results/);
});
