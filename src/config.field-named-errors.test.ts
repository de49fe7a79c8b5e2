import assert from 'node:assert/strict';
import { join, resolve } from 'node:path';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { describeConfig, loadConfig, type Config, type ConfigResult } from './config.ts';

// 32 distinct bytes: a key that passes the weak-key check (src/config.weak-secret-key-refused.test.ts).
const KEY = Buffer.from(Array.from({ length: 32 }, (_, i) => (i * 37 + 11) % 256)).toString('base64');

function ok(result: ConfigResult): { config: Config; warnings: readonly string[] } {
  if (!result.ok) assert.fail(`expected a configuration, got errors: ${result.errors.join('; ')}`);
  return result;
}

function errorsOf(result: ConfigResult): readonly string[] {
  if (result.ok) assert.fail('expected errors, got a configuration');
  return result.errors;
}

const noFile = (): string => {
  throw new Error('no file expected');
};

describe('loadConfig defaults', () => {
  it('starts on the embedded default with no variables at all', () => {
    const { config, warnings } = ok(loadConfig({}, noFile));
    assert.equal(config.profile, 'dev');
    assert.equal(config.port, 8080);
    assert.equal(config.host, '0.0.0.0');
    assert.equal(config.publicUrl, 'http://localhost:8080');
    assert.equal(config.logLevel, 'info');
    assert.equal(config.dataDir, resolve('./data'));
    assert.deepEqual(config.database, { kind: 'sqlite', path: join(resolve('./data'), 'portcullis.db') });
    assert.equal(config.secretKey, null);
    assert.equal(config.useKeyFile, true);
    assert.equal(config.secretKeyFile, join(resolve('./data'), 'secret.key'));
    assert.equal(config.trustProxy, false);
    assert.equal(config.rateLimitPerMinute, 3000);
    assert.equal(config.devOutbox, true);
    // The dev profile says loudly what it does.
    assert.ok(warnings.some((w) => w.includes('"dev"')));
    assert.ok(warnings.some((w) => w.includes('secret.key')));
  });

  it('treats an empty variable as unset', () => {
    const { config } = ok(loadConfig({ PORT: '', DATABASE_URL: '  ', PORTCULLIS_SECRET_KEY: '' }, noFile));
    assert.equal(config.port, 8080);
    assert.equal(config.database.kind, 'sqlite');
  });

  it('derives the public URL from the port and strips a trailing slash from an explicit one', () => {
    assert.equal(ok(loadConfig({ PORT: '9000' }, noFile)).config.publicUrl, 'http://localhost:9000');
    assert.equal(ok(loadConfig({ PUBLIC_URL: 'https://mfa.example.com/' }, noFile)).config.publicUrl, 'https://mfa.example.com');
    assert.equal(ok(loadConfig({ PUBLIC_URL: 'https://example.com/portcullis/' }, noFile)).config.publicUrl, 'https://example.com/portcullis');
  });
});

describe('loadConfig errors name the field', () => {
  it('PORT: "abc" is not a port number', () => {
    assert.deepEqual(errorsOf(loadConfig({ PORT: 'abc' }, noFile)), ['PORT: "abc" is not a port number (0-65535)']);
    assert.deepEqual(errorsOf(loadConfig({ PORT: '70000' }, noFile)), ['PORT: 70000 is not a port number (0-65535)']);
    assert.deepEqual(errorsOf(loadConfig({ PORT: '80.5' }, noFile)), ['PORT: "80.5" is not a port number (0-65535)']);
  });

  it('reports every bad field at once', () => {
    const errors = errorsOf(loadConfig({ PORT: 'x', LOG_LEVEL: 'verbose', PORTCULLIS_PROFILE: 'prod', PORTCULLIS_RATE_LIMIT: '-1', PORTCULLIS_DEV_OUTBOX: 'maybe' }, noFile));
    assert.equal(errors.length, 5);
    assert.ok(errors.some((e) => e.startsWith('PORT: ')));
    assert.ok(errors.includes('LOG_LEVEL: "verbose" is not one of fatal, error, warn, info, debug, trace, silent'));
    assert.ok(errors.includes('PORTCULLIS_PROFILE: "prod" is not "dev" or "production"'));
    assert.ok(errors.some((e) => e.startsWith('PORTCULLIS_RATE_LIMIT: "-1"')));
    assert.ok(errors.includes('PORTCULLIS_DEV_OUTBOX: "maybe" is not true or false'));
  });

  it('rejects a public URL that is not plain http(s)', () => {
    for (const bad of ['ftp://example.com', 'not a url', 'https://example.com/?x=1', 'https://user:pw@example.com']) {
      const [error, ...rest] = errorsOf(loadConfig({ PUBLIC_URL: bad }, noFile));
      assert.equal(rest.length, 0);
      assert.match(error ?? '', /^PUBLIC_URL: .* is not an http\(s\) URL without query or fragment$/);
    }
  });

  it('never echoes a secret key or a database URL, which may hold a password', () => {
    const short = Buffer.alloc(16, 9).toString('base64');
    const keyErrors = errorsOf(loadConfig({ PORTCULLIS_SECRET_KEY: short }, noFile));
    assert.deepEqual(keyErrors, ['PORTCULLIS_SECRET_KEY: the value (hidden) is not the base64 encoding of 32 bytes (e.g. `openssl rand -base64 32`)']);
    assert.ok(!keyErrors.join().includes(short));

    const dbErrors = errorsOf(loadConfig({ DATABASE_URL: 'mysql://admin:s3cr3t-pw@db/app' }, noFile));
    assert.deepEqual(dbErrors, ['DATABASE_URL: the value (hidden) is not a postgres:// or postgresql:// URL']);
  });

  it('validates trusted proxy lists entry by entry', () => {
    assert.equal(ok(loadConfig({ PORTCULLIS_TRUST_PROXY: '2' }, noFile)).config.trustProxy, 2);
    assert.equal(ok(loadConfig({ PORTCULLIS_TRUST_PROXY: 'true' }, noFile)).config.trustProxy, true);
    assert.deepEqual(ok(loadConfig({ PORTCULLIS_TRUST_PROXY: '10.0.0.0/8, 127.0.0.1, ::1, loopback' }, noFile)).config.trustProxy, ['10.0.0.0/8', '127.0.0.1', '::1', 'loopback']);
    assert.deepEqual(errorsOf(loadConfig({ PORTCULLIS_TRUST_PROXY: '10.0.0.0/40,proxy' }, noFile)), [
      'PORTCULLIS_TRUST_PROXY: "10.0.0.0/40,proxy" is not true, false, a hop count, or a comma-separated list of proxy addresses or CIDRs',
    ]);
  });
});

describe('loadConfig database and key', () => {
  it('uses PostgreSQL when DATABASE_URL is set, SQLite in the data directory otherwise', () => {
    const pg = ok(loadConfig({ DATABASE_URL: 'postgres://u:p@127.0.0.1:5432/test' }, noFile)).config;
    assert.deepEqual(pg.database, { kind: 'postgres', url: 'postgres://u:p@127.0.0.1:5432/test' });
    assert.equal(ok(loadConfig({ DATABASE_URL: 'postgresql:///test?host=/run/postgresql' }, noFile)).config.database.kind, 'postgres');
    const sqlite = ok(loadConfig({ PORTCULLIS_DATA_DIR: '/var/lib/portcullis' }, noFile)).config;
    assert.deepEqual(sqlite.database, { kind: 'sqlite', path: '/var/lib/portcullis/portcullis.db' });
    assert.equal(sqlite.secretKeyFile, '/var/lib/portcullis/secret.key');
  });

  it('decodes a 32-byte key in standard or URL-safe base64', () => {
    const bytes = Buffer.from(Array.from({ length: 32 }, (_, i) => 250 - i));
    for (const text of [bytes.toString('base64'), bytes.toString('base64url')]) {
      const { config } = ok(loadConfig({ PORTCULLIS_SECRET_KEY: text }, noFile));
      assert.deepEqual(config.secretKey, bytes);
      assert.equal(config.useKeyFile, false);
    }
  });
});

describe('loadConfig production profile', () => {
  it('refuses to start without a secret key', () => {
    assert.deepEqual(errorsOf(loadConfig({ PORTCULLIS_PROFILE: 'production' }, noFile)), [
      'PORTCULLIS_SECRET_KEY: required in the production profile (the base64 encoding of 32 random bytes, e.g. `openssl rand -base64 32`)',
    ]);
  });

  it('refuses the development outbox', () => {
    assert.deepEqual(errorsOf(loadConfig({ PORTCULLIS_PROFILE: 'production', PORTCULLIS_SECRET_KEY: KEY, PORTCULLIS_DEV_OUTBOX: 'true' }, noFile)), [
      'PORTCULLIS_DEV_OUTBOX: the development outbox is refused in the production profile; configure a real transport',
    ]);
  });

  it('refuses a test pause point (PORTCULLIS_TEST_PAUSE_AT); the dev profile accepts it and warns', () => {
    assert.deepEqual(errorsOf(loadConfig({ PORTCULLIS_PROFILE: 'production', PORTCULLIS_SECRET_KEY: KEY, PORTCULLIS_TEST_PAUSE_AT: 'totp-confirm:factor-activated' }, noFile)), [
      'PORTCULLIS_TEST_PAUSE_AT: test-only (it freezes the server at a pause point) and refused in the production profile; unset it',
    ]);
    const { warnings } = ok(loadConfig({ PORTCULLIS_TEST_PAUSE_AT: 'totp-confirm:factor-activated' }, noFile));
    assert.ok(warnings.includes('PORTCULLIS_TEST_PAUSE_AT is set: the server freezes for good at the pause point "totp-confirm:factor-activated" (crash tests only).'));
    assert.ok(ok(loadConfig({ PORTCULLIS_PROFILE: 'production', PORTCULLIS_SECRET_KEY: KEY, PORTCULLIS_TEST_PAUSE_AT: ' ' }, noFile)), 'an empty variable counts as unset');
  });

  it('starts with a key, no key file, no outbox, and warns about a plain-http public URL', () => {
    const { config, warnings } = ok(loadConfig({ PORTCULLIS_PROFILE: 'production', PORTCULLIS_SECRET_KEY: KEY }, noFile));
    assert.equal(config.useKeyFile, false);
    assert.equal(config.devOutbox, false);
    assert.deepEqual(warnings, ['PUBLIC_URL: "http://localhost:8080" is not https; browsers refuse Secure cookies and passkeys on it.']);
    assert.deepEqual(ok(loadConfig({ PORTCULLIS_PROFILE: 'production', PORTCULLIS_SECRET_KEY: KEY, PUBLIC_URL: 'https://mfa.example.com' }, noFile)).warnings, []);
  });
});

describe('loadConfig with a JSON file (PORTCULLIS_CONFIG)', () => {
  const files: Record<string, string> = {
    '/etc/p.json': JSON.stringify({ port: 9090, host: '127.0.0.1', logLevel: 'debug', dataDir: '/srv/p', rateLimitPerMinute: 0, trustProxy: ['10.0.0.1'] }),
    '/etc/typo.json': JSON.stringify({ prot: 1, port: '80' }),
    '/etc/bad.json': `{ "secretKey": "${KEY}", `,
    '/etc/array.json': '[]',
  };
  const readFile = (path: string): string => {
    const text = files[path];
    if (text === undefined) throw Object.assign(new Error(`ENOENT: no such file, open '${path}'`), { code: 'ENOENT' });
    return text;
  };

  it('reads the file, and the environment wins over it', () => {
    const { config } = ok(loadConfig({ PORTCULLIS_CONFIG: '/etc/p.json', PORT: '7070' }, readFile));
    assert.equal(config.port, 7070);
    assert.equal(config.host, '127.0.0.1');
    assert.equal(config.logLevel, 'debug');
    assert.equal(config.dataDir, '/srv/p');
    assert.equal(config.rateLimitPerMinute, 0);
    assert.deepEqual(config.trustProxy, ['10.0.0.1']);
  });

  it('names the file and the field, and does not coerce types written in JSON', () => {
    assert.deepEqual(errorsOf(loadConfig({ PORTCULLIS_CONFIG: '/etc/typo.json' }, readFile)), [
      '/etc/typo.json: "prot" is not a configuration field (known: profile, port, host, publicUrl, logLevel, databaseUrl, dataDir, secretKey, trustProxy, rateLimitPerMinute, devOutbox, devClockHeader, demo, geoipDatabase, riskDenyLists, riskNetworks, riskTimeoutMs, impossibleTravelKmh, riskInactivityDays, riskFailureThreshold, riskFailureWindowMinutes, webauthn)',
      '/etc/typo.json: port: "80" is not a port number (0-65535)',
    ]);
  });

  it('reports an unreadable, malformed or non-object file without quoting its content', () => {
    assert.deepEqual(errorsOf(loadConfig({ PORTCULLIS_CONFIG: '/etc/missing.json' }, readFile)), ['PORTCULLIS_CONFIG: cannot read "/etc/missing.json" (ENOENT)']);
    const malformed = errorsOf(loadConfig({ PORTCULLIS_CONFIG: '/etc/bad.json' }, readFile));
    assert.deepEqual(malformed, ['PORTCULLIS_CONFIG: "/etc/bad.json" is not valid JSON']);
    assert.ok(!malformed.join().includes(KEY));
    assert.deepEqual(errorsOf(loadConfig({ PORTCULLIS_CONFIG: '/etc/array.json' }, readFile)), ['PORTCULLIS_CONFIG: "/etc/array.json" must hold a JSON object']);
  });
});

describe('describeConfig', () => {
  it('is safe to log: no key bytes, no database password', () => {
    const { config } = ok(loadConfig({ PORTCULLIS_SECRET_KEY: KEY, DATABASE_URL: 'postgres://app:hunter2@db:5432/p' }, noFile));
    const text = JSON.stringify(describeConfig(config));
    assert.ok(!text.includes(KEY));
    assert.ok(!text.includes('hunter2'));
    assert.match(text, /"secretKey":"set"/);
    assert.match(text, /postgres:\/\/app:\*\*\*@db:5432\/p/);
  });
});

describe('loadConfig properties', () => {
  const names = ['PORT', 'HOST', 'PUBLIC_URL', 'LOG_LEVEL', 'DATABASE_URL', 'PORTCULLIS_DATA_DIR', 'PORTCULLIS_SECRET_KEY', 'PORTCULLIS_PROFILE', 'PORTCULLIS_TRUST_PROXY', 'PORTCULLIS_RATE_LIMIT', 'PORTCULLIS_DEV_OUTBOX'];

  it('never throws, and every error starts with the name of a variable it was given', () => {
    fc.assert(
      fc.property(fc.dictionary(fc.constantFrom(...names), fc.string({ maxLength: 60 })), (env) => {
        const result = loadConfig(env, noFile);
        if (!result.ok) {
          for (const error of result.errors) {
            assert.ok(names.some((name) => error.startsWith(`${name}: `) && env[name] !== undefined), error);
          }
        }
      }),
      { numRuns: 500 },
    );
  });

  it('accepts exactly the decimal ports 0-65535', () => {
    fc.assert(
      fc.property(fc.oneof(fc.integer({ min: -10, max: 70_000 }).map(String), fc.string({ maxLength: 8 })), (text) => {
        const result = loadConfig({ PORT: text }, noFile);
        const expected = /^\s*\d{1,9}\s*$/.test(text) && Number(text) <= 65535 ? true : text.trim() === '';
        assert.equal(result.ok, expected, text);
      }),
      { numRuns: 500 },
    );
  });
});
