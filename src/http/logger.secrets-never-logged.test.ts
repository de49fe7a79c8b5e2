import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Type } from '@sinclair/typebox';
import { buildApp, type AppConfig, type PortcullisApp } from './app.ts';
import { requireAdmin } from './auth.ts';
import { createLogger } from './logger.ts';
import { generateToken } from '../factors/tokens.ts';

const config: AppConfig = { logLevel: 'trace', publicUrl: 'http://localhost:8080', trustProxy: false, rateLimitPerMinute: 0 };

// Values distinctive enough that finding one anywhere in the log output can only mean it leaked.
const SECRETS = {
  password: 'Tr0ub4dor&3-horse-battery',
  code: '918273',
  secret: 'JBSWY3DPEHPK3PXP-seed',
  clientSecret: 'cs_live_9f8e7d6c5b4a',
  token: 'tok_0123456789abcdef',
  newPassword: 'n3w-Pa55word!-staple',
};

const lines: string[] = [];
let app: PortcullisApp;
const adminToken = generateToken('pcat');

before(async () => {
  const logger = createLogger({ level: 'trace', destination: { write: (line: string) => void lines.push(line) } });
  app = await buildApp({
    config,
    logger,
    ping: async () => undefined,
    registerRoutes: async (api) => {
      // A developer debugging with `{ body, headers }`: redaction still holds.
      api.post('/debug', async (request) => {
        request.log.info({ body: request.body, headers: request.headers }, 'debugging the body');
        request.log.info({ ...(request.body as object) }, 'spreading the body');
        return { ok: true };
      });
      api.post('/fail', async () => {
        throw new Error('boom: unexpected');
      });
      api.get('/db-down', async () => {
        throw Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' });
      });
      api.post('/strict', { schema: { body: Type.Object({ password: Type.String({ maxLength: 8 }), code: Type.String({ pattern: '^[0-9]{6}$' }) }) } }, async () => ({ ok: true }));
      api.get('/admin', { onRequest: requireAdmin(async () => null) }, async () => ({ ok: true }));
    },
  });
});
after(async () => {
  await app.close();
});

function logText(): string {
  return lines.join('');
}

function assertNoSecret(where: string): void {
  const text = logText();
  for (const [name, value] of Object.entries(SECRETS)) {
    assert.ok(!text.includes(value), `${name} leaked into the log (${where}): ${text.split("\n").filter((l) => l.includes(value)).join("\n")}`);
  }
}

describe('logs never carry a secret', () => {
  it('redacts secret body fields and credential headers a route chooses to log', async () => {
    const res = await app.inject({
      method: 'POST',
      url: '/api/v1/debug',
      headers: { authorization: `Bearer ${SECRETS.token}`, cookie: `sid=${SECRETS.secret}`, 'x-request-id': 'debug-1' },
      payload: { ...SECRETS, identifier: 'ada@example.com', context: { password: SECRETS.password } },
    });
    assert.equal(res.statusCode, 200);
    assertNoSecret('debug route');
    const debug = lines.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l['msg'] === 'debugging the body');
    assert.ok(debug, 'the debug line was written');
    assert.equal(debug['requestId'], 'debug-1');
    const body = debug['body'] as Record<string, unknown>;
    assert.equal(body['password'], '[redacted]');
    assert.equal(body['code'], '[redacted]');
    assert.equal(body['identifier'], 'ada@example.com', 'non-secret fields stay readable');
    assert.equal((debug['headers'] as Record<string, unknown>)['authorization'], '[redacted]');
  });

  it('logs a 500 with its error and stack, but not the body that caused it', async () => {
    const res = await app.inject({ method: 'POST', url: '/api/v1/fail', payload: SECRETS, headers: { 'x-request-id': 'fail-1' } });
    assert.equal(res.statusCode, 500);
    assert.ok(!res.body.includes('boom'));
    const failure = lines.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l['requestId'] === 'fail-1' && l['level'] === 'error');
    assert.ok(failure, 'the failure was logged at error level');
    assert.match(JSON.stringify(failure['err']), /boom: unexpected/);
    assertNoSecret('500');
  });

  it('keeps an error\'s own code readable (only a top-level or body `code` is censored)', async () => {
    const res = await app.inject({ method: 'GET', url: '/api/v1/db-down', headers: { 'x-request-id': 'db-1' } });
    assert.equal(res.statusCode, 503);
    const line = lines.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l['requestId'] === 'db-1' && l['level'] === 'warn');
    assert.equal((line?.['err'] as Record<string, unknown> | undefined)?.['code'], 'ECONNREFUSED');
    assert.equal(line?.['errorCode'], 'SERVICE_UNAVAILABLE');
  });

  it('does not log the body of malformed JSON or of a validation failure', async () => {
    await app.inject({ method: 'POST', url: '/api/v1/strict', payload: `{"password":"${SECRETS.password}","code":"${SECRETS.code}"`, headers: { 'content-type': 'application/json' } });
    const invalid = await app.inject({ method: 'POST', url: '/api/v1/strict', payload: { password: SECRETS.password, code: SECRETS.code } });
    assert.equal(invalid.statusCode, 400);
    assert.ok(!invalid.body.includes(SECRETS.password));
    assertNoSecret('bad bodies');
  });

  it('does not log a rejected admin token', async () => {
    const res = await app.inject({ method: 'GET', url: '/api/v1/admin', headers: { authorization: `Bearer ${adminToken}` } });
    assert.equal(res.statusCode, 401);
    assert.ok(!logText().includes(adminToken));
  });
});
