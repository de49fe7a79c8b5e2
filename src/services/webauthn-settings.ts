import { webauthnConfigOf, type WebauthnConfig } from '../config.ts';
import type { ModelRules, RelyingParty } from '../factors/webauthn-factor.ts';
import type { CatalogView } from '../store/index.ts';

/** The configuration services use when none is wired (unit tests, embedders): the RP is `localhost`. */
export const DEFAULT_WEBAUTHN_CONFIG: WebauthnConfig = webauthnConfigOf({}, 'http://localhost', 'webauthn', []);

/** A tenant's own settings, by id or slug. */
async function tenantSettings(config: WebauthnConfig, catalog: CatalogView, tenantId: string): Promise<WebauthnConfig['tenants'][string] | undefined> {
  const byId = config.tenants[tenantId];
  if (byId !== undefined) return byId;
  const tenant = await catalog.tenantById(tenantId);
  return tenant === null ? undefined : config.tenants[tenant.slug];
}

/**
 * Where a tenant's ceremonies run for an application: the tenant's RP id (else the server's), and the origins
 * allowed — the server's own, the tenant's domains, and the calling application's.
 */
export async function relyingPartyFor(config: WebauthnConfig, catalog: CatalogView, tenantId: string, clientId: string): Promise<RelyingParty> {
  const tenant = await tenantSettings(config, catalog, tenantId);
  const origins = [...config.origins, ...(tenant?.origins ?? []), ...(config.applications[clientId]?.origins ?? [])];
  return { name: config.rpName, id: tenant?.rpId ?? config.rpId, origins: [...new Set(origins)] };
}

/** The authenticator models a tenant accepts. */
export async function modelRulesFor(config: WebauthnConfig, catalog: CatalogView, tenantId: string): Promise<ModelRules> {
  const tenant = await tenantSettings(config, catalog, tenantId);
  return {
    allow: tenant?.aaguidAllow === undefined ? null : new Set(tenant.aaguidAllow),
    block: new Set(tenant?.aaguidBlock ?? []),
    rootsConfigured: config.attestationRoots.length > 0,
  };
}

/**
 * The WebAuthn Related Origin Requests answer (`/.well-known/webauthn`) for the server's RP id: every origin that may
 * use a passkey bound to it — the server's, the tenants' domains that share its RP id, and the applications'.
 */
export function relatedOrigins(config: WebauthnConfig): string[] {
  const origins = [...config.origins];
  for (const tenant of Object.values(config.tenants)) if ((tenant.rpId ?? config.rpId) === config.rpId) origins.push(...(tenant.origins ?? []));
  for (const application of Object.values(config.applications)) origins.push(...application.origins);
  return [...new Set(origins)];
}
