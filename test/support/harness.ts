/**
 * An in-process Portcullis for API tests: a real store (a fresh SQLite file, or a fresh PostgreSQL schema), the
 * migrations, the HTTP app from `buildApp` with the admin routes (plus any `extraRoutes`), a platform admin token,
 * and helpers to call the API with `app.inject()`.
 *
 * @example
 * forEachDialect((dialect) => {
 *   let h: Harness;
 *   before(async () => { h = await createHarness({ dialect }); });
 *   after(() => h.close());
 *   it('creates a tenant', async () => {
 *     const res = await h.call(h.platformToken, 'POST', '/tenants', { slug: 'acme', name: 'Acme' });
 *     assert.equal(res.status, 201);
 *   });
 * });
 */
import type { WebauthnConfig } from '../../src/config.ts';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe } from 'node:test';
import { DELIVERABLE_FACTOR_TYPES } from '../../src/factors/index.ts';
import { createSecretBox } from '../../src/factors/secret-box.ts';
import type { DestinationStream } from 'pino';
import { buildApp, type PortcullisApp } from '../../src/http/app.ts';
import { createLogger } from '../../src/http/logger.ts';
import { registerAdminRoutes } from '../../src/http/routes/admin/index.ts';
import { generateToken, hashToken } from '../../src/factors/tokens.ts';
import type { ServiceDeps } from '../../src/services/deps.ts';
import { createResultSigner } from '../../src/services/signing-keys.ts';
import type { RiskEngine } from '../../src/risk/engine.ts';
import { createStore, migrateToLatest, openDatabase, type Database, type Store } from '../../src/store/index.ts';
import { createFreshSchema, dropSchema, postgresTestUrl } from './postgres.ts';

export type Dialect = 'sqlite' | 'postgres';

/** Registers more routes on the `/api/v1` scope (after the admin routes), e.g. the application API. */
export type RouteRegistrar = (api: PortcullisApp, deps: ServiceDeps) => Promise<void>;

/**
 * Routes every harness registers besides the admin API. The application-facing routes (`/auth/*`) go here once
 * they are wired, so every API test gets them without changing each suite.
 */
export const EXTRA_ROUTES: RouteRegistrar[] = [];

export interface HarnessOptions {
  readonly dialect: Dialect;
  /** The clock every service reads; default a settable test clock starting at the real time. */
  readonly now?: () => number;
  /** Routes to add for this harness (default {@link EXTRA_ROUTES}). */
  readonly extraRoutes?: readonly RouteRegistrar[];
  /** Opens the (empty) database instead of {@link openTestDatabase}; it is migrated and disposed by the harness. */
  readonly openDatabase?: () => Promise<{ database: Database; dispose(): Promise<void> }>;
  /** Where the app's JSON log lines (level `info`) go; none are written when absent. */
  readonly logDestination?: DestinationStream;
  /** The proxies trusted for `X-Forwarded-For` (default: none). */
  readonly trustProxy?: boolean | readonly string[];
  /** The risk engine (default: the services' unwired engine, no GeoIP). */
  readonly risk?: RiskEngine;
  /** Turn on the development clock header (`X-Portcullis-Now`, src/http/dev-clock.ts). */
  readonly devClockHeader?: boolean;
  /** The WebAuthn configuration (default: RP `localhost`, origin `http://localhost`). */
  readonly webauthn?: WebauthnConfig;
}

/** A JSON answer from {@link Harness.call}. */
export interface CallResult {
  readonly status: number;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- tests read arbitrary JSON answers
  readonly body: any;
  readonly headers: Record<string, unknown>;
}

/** A settable clock (used when no `now` is given). */
export interface TestClock {
  now(): number;
  set(ms: number): void;
  advance(ms: number): void;
}

export interface Harness {
  readonly dialect: Dialect;
  readonly app: PortcullisApp;
  readonly store: Store;
  readonly database: Database;
  readonly deps: ServiceDeps;
  readonly clock: TestClock;
  /** A platform-wide admin token (bearer). */
  readonly platformToken: string;
  readonly platformTokenId: string;
  /** Creates a tenant-scoped admin token directly in the store and returns it. */
  tenantToken(tenantId: string, label?: string): Promise<{ token: string; id: string }>;
  /** Calls the API (path relative to `/api/v1`) with a bearer token (or none) and a JSON body. */
  call(token: string | null, method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE', path: string, body?: unknown): Promise<CallResult>;
  /** Sends a raw body string (e.g. invalid JSON) with `Content-Type: application/json`. */
  callRaw(token: string | null, method: 'POST' | 'PUT' | 'PATCH', path: string, payload: string): Promise<CallResult>;
  close(): Promise<void>;
}

/** An answer's body: its JSON, the text itself when it is not JSON, `null` when empty. */
export function parseBody(text: string): unknown {
  if (text === '') return null;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

/**
 * Opens a fresh, empty database of a dialect, as the store contract tests do: SQLite in a new temporary folder;
 * PostgreSQL in a new schema of `PORTCULLIS_TEST_DATABASE_URL`, dropped on dispose. Rejects (never skips) when
 * PostgreSQL is asked for and unreachable.
 */
export async function openTestDatabase(dialect: Dialect): Promise<{ database: Database; dispose(): Promise<void> }> {
  if (dialect === 'sqlite') {
    const dir = mkdtempSync(join(tmpdir(), 'portcullis-api-'));
    const database = await openDatabase({ sqlitePath: join(dir, 'portcullis.db') });
    return {
      database,
      dispose: async () => {
        await database.close();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  }
  const url = postgresTestUrl();
  if (url === undefined) throw new Error('PORTCULLIS_TEST_DATABASE_URL is not set');
  const schema = await createFreshSchema(url, 'portcullis_api');
  const database = await openDatabase({ url, schema, poolSize: 5 });
  return {
    database,
    dispose: async () => {
      await database.close();
      await dropSchema(url, schema);
    },
  };
}

function testClock(): TestClock {
  // Whole seconds, so that times survive the ISO round trip in answers exactly.
  let current = Math.floor(Date.now() / 1000) * 1000;
  return {
    now: () => current,
    set: (ms) => {
      current = ms;
    },
    advance: (ms) => {
      current += ms;
    },
  };
}

const silent = { info: (): void => {}, warn: (): void => {}, error: (): void => {} };

/** Builds a harness; call `close()` when done. */
export async function createHarness(options: HarnessOptions): Promise<Harness> {
  const { database, dispose } = await (options.openDatabase ?? (() => openTestDatabase(options.dialect)))();
  try {
    await migrateToLatest(database);
    const store = createStore(database);
    const clock = testClock();
    const now = options.now ?? clock.now;
    const base: ServiceDeps = { store, secrets: createSecretBox(randomBytes(32)), now, logger: silent, deliverableFactors: DELIVERABLE_FACTOR_TYPES, ...(options.risk === undefined ? {} : { risk: options.risk }), ...(options.webauthn === undefined ? {} : { webauthn: options.webauthn }) };
    const results = createResultSigner(base, { issuer: 'http://portcullis.test' });
    await results.ensureKey(now());
    const deps: ServiceDeps = { ...base, results };
    const extra = options.extraRoutes ?? EXTRA_ROUTES;
    const logLevel = options.logDestination === undefined ? 'silent' : 'info';
    const app = await buildApp({
      config: { logLevel, publicUrl: 'http://localhost', trustProxy: options.trustProxy ?? false, rateLimitPerMinute: 0, ...(options.devClockHeader === true ? { devClockHeader: true } : {}) },
      ...(options.logDestination === undefined ? {} : { logger: createLogger({ level: logLevel, destination: options.logDestination }) }),
      ping: () => database.ping(),
      registerRoutes: async (api) => {
        await registerAdminRoutes(api, deps);
        for (const register of extra) await register(api, deps);
      },
    });
    await app.ready();

    const platformToken = generateToken('pcat');
    const platformRecord = await store.adminTokens.create({ tokenHash: hashToken(platformToken), tenantId: null, label: 'test platform', now: now() });

    const toResult = (res: { statusCode: number; body: string; headers: Record<string, unknown> }): CallResult => ({ status: res.statusCode, body: parseBody(res.body), headers: res.headers });
    const auth = (token: string | null): Record<string, string> => (token === null ? {} : { authorization: `Bearer ${token}` });

    return {
      dialect: options.dialect,
      app,
      store,
      database,
      deps,
      clock,
      platformToken,
      platformTokenId: platformRecord.id,
      tenantToken: async (tenantId, label = 'test tenant admin') => {
        const token = generateToken('pcat');
        const record = await store.adminTokens.create({ tokenHash: hashToken(token), tenantId, label, now: now() });
        return { token, id: record.id };
      },
      call: async (token, method, path, body) => {
        const res = await app.inject({
          method,
          url: `/api/v1${path}`,
          headers: { ...auth(token), ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
          ...(body === undefined ? {} : { payload: JSON.stringify(body) }),
        });
        return toResult(res);
      },
      callRaw: async (token, method, path, payload) => {
        const res = await app.inject({ method, url: `/api/v1${path}`, headers: { ...auth(token), 'content-type': 'application/json' }, payload });
        return toResult(res);
      },
      close: async () => {
        await app.close();
        await dispose();
      },
    };
  } catch (error) {
    await dispose();
    throw error;
  }
}

/**
 * Runs `suite` once per dialect, each inside its own `describe`: always on SQLite; on PostgreSQL when
 * `PORTCULLIS_TEST_DATABASE_URL` is set (then an unreachable database fails the suite — it never skips), and
 * otherwise a skipped suite that says why.
 */
export function forEachDialect(suite: (dialect: Dialect) => void): void {
  describe('sqlite', () => suite('sqlite'));
  const skip = postgresTestUrl() === undefined ? 'PORTCULLIS_TEST_DATABASE_URL is not set; PostgreSQL API tests skipped' : undefined;
  describe('postgres', { skip }, () => suite('postgres'));
}
