/**
 * The admin API (bearer admin token; platform-wide or tenant-scoped), mounted by the caller under `/api/v1`.
 *
 * Routes are thin: authenticate, validate, call one service in src/services/admin, shape the answer. Tenant
 * isolation (SECURITY rule 8) and audit (rule 11) live in the services, so every caller gets them.
 */
import type { FastifyInstance } from 'fastify';
import type { ServiceDeps } from '../../../services/deps.ts';
import { requireAdmin } from '../../auth.ts';
import { registerAdminTokenRoutes } from './admin-token-routes.ts';
import { registerApplicationRoutes } from './application-routes.ts';
import { registerAuditRoutes } from './audit-routes.ts';
import { registerOidcClientRoutes } from './oidc-client-routes.ts';
import type { OidcClientRepository } from '../../../store/index.ts';
import { registerFactorRoutes } from './factor-routes.ts';
import { registerPolicyRoutes } from './policy-routes.ts';
import { registerSessionRoutes } from './session-routes.ts';
import { registerTenantRoutes } from './tenant-routes.ts';
import { registerUserRoutes } from './user-routes.ts';

/**
 * Registers every admin route in its own encapsulated scope: the admin token is checked on `onRequest` (before
 * the body is parsed, so an unauthenticated caller learns nothing from validation),; bodies are validated strictly
 * app-wide (src/http/validator.ts).
 *
 * @example
 * await buildApp({ config, ping, registerRoutes: (api) => registerAdminRoutes(api, deps) });
 */
export async function registerAdminRoutes(app: FastifyInstance, deps: ServiceDeps, oidcClients?: OidcClientRepository): Promise<void> {
  await app.register(async (scope) => {
    scope.addHook('onRequest', requireAdmin((tokenHash) => deps.store.adminTokens.findByHash(tokenHash)));
    await registerTenantRoutes(scope, deps);
    await registerApplicationRoutes(scope, deps);
    await registerUserRoutes(scope, deps);
    await registerPolicyRoutes(scope, deps);
    await registerFactorRoutes(scope, deps);
    await registerAuditRoutes(scope, deps);
    await registerAdminTokenRoutes(scope, deps);
    await registerSessionRoutes(scope, deps);
    if (oidcClients !== undefined) await registerOidcClientRoutes(scope, deps, oidcClients);
  });
}
