/**
 * The demo a newcomer clicks through after `npm start` (dev profile, config `demo`): a tenant `demo` whose policy
 * requires TOTP with no grace period and challenges every sign-in, a user `demo@example.com` with a random password
 * (printed once, beside the first admin token), and an application registered as an OIDC client whose redirect URI
 * is the demo relying party served by this same server (`/demo`, src/http/demo/relying-party.ts).
 *
 * Created only together with the first admin token, i.e. on an empty database and by the one node that made that
 * token. The client secret is not stored anywhere: it is derived from the secret key ({@link demoClientSecret}),
 * so the demo relying party can recompute it and the database holds only its hash, as for any client.
 */
import { createHmac, randomBytes } from 'node:crypto';
import type { PolicyLayer } from '../core/index.ts';
import { hashPassword } from '../factors/password.ts';
import { hashToken } from '../factors/tokens.ts';
import type { OidcClientRepository } from '../store/index.ts';
import type { ServiceDeps } from './deps.ts';

/** The demo application's fixed client id: the relying party finds its client by it. */
export const DEMO_CLIENT_ID = 'pcid_portcullis_demo';
export const DEMO_TENANT_SLUG = 'demo';
export const DEMO_EMAIL = 'demo@example.com';
/** Where the demo relying party lives on this server. */
export const DEMO_PATH = '/demo';

/** TOTP required, no grace, a challenge at every sign-in: the newcomer meets the enrollment wall at once. */
export const DEMO_POLICY: PolicyLayer = { enrollment: 'required', gracePeriodDays: 0, challenge: 'always', allowedFactors: ['totp', 'recovery_codes'] };

/** What the console prints. */
export interface DemoCreated {
  readonly url: string;
  readonly email: string;
  readonly password: string;
}

/**
 * The demo client's secret, derived from the secret key (HMAC-SHA-256 under a purpose label): the database keeps
 * only its hash, and a new secret key makes a new secret (the old client then fails to authenticate, closed).
 */
export function demoClientSecret(macKey: Buffer): string {
  return `pcs_${createHmac('sha256', macKey).update('portcullis demo client secret v1').digest('base64url')}`;
}

/**
 * Creates the demo tenant, policy, user and OIDC client in one transaction (the redirect URIs right after: they live
 * in the provider's own table), audited as `tenant.created`, `user.created` and `application.created` by
 * `system:demo`.
 *
 * @example
 * const demo = await createDemo(deps, oidcClients, { publicUrl: 'http://localhost:8080', macKey });
 */
export async function createDemo(deps: ServiceDeps, oidcClients: OidcClientRepository, options: { readonly publicUrl: string; readonly macKey: Buffer }): Promise<DemoCreated> {
  // Four random words' worth of entropy (96 bits), easy to copy from a terminal.
  const password = randomBytes(12).toString('base64url');
  const passwordHash = await hashPassword(password);
  const base = options.publicUrl.replace(/\/$/, '');
  const now = deps.now();
  const actor = 'system:demo';
  const applicationId = await deps.store.transaction(async (tx) => {
    const tenant = await tx.tenants.create({ slug: DEMO_TENANT_SLUG, name: 'Demo', now });
    const t = tx.forTenant(tenant.id);
    await t.audit.append({ at: now, actor, subject: tenant.id, event: 'tenant.created', data: { slug: DEMO_TENANT_SLUG, name: 'Demo' } });
    await t.policies.saveVersion({ level: 'tenant' }, { layer: DEMO_POLICY, effectiveAt: now, createdBy: actor, now });
    const user = await t.users.create({ email: DEMO_EMAIL, emailVerified: true, phone: null, roles: [], externalId: null, passwordHash, now });
    await t.audit.append({ at: now, actor, subject: user.id, userId: user.id, event: 'user.created', data: { email: DEMO_EMAIL, emailVerified: true, phone: false, roles: [], externalId: null, password: true } });
    const application = await tx.applications.create({ name: 'Portcullis Demo', firstParty: false, allTenants: false, clientId: DEMO_CLIENT_ID, clientSecretHash: hashToken(demoClientSecret(options.macKey)), now });
    await tx.audit.append({ tenantId: null, at: now, actor, subject: application.id, applicationId: application.id, event: 'application.created', data: { name: 'Portcullis Demo', firstParty: false, allTenants: false, clientId: DEMO_CLIENT_ID } });
    await tx.applications.assignTenant(application.id, tenant.id, now);
    return application.id;
  });
  await oidcClients.put(applicationId, { redirectUris: [`${base}${DEMO_PATH}/callback`], postLogoutRedirectUris: [`${base}${DEMO_PATH}`] }, now);
  return { url: `${base}${DEMO_PATH}`, email: DEMO_EMAIL, password };
}
