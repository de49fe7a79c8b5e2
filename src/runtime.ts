/**
 * The composition root: configuration → secret key → database → store → services → HTTP routes. `portcullis
 * start`, the test harness and the benchmarks all build the server through here, so they run the same wiring.
 */
import type { FastifyBaseLogger } from 'fastify';
import type { Config } from './config.ts';
import { loadOrCreateKeyFile } from './factors/dev-key.ts';
import { DELIVERABLE_FACTOR_TYPES } from './factors/index.ts';
import { createSecretBox } from './factors/secret-box.ts';
import type { PortcullisApp } from './http/app.ts';
import { registerAdminRoutes } from './http/routes/admin/index.ts';
import { clientCredentialsAuthenticator, registerAuthRoutes } from './http/routes/auth/index.ts';
import { useAttestationRoots } from './factors/webauthn-factor.ts';
import { registerWellKnownRoutes } from './http/routes/well-known.ts';
import { registerOidcRoutes } from './http/oidc/index.ts';
import { registerAccountPortal } from './http/account/portal.ts';
import { registerDemoRoutes } from './http/demo/relying-party.ts';
import { createDemo, type DemoCreated } from './services/demo.ts';
import { hkdfSync } from 'node:crypto';
import { generateToken, hashToken } from './factors/tokens.ts';
import type { ServiceDeps } from './services/deps.ts';
import { createConfiguredRiskEngine } from './risk/setup.ts';
import { checkSecretKey } from './services/key-check.ts';
import { createResultSigner, type ResultSigner } from './services/signing-keys.ts';
import { createStore, keyCheckRepository, migrateToLatest, oidcClientRepository, oidcPayloadRepository, openDatabase, type Database, type NewAuditEvent, type Store } from './store/index.ts';

export interface Runtime {
  readonly database: Database;
  readonly store: Store;
  readonly deps: ServiceDeps;
  /** Registers every API route (mounted under /api/v1 by `buildApp`). */
  readonly registerRoutes: (app: PortcullisApp) => Promise<void>;
  /** Registers the routes outside /api/v1: `/.well-known/jwks.json`. */
  readonly registerRootRoutes: (app: PortcullisApp) => Promise<void>;
  /** Signs sign-in results; its key set is served at `/.well-known/jwks.json`. */
  readonly signer: ResultSigner;
  /** True when the dev profile generated the secret key file on this start. */
  readonly keyCreated: boolean;
  /** Creates the demo tenant, user and OIDC client (config `demo`; `start` calls it on an empty database). */
  createDemo(): Promise<DemoCreated>;
  close(): Promise<void>;
}

export interface RuntimeOptions {
  readonly logger: FastifyBaseLogger;
  /** The clock; tests inject one to stand at an exact second. */
  readonly now?: () => number;
  /** A PostgreSQL schema to use (tests isolate runs in their own schema). */
  readonly schema?: string;
}

function secretKeyOf(config: Config): { key: Buffer; created: boolean } {
  if (config.secretKey !== null) return { key: config.secretKey, created: false };
  const file = loadOrCreateKeyFile(config.secretKeyFile);
  return { key: file.key, created: file.created };
}

/** Where the key came from, as the key-check error names it. */
function keySourceOf(config: Config, created: boolean): string {
  if (config.secretKey !== null) return 'PORTCULLIS_SECRET_KEY (or secretKey in the configuration file)';
  return created ? `the dev key file ${config.secretKeyFile}, created just now because it was missing` : `the dev key file ${config.secretKeyFile}`;
}

/**
 * Opens the database, runs migrations, proves the secret key opens the database's sealed secrets, and wires
 * services and routes. A wrong or lost key rejects with `PortcullisError('SECRET_UNREADABLE')` (see
 * `src/services/key-check.ts`) and nothing is left open.
 */
export async function createRuntime(config: Config, options: RuntimeOptions): Promise<Runtime> {
  const { key, created } = secretKeyOf(config);
  const secrets = createSecretBox(key);
  const now = options.now ?? Date.now;
  const database = await openDatabase(
    config.database.kind === 'postgres'
      ? { url: config.database.url, ...(options.schema === undefined ? {} : { schema: options.schema }) }
      : { sqlitePath: config.database.path },
  );
  try {
    await migrateToLatest(database);
    await checkSecretKey(keyCheckRepository(database), secrets, now(), keySourceOf(config, created));
  } catch (error) {
    await database.close();
    throw error;
  }
  const store = createStore(database);
  let riskSetup: Awaited<ReturnType<typeof createConfiguredRiskEngine>>;
  try {
    riskSetup = await createConfiguredRiskEngine(config.risk, options.logger);
  } catch (error) {
    await database.close();
    throw error;
  }
  try {
    useAttestationRoots(config.webauthn.attestationRoots);
  } catch (error) {
    riskSetup.close();
    await database.close();
    throw error;
  }
  const base: ServiceDeps = { store, secrets, now, logger: options.logger, deliverableFactors: DELIVERABLE_FACTOR_TYPES, risk: riskSetup.engine, webauthn: config.webauthn };
  const signer = createResultSigner(base, { issuer: config.publicUrl });
  const deps: ServiceDeps = { ...base, results: signer };
  try {
    // The first start creates the signing key; nodes starting together on PostgreSQL agree on one.
    await signer.ensureKey(deps.now());
  } catch (error) {
    await database.close();
    throw error;
  }
  const oidcClients = oidcClientRepository(database);
  // Cookie signing, CSRF tokens and client-secret stand-ins of the OIDC provider: derived from the secret key.
  const macKey = Buffer.from(hkdfSync('sha256', key, Buffer.alloc(0), 'portcullis oidc mac key', 32));
  return {
    database,
    store,
    deps,
    keyCreated: created,
    signer,
    registerRootRoutes: async (app) => {
      await registerWellKnownRoutes(app, signer, deps.now, config.webauthn);
      await registerOidcRoutes(app, { deps, signer, payloads: oidcPayloadRepository(database), clients: oidcClients, publicUrl: config.publicUrl, macKey });
      await registerAccountPortal(app, { deps, payloads: oidcPayloadRepository(database), publicUrl: config.publicUrl, macKey });
      if (config.demo) await registerDemoRoutes(app, { deps, clients: oidcClients, publicUrl: config.publicUrl, macKey });
    },
    createDemo: () => createDemo(deps, oidcClients, { publicUrl: config.publicUrl, macKey }),
    registerRoutes: async (app) => {
      await registerAdminRoutes(app, deps, oidcClients);
      await registerAuthRoutes(app, deps, clientCredentialsAuthenticator());
    },
    close: () => {
      riskSetup.close();
      return database.close();
    },
  };
}

/**
 * On an empty database, creates the first platform admin token and returns it (to be printed once); otherwise
 * null. Only the token's hash is stored.
 */
export async function bootstrapFirstAdmin(store: Store, now: number): Promise<string | null> {
  // Locked, so that nodes starting together on one empty database make one first admin, not one each.
  return store.transaction(async (tx) => {
    await tx.adminTokens.lockForChange();
    if ((await tx.adminTokens.count()) > 0) return null;
    const token = generateToken('pat');
    await tx.adminTokens.create({ tokenHash: hashToken(token), tenantId: null, label: 'first platform admin (bootstrap)', now });
    return token;
  });
}

/** Audit records per multi-row INSERT in a sweep (8 parameters each: well within both databases' limits). */
const SWEEP_AUDIT_CHUNK = 500;

/**
 * Housekeeping every node may run (each step is a conditional write, so two nodes doing it at once is harmless):
 * abandoned MFA sessions are marked expired and audited as `mfa.abandoned`; expired pending factors are deleted;
 * sign-in throttle rows whose window ended are deleted (a hit on one would have restarted it anyway).
 */
export async function sweep(store: Store, now: number): Promise<{ abandoned: number; pendingDeleted: number; throttlesDeleted: number; challengesDeleted: number }> {
  // The expiry and its audit records in one transaction, the records in multi-row statements (issue 13: one commit
  // for a sweep, not one per abandoned session — on SQLite each would hold the only connection).
  const expired = await store.transaction(async (tx) => {
    const sessions = await tx.maintenance.expireMfaSessions(now);
    const byTenant = new Map<string, NewAuditEvent[]>();
    for (const session of sessions) {
      const events = byTenant.get(session.tenantId) ?? [];
      events.push({
        at: now,
        actor: 'system',
        event: 'mfa.abandoned',
        userId: session.userId,
        applicationId: session.applicationId,
        data: { purpose: session.purpose, action: session.action, outcome: session.state.outcome },
      });
      byTenant.set(session.tenantId, events);
    }
    for (const [tenantId, events] of byTenant) {
      for (let i = 0; i < events.length; i += SWEEP_AUDIT_CHUNK) await tx.forTenant(tenantId).audit.appendMany(events.slice(i, i + SWEEP_AUDIT_CHUNK));
    }
    return sessions;
  });
  const pendingDeleted = await store.maintenance.deleteExpiredPendingFactors(now);
  const throttlesDeleted = await store.maintenance.deleteExpiredSigninThrottles(now);
  const challengesDeleted = await store.maintenance.deleteExpiredWebauthnChallenges(now);
  return { abandoned: expired.length, pendingDeleted, throttlesDeleted, challengesDeleted };
}
