/** The one {@link Store} implementation: Kysely over SQLite or PostgreSQL. */
import { auditRepository, maintenanceRepository, platformAuditRepository } from './audit-repositories.ts';
import { createCatalog, type Catalog } from './catalog.ts';
import type { Database } from './database.ts';
import { factorRepository, recoveryCodeRepository } from './factor-repositories.ts';
import { beginTransaction, guardRoot, type Binding } from './kysely-support.ts';
import { adminTokenRepository, applicationRepository, tenantRepository } from './platform-repositories.ts';
import { applicationPolicyRepository, tenantPolicyRepository } from './policy-repositories.ts';
import { loginSessionRepository, mfaSessionRepository, signinHistoryRepository, trustedDeviceRepository } from './session-repositories.ts';
import { riskHistoryRepository } from './risk-history-repository.ts';
import { shadowPolicyRepository } from './shadow-policy-repository.ts';
import { signingKeyRepository } from './signing-key-repository.ts';
import { signinThrottleRepository } from './signin-throttle-repository.ts';
import type { Store, TenantStore } from './types.ts';
import { userRepository } from './user-repository.ts';
import { webauthnChallengeRepository } from './webauthn-challenge-repository.ts';

function bind(binding: Binding, catalog: Catalog): Store {
  const store: Store = {
    dialect: binding.dialect,
    catalog,
    tenants: tenantRepository(binding),
    applications: applicationRepository(binding),
    adminTokens: adminTokenRepository(binding),
    applicationPolicies: applicationPolicyRepository(binding),
    audit: platformAuditRepository(binding),
    maintenance: maintenanceRepository(binding),
    signingKeys: signingKeyRepository(binding),
    forTenant: (tenantId: string): TenantStore => ({
      tenantId,
      users: userRepository(binding, tenantId),
      policies: tenantPolicyRepository(binding, tenantId),
      factors: factorRepository(binding, tenantId),
      recoveryCodes: recoveryCodeRepository(binding, tenantId),
      mfaSessions: mfaSessionRepository(binding, tenantId),
      loginSessions: loginSessionRepository(binding, tenantId),
      signins: signinHistoryRepository(binding, tenantId),
      trustedDevices: trustedDeviceRepository(binding, tenantId),
      webauthnChallenges: webauthnChallengeRepository(binding, tenantId),
      audit: auditRepository(binding, tenantId),
      signinThrottle: signinThrottleRepository(binding, tenantId),
      riskHistory: riskHistoryRepository(binding, tenantId),
      shadowPolicy: shadowPolicyRepository(binding, tenantId),
    }),
    transaction: <T>(fn: (tx: Store) => Promise<T>): Promise<T> => {
      if (binding.inTransaction) return fn(store);
      return beginTransaction(binding, (trx) => fn(bind({ db: trx, root: binding.root, dialect: binding.dialect, inTransaction: true }, catalog)));
    },
    batch: <T>(fn: (tx: Store) => Promise<T>): Promise<T> => (binding.dialect === 'sqlite' ? store.transaction(fn) : fn(store)),
  };
  return store;
}

/**
 * The repositories over an open database (both dialects). Run `migrateToLatest(database)` first.
 *
 * @example
 * const database = await openDatabase({ url: process.env.DATABASE_URL });
 * await migrateToLatest(database);
 * const store = createStore(database);
 * const tenant = await store.tenants.create({ slug: 'acme', name: 'Acme', now: Date.now() });
 * const users = store.forTenant(tenant.id).users;
 */
export function createStore(database: Database): Store {
  const root = guardRoot(database.db);
  const store: Store = bind({ db: root, root: database.db, dialect: database.dialect, inTransaction: false }, createCatalog(root, () => store));
  return store;
}
