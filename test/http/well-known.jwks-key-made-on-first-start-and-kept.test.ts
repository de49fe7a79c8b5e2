/**
 * The runtime's wiring: the first start makes the signing key and serves it at `/.well-known/jwks.json` (at the
 * root, not under `/api/v1`); a restart on the same database keeps it instead of making another.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { loadConfig, type Config } from '../../src/config.ts';
import { buildApp } from '../../src/http/app.ts';
import { createLogger } from '../../src/http/logger.ts';
import { createRuntime } from '../../src/runtime.ts';

let dataDir: string;
let config: Config;

before(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'portcullis-jwks-'));
  const result = loadConfig({ PORTCULLIS_DATA_DIR: dataDir, PORTCULLIS_SECRET_KEY: randomBytes(32).toString('base64'), PUBLIC_URL: 'https://mfa.example.test' }, () => '');
  assert.ok(result.ok);
  config = result.config;
});
after(async () => {
  await rm(dataDir, { recursive: true, force: true });
});

async function publishedKids(): Promise<string[]> {
  const runtime = await createRuntime(config, { logger: createLogger({ level: 'silent' }) });
  const app = await buildApp({ config, ping: () => runtime.database.ping(), registerRoutes: runtime.registerRoutes, registerRootRoutes: runtime.registerRootRoutes });
  try {
    const res = await app.inject({ method: 'GET', url: '/.well-known/jwks.json' });
    assert.equal(res.statusCode, 200);
    assert.match(String(res.headers['content-type']), /^application\/jwk-set\+json/);
    assert.equal((await app.inject({ method: 'GET', url: '/api/v1/.well-known/jwks.json' })).statusCode, 404);
    return (JSON.parse(res.body) as { keys: { kid: string }[] }).keys.map((k) => k.kid);
  } finally {
    await app.close();
    await runtime.close();
  }
}

test('the first start makes one signing key and serves it at /.well-known/jwks.json; a restart keeps it', async () => {
  const first = await publishedKids();
  assert.equal(first.length, 1);
  assert.deepEqual(await publishedKids(), first);
});
