export * from './types.ts';
export { flowState } from './flow-state.ts';
export { DEFAULT_SQLITE_PATH, openDatabase, selectDialect, type Database, type DatabaseConfig, type Dialect } from './database.ts';
export { migrateToLatest, migrationsFor, type MigrationReport } from './migrations/index.ts';
export { createStore } from './kysely-store.ts';
export { keyCheckRepository, type KeyCheckRepository, type SealedFactorSecret } from './key-check-repository.ts';
export type { Catalog, CatalogView } from './catalog.ts';
export { oidcClientRepository, oidcPayloadRepository, type OidcClientRecord, type OidcClientRepository, type OidcPayloadRepository, type StoredPayload } from './oidc-repository.ts';
