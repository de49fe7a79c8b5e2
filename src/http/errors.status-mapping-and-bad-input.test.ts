import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Type } from '@sinclair/typebox';
import type { LightMyRequestResponse } from 'fastify';
import Database from 'better-sqlite3';
import pg from 'pg';
import { PortcullisError, type ErrorCode } from '../core/index.ts';
import { buildApp, type AppConfig, type PortcullisApp } from './app.ts';
import { HTTP_STATUS_BY_CODE, isDatabaseUnavailable, toHttpError } from './errors.ts';

const config: AppConfig = { logLevel: 'silent', publicUrl: 'http://localhost:8080', trustProxy: false, rateLimitPerMinute: 0 };

let app: PortcullisApp;
let nextError: unknown = null;

before(async () => {
  app = await buildApp({
    config,
    ping: async () => undefined,
    registerRoutes: async (api) => {
      api.get('/throw', async () => {
        throw nextError;
      });
      api.post(
        '/verify',
        {
          schema: {
            body: Type.Object(
              {
                mfaSessionId: Type.String({ minLength: 1, maxLength: 256 }),
                method: Type.Union([Type.Literal('totp'), Type.Literal('recovery_code')]),
                code: Type.String({ minLength: 1, maxLength: 64 }),
                context: Type.Optional(Type.Object({ ip: Type.String({ maxLength: 64 }) })),
                items: Type.Optional(Type.Array(Type.Integer({ maximum: 10 }))),
              },
              { additionalProperties: false },
            ),
          },
        },
        async () => ({ verified: true }),
      );
    },
  });
});
after(async () => {
  await app.close();
});

async function throwing(error: unknown): Promise<{ status: number; body: Record<string, unknown>; text: string }> {
  nextError = error;
  const res = await app.inject({ method: 'GET', url: '/api/v1/throw' });
  return { status: res.statusCode, body: res.json(), text: res.body };
}

function post(payload: string, contentType = 'application/json'): Promise<LightMyRequestResponse> {
  return app.inject({ method: 'POST', url: '/api/v1/verify', payload, headers: { 'content-type': contentType } });
}

/**
 * The API documentation's table of stable codes (docs/api.md, "The stable codes and their HTTP statuses"): code →
 * status, parsed from the Markdown so that the mapping is checked against what callers read, not a copy of itself.
 */
function documentedStatuses(): Map<string, number> {
  const text = readFileSync(new URL('../../docs/api.md', import.meta.url), 'utf8');
  const heading = text.indexOf('The stable codes and their HTTP statuses');
  assert.ok(heading >= 0, 'docs/api.md has the table of stable codes');
  const lines = text.slice(heading).split('\n');
  const start = lines.findIndex((l) => /^\|\s*code\s*\|\s*status\s*\|/.test(l));
  assert.ok(start >= 0, 'the table has a code | status header');
  const out = new Map<string, number>();
  for (const line of lines.slice(start + 2)) {
    if (!line.startsWith('|')) break;
    const match = /^\|\s*`([A-Z_]+)`\s*\|\s*(\d{3})\s*\|/.exec(line);
    assert.ok(match !== null, `a table row of a code and a status: ${line}`);
    const [, code = '', status = ''] = match;
    assert.ok(!out.has(code), `${code} is documented once`);
    out.set(code, Number(status));
  }
  return out;
}

describe('PortcullisError → status', () => {
  const documented = documentedStatuses();

  it('maps every code to the status docs/api.md gives it, and documents every code there is', () => {
    const mapped = new Map(Object.entries(HTTP_STATUS_BY_CODE));
    assert.ok(documented.size >= 20, `the table lists the codes (${documented.size})`);
    assert.deepEqual([...documented.keys()].filter((c) => !mapped.has(c)), [], 'codes documented that do not exist');
    assert.deepEqual([...mapped.keys()].filter((c) => !documented.has(c)), [], 'codes that exist but are not documented');
    for (const [code, status] of documented) assert.equal(HTTP_STATUS_BY_CODE[code as ErrorCode], status, `${code}: docs/api.md says ${status}`);
  });

  it('answers every documented code with {error, message} at its documented status; 4xx keep the public message', async () => {
    for (const [code, status] of documented) {
      const res = await throwing(new PortcullisError(code as ErrorCode, `public message for ${code}`, { detail: 'private detail' }));
      assert.equal(res.status, status, code);
      // A secret that does not open is the operator's to fix; the caller sees the retryable 503 (src/factors/key-check).
      assert.equal(res.body['error'], code === 'SECRET_UNREADABLE' ? 'SERVICE_UNAVAILABLE' : code);
      assert.ok(!res.text.includes('private detail'), code);
      if (status < 500) assert.equal(res.body['message'], `public message for ${code}`);
    }
  });

  it('passes extra fields through but never lets them replace error or message', async () => {
    const res = await throwing(new PortcullisError('MFA_CODE_INVALID', 'Wrong code.', { extra: { attemptsRemaining: 3, error: 'OK', message: 'fine' } }));
    assert.equal(res.status, 400);
    assert.deepEqual(res.body, { error: 'MFA_CODE_INVALID', message: 'Wrong code.', attemptsRemaining: 3 });
  });

  it('answers INTERNAL with a generic message and the request id, never the thrown message', async () => {
    const res = await throwing(new PortcullisError('INTERNAL', 'policy row 42 is corrupt'));
    assert.equal(res.status, 500);
    assert.equal(res.body['error'], 'INTERNAL');
    assert.ok(!res.text.includes('row 42'));
    assert.equal(typeof res.body['requestId'], 'string');
  });
});

describe('unexpected errors', () => {
  it('answers 500 INTERNAL with the request id and without the thrown message or stack', async () => {
    nextError = new TypeError('Cannot read properties of undefined (reading "secretSeed")');
    const res = await app.inject({ method: 'GET', url: '/api/v1/throw', headers: { 'x-request-id': 'req-500' } });
    assert.equal(res.statusCode, 500);
    assert.deepEqual(res.json(), { error: 'INTERNAL', message: 'An internal error occurred. Quote the request id when reporting it.', requestId: 'req-500' });
    assert.ok(!res.body.includes('secretSeed'));
  });

  it('answers 500 for thrown non-errors too', async () => {
    for (const value of ['a string', 42, { weird: true }]) {
      const res = await throwing(value);
      assert.equal(res.status, 500);
      assert.equal(res.body['error'], 'INTERNAL');
    }
  });
});

describe('database unavailable → 503 SERVICE_UNAVAILABLE', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'portcullis-errors-'));
  });
  after(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('recognises a real pg connection refusal', async () => {
    const client = new pg.Client({ host: '127.0.0.1', port: 1, user: 'x', database: 'x', connectionTimeoutMillis: 2000 });
    const error = await client.connect().then(
      () => assert.fail('connected to port 1'),
      (e: unknown) => e,
    );
    assert.ok(isDatabaseUnavailable(error));
    const res = await throwing(error);
    assert.equal(res.status, 503);
    assert.equal(res.body['error'], 'SERVICE_UNAVAILABLE');
    assert.ok(!res.text.includes('127.0.0.1'));
  });

  it('recognises real better-sqlite3 SQLITE_CANTOPEN and SQLITE_BUSY', async () => {
    const cantOpen = ((): unknown => {
      try {
        // A directory where the database file should be: SQLite cannot open it.
        new Database(dir);
        return null;
      } catch (error) {
        return error;
      }
    })();
    assert.match(String((cantOpen as { code?: string }).code), /^SQLITE_CANTOPEN/);
    assert.equal((await throwing(cantOpen)).status, 503);

    const file = join(dir, 'busy.db');
    const holder = new Database(file);
    const other = new Database(file, { timeout: 0 });
    holder.exec('CREATE TABLE t (x INTEGER)');
    holder.exec('BEGIN EXCLUSIVE');
    let busy: unknown = null;
    try {
      other.exec('INSERT INTO t VALUES (1)');
    } catch (error) {
      busy = error;
    }
    holder.exec('ROLLBACK');
    holder.close();
    other.close();
    assert.match(String((busy as { code?: string }).code), /^SQLITE_BUSY/);
    assert.equal((await throwing(busy)).status, 503);
  });

  it('recognises pg server shutdown codes, dropped connections, pool timeouts, and wrapped causes', () => {
    const samples: unknown[] = [
      Object.assign(new Error('terminating connection due to administrator command'), { code: '57P01' }),
      Object.assign(new Error('the database system is starting up'), { code: '57P03' }),
      Object.assign(new Error('sorry, too many clients already'), { code: '53300' }),
      Object.assign(new Error('connection failure'), { code: '08006' }),
      new Error('Connection terminated unexpectedly'),
      new Error('timeout exceeded when trying to connect'),
      new Error('Client has encountered a connection error and is not queryable'),
      Object.assign(new AggregateError([Object.assign(new Error('connect ECONNREFUSED ::1:5432'), { code: 'ECONNREFUSED' })]), {}),
      new Error('query failed', { cause: Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }) }),
      new PortcullisError('INTERNAL', 'Could not load the policy.', { cause: Object.assign(new Error('database is locked'), { code: 'SQLITE_BUSY' }) }),
      new TypeError('The database connection is not open'),
    ];
    for (const sample of samples) {
      assert.ok(isDatabaseUnavailable(sample), String(sample));
      assert.equal(toHttpError(sample).status, 503, String(sample));
    }
  });

  it('leaves other database errors as 500 (a constraint violation is a bug or a service decision)', () => {
    for (const sample of [
      Object.assign(new Error('duplicate key value violates unique constraint'), { code: '23505' }),
      Object.assign(new Error('UNIQUE constraint failed: users.email'), { code: 'SQLITE_CONSTRAINT_UNIQUE' }),
      new Error('syntax error at or near "SELEC"'),
    ]) {
      assert.equal(isDatabaseUnavailable(sample), false, String(sample));
      assert.equal(toHttpError(sample).status, 500);
    }
  });
});

describe('bad input → 4xx with a stable code, never 5xx', () => {
  const valid = { mfaSessionId: 's1', method: 'totp', code: '123456' };

  it('accepts a valid body', async () => {
    const res = await post(JSON.stringify(valid));
    assert.equal(res.statusCode, 200);
  });

  it('malformed JSON → 400 INVALID_REQUEST, without quoting the body', async () => {
    const res = await post('{"mfaSessionId":"s1","code":"987654"');
    assert.equal(res.statusCode, 400);
    assert.deepEqual(res.json(), { error: 'INVALID_REQUEST', message: 'The body is not valid JSON.' });
    assert.ok(!res.body.includes('987654'));
  });

  it('prototype pollution attempts → 400', async () => {
    for (const payload of ['{"__proto__":{"admin":true},"mfaSessionId":"s","method":"totp","code":"1"}', '{"constructor":{"prototype":{"x":1}}}']) {
      const res = await post(payload);
      assert.equal(res.statusCode, 400, payload);
      assert.equal(res.json().error, 'INVALID_REQUEST');
    }
  });

  it('a body over 64 KiB → 413 PAYLOAD_TOO_LARGE (10 MB included)', async () => {
    for (const size of [65 * 1024, 10 * 1024 * 1024]) {
      const res = await post(JSON.stringify({ ...valid, code: 'x'.repeat(size) }));
      assert.equal(res.statusCode, 413, String(size));
      assert.equal(res.json().error, 'PAYLOAD_TOO_LARGE');
    }
  });

  it('a non-JSON content type → 415 UNSUPPORTED_MEDIA_TYPE', async () => {
    for (const type of ['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/xml']) {
      const res = await post('code=123456', type);
      assert.equal(res.statusCode, 415, type);
      assert.equal(res.json().error, 'UNSUPPORTED_MEDIA_TYPE');
    }
  });

  it('validation errors name the field', async () => {
    const cases: [unknown, string, RegExp][] = [
      [{ method: 'totp', code: '1' }, 'body.mfaSessionId', /^body\.mfaSessionId is required\.$/],
      [{ ...valid, code: ['1', '2'] }, 'body.code', /^body\.code must be string\.$/],
      [{ ...valid, code: { $gt: '' } }, 'body.code', /^body\.code must be string\.$/],
      [{ ...valid, code: '' }, 'body.code', /^body\.code must be string length greater or equal to 1\.$/],
      [{ ...valid, method: 'sms' }, 'body.method', /^body\.method must be one of the allowed values\.$/],
      [{ ...valid, context: { ip: { v: 4 } } }, 'body.context.ip', /^body\.context\.ip must be string\.$/],
      [{ ...valid, items: [1, 99] }, 'body.items[1]', /^body\.items\[1\] must be integer to be less or equal to 10\.$/],
      [[1, 2], 'body', /^body must be object\.$/],
      [null, 'body', /^body must be object\.$/],
    ];
    for (const [payload, field, message] of cases) {
      const res = await post(JSON.stringify(payload));
      assert.equal(res.statusCode, 400, JSON.stringify(payload));
      const body = res.json();
      assert.equal(body.error, 'INVALID_REQUEST');
      assert.equal(body.field, field, JSON.stringify(payload));
      assert.match(body.message, message);
    }
  });

  it('an empty body with a JSON content type is "no body": the schema answers 400', async () => {
    const res = await post('');
    assert.equal(res.statusCode, 400);
    assert.equal(res.json().error, 'INVALID_REQUEST');
  });

  it('code fields the schema refuses → 400 INVALID_REQUEST naming body.code; code-shaped text is left to the verifier', async () => {
    for (const code of ['', null, [], {}, true, 1e308, 123456, 'x'.repeat(65)]) {
      const res = await post(JSON.stringify({ ...valid, code }));
      assert.equal(res.statusCode, 400, `${JSON.stringify(code)} → ${res.statusCode}`);
      assert.equal(res.json().error, 'INVALID_REQUEST');
      assert.equal(res.json().field, 'body.code', JSON.stringify(code));
    }
    // A string of 1-64 characters is a code by shape: this test route's handler gets it (the real verifiers refuse
    // these: test/http/auth-body-fuzzing-4xx-no-state-change.test.ts).
    for (const code of ['12345', '1234567', '١٢٣٤٥٦', '\u0000']) assert.equal((await post(JSON.stringify({ ...valid, code }))).statusCode, 200, JSON.stringify(code));
  });
});
