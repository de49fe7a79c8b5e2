/**
 * One Portcullis server for a benchmark: the real composition root (`createRuntime` + `buildApp`) listening on
 * 127.0.0.1:0, on a fresh SQLite file in a temporary folder or a fresh PostgreSQL schema (dropped on close), with
 * the coarse per-IP rate limit off and logs at `warn`. Plus seeding helpers that write through the store (seeding
 * is not what is measured).
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../src/config.ts';
import type { PolicyLayer } from '../../src/core/index.ts';
import { secretAad } from '../../src/factors/secret-box.ts';
import { generateTotpSecret } from '../../src/factors/totp.ts';
import { buildApp, type PortcullisApp } from '../../src/http/app.ts';
import { createLogger } from '../../src/http/logger.ts';
import { generateToken, hashToken } from '../../src/factors/tokens.ts';
import { createRuntime, type Runtime } from '../../src/runtime.ts';
import type { ApplicationRecord } from '../../src/store/index.ts';
import { createFreshSchema, dropSchema } from '../../test/support/postgres.ts';
import { SoftCredential } from '../../test/support/soft-authenticator.ts';

export type BenchDialect = 'sqlite' | 'postgres';

/** A listening benchmark server. */
export interface BenchServer {
  readonly dialect: BenchDialect;
  /** `http://127.0.0.1:<port>` */
  readonly url: string;
  readonly app: PortcullisApp;
  readonly runtime: Runtime;
  /** Where the data lives, for the report (no password). */
  readonly where: string;
  close(): Promise<void>;
}

/** The PostgreSQL URL the benchmarks use: `PORTCULLIS_TEST_DATABASE_URL`, `DATABASE_URL`, or the local default. */
export function benchPostgresUrl(): string {
  for (const name of ['PORTCULLIS_TEST_DATABASE_URL', 'DATABASE_URL']) {
    const value = process.env[name]?.trim();
    if (value !== undefined && value !== '') return value;
  }
  return 'postgres://postgres@127.0.0.1:5432/test';
}

function hostOf(url: string): string {
  try {
    const u = new URL(url);
    return `${u.hostname}:${u.port === '' ? '5432' : u.port}${u.pathname}`;
  } catch {
    return '(unparsable URL)';
  }
}

/** Starts a server on a fresh database of `dialect`; `env` adds configuration (e.g. a fixed `PORT` and `PUBLIC_URL`). */
export async function startBenchServer(dialect: BenchDialect, env: Record<string, string> = {}): Promise<BenchServer> {
  const cluster = await startBenchCluster(dialect, 1, env);
  const node = cluster.nodes[0];
  if (node === undefined) throw new Error('a cluster of one has one node');
  return { ...node, close: () => cluster.close() };
}

/** Several nodes (servers) of one fresh database, as a scale-out deployment runs them: same key, own pools. */
export interface BenchCluster {
  readonly nodes: readonly Omit<BenchServer, 'close'>[];
  readonly where: string;
  close(): Promise<void>;
}

/**
 * Starts `count` servers on one fresh database of `dialect` (each with its own runtime and connection pool, all
 * with one secret key), one after the other so that the first runs the migrations. On SQLite several nodes share
 * the one file from one process. `env` adds configuration variables (e.g. the risk engine's GeoIP and deny lists).
 */
export async function startBenchCluster(dialect: BenchDialect, count: number, env: Readonly<Record<string, string>> = {}): Promise<BenchCluster> {
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-bench-'));
  const pgUrl = dialect === 'postgres' ? benchPostgresUrl() : null;
  let schema: string | null = null;
  const closers: (() => Promise<void>)[] = [];
  const cleanup = async (): Promise<void> => {
    for (const close of closers.reverse()) await close();
    if (pgUrl !== null && schema !== null) await dropSchema(pgUrl, schema);
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    if (pgUrl !== null) schema = await createFreshSchema(pgUrl, 'portcullis_bench');
    const loaded = loadConfig({
      PORTCULLIS_PROFILE: 'dev',
      PORTCULLIS_DATA_DIR: dir,
      PORTCULLIS_SECRET_KEY: randomBytes(32).toString('base64'),
      LOG_LEVEL: 'warn',
      PORTCULLIS_RATE_LIMIT: '0',
      HOST: '127.0.0.1',
      PORT: '0',
      ...(pgUrl === null ? {} : { DATABASE_URL: pgUrl }),
      ...env,
    });
    if (!loaded.ok) throw new Error(`bench configuration: ${loaded.errors.join('; ')}`);
    const config = loaded.config;
    const where = pgUrl === null ? `SQLite file in ${dir}` : `PostgreSQL ${hostOf(pgUrl)}, schema ${schema ?? ''} (dropped afterwards)`;
    const nodes: Omit<BenchServer, 'close'>[] = [];
    for (let i = 0; i < count; i++) {
      const logger = createLogger({ level: config.logLevel });
      const runtime = await createRuntime(config, { logger, ...(schema === null ? {} : { schema }) });
      const app = await buildApp({ config, logger, ping: () => runtime.database.ping(), registerRoutes: runtime.registerRoutes, registerRootRoutes: runtime.registerRootRoutes });
      // Handlers still running when the load generator hangs up at the end of a run (their client is gone) must
      // finish before the database closes: count them from the request to the reply's payload (`onSend` runs for
      // every answer, errors included, whether or not the socket is still there).
      let inFlight = 0;
      app.addHook('onRequest', async () => {
        inFlight++;
      });
      app.addHook('onSend', async (_request, _reply, payload) => {
        inFlight--;
        return payload;
      });
      closers.push(async () => {
        for (let waited = 0; inFlight > 0 && waited < 30_000; waited += 50) await new Promise((resolve) => setTimeout(resolve, 50));
        await app.close();
        await runtime.close();
      });
      await app.listen({ host: '127.0.0.1', port: count === 1 ? config.port : 0 });
      const address = app.server.address();
      if (address === null || typeof address === 'string') throw new Error('the server has no TCP address');
      nodes.push({ dialect, url: `http://127.0.0.1:${address.port}`, app, runtime, where });
    }
    return { nodes, where, close: cleanup };
  } catch (error) {
    await cleanup().catch(() => undefined);
    throw error;
  }
}

/** A seeded tenant and application, and the `Authorization` header of the application's client credentials. */
export interface SeededTenant {
  readonly tenantId: string;
  readonly slug: string;
  readonly application: ApplicationRecord;
  readonly authorization: string;
}

/** Creates a tenant, an application with a known client secret, and a tenant policy layer. */
export async function seedTenant(runtime: Runtime, slug: string, layer: PolicyLayer): Promise<SeededTenant> {
  const { store } = runtime;
  const now = Date.now();
  const tenant = await store.tenants.create({ slug, name: slug, now });
  const clientId = `bench-${slug}`;
  const clientSecret = generateToken('pcs');
  const application = await store.applications.create({ name: `${slug} app`, firstParty: false, clientId, clientSecretHash: hashToken(clientSecret), now });
  // Applications serve only the tenants assigned to them (or all, with `allTenants`): this one serves its tenant.
  await store.applications.assignTenant(application.id, tenant.id, now);
  await store.forTenant(tenant.id).policies.saveVersion({ level: 'tenant' }, { layer, effectiveAt: now, createdBy: 'bench', now });
  return { tenantId: tenant.id, slug, application, authorization: `Basic ${Buffer.from(`${clientId}:${clientSecret}`).toString('base64')}` };
}

/** A seeded user with one active TOTP factor and its raw secret. */
export interface TotpUser {
  readonly userId: string;
  readonly secret: Buffer;
}

/**
 * Creates `count` users, each with its own active TOTP factor (sealed as enrollment seals it), in transactions of
 * 500. Optional `passwordHash` is given to every user.
 */
export async function seedTotpUsers(runtime: Runtime, tenantId: string, count: number, prefix: string, passwordHash: string | null = null): Promise<TotpUser[]> {
  const { store, deps } = runtime;
  const out: TotpUser[] = [];
  const now = Date.now();
  for (let start = 0; start < count; start += 500) {
    const end = Math.min(count, start + 500);
    await store.transaction(async (tx) => {
      const t = tx.forTenant(tenantId);
      for (let i = start; i < end; i++) {
        const user = await t.users.create({ email: `${prefix}-${i}@bench.example`, passwordHash, now });
        const secret = generateTotpSecret();
        const factorId = randomUUID();
        await t.factors.create({ id: factorId, userId: user.id, type: 'totp', status: 'active', label: 'bench', secretEnc: deps.secrets.seal(secret, secretAad(tenantId, factorId)), now });
        out.push({ userId: user.id, secret });
      }
    });
  }
  return out;
}

/** A seeded passkey user: the software authenticator's seed rebuilds the credential in the load worker. */
export interface PasskeyUser {
  readonly userId: string;
  readonly seed: string;
}

/**
 * Users with one registered passkey each (a software authenticator's credential: test/support/soft-authenticator.ts),
 * written straight to the store as a registration would leave them.
 */
export async function seedPasskeyUsers(runtime: Runtime, tenantId: string, count: number, prefix: string): Promise<PasskeyUser[]> {
  const { store } = runtime;
  const out: PasskeyUser[] = [];
  const now = Date.now();
  const rpId = runtime.deps.webauthn?.rpId ?? 'localhost';
  for (let start = 0; start < count; start += 500) {
    const end = Math.min(count, start + 500);
    await store.transaction(async (tx) => {
      const t = tx.forTenant(tenantId);
      for (let i = start; i < end; i++) {
        const user = await t.users.create({ email: `${prefix}-${i}@bench.example`, passwordHash: null, now });
        const seed = `${prefix}-${i}-${user.id}`;
        const credential = new SoftCredential({ seed, rpId, origin: 'unused', userHandle: user.id });
        await t.factors.create({
          userId: user.id,
          type: 'webauthn',
          status: 'active',
          label: 'Passkey',
          credentialId: credential.id,
          signCount: 0,
          data: { publicKey: Buffer.from(credential.cosePublicKey()).toString('base64url'), transports: ['internal'], aaguid: '00000000-0000-0000-0000-000000000000', deviceType: 'multiDevice', backedUp: true, userVerified: true },
          now,
        });
        out.push({ userId: user.id, seed });
      }
    });
  }
  return out;
}

/** Runs `fn` over `items` with at most `concurrency` in flight; results in input order. */
export async function mapConcurrent<T, R>(items: readonly T[], concurrency: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array<R>(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.max(1, concurrency) }, async () => {
      for (let i = next++; i < items.length; i = next++) results[i] = await fn(items[i] as T);
    }),
  );
  return results;
}

/** `12,345` */
export function fmt(n: number, digits = 0): string {
  return n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}
