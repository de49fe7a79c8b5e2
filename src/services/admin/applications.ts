/**
 * Application administration. Applications are platform-level (one may serve many tenants): only platform admins
 * create, change, rotate or delete them; tenant admins may list and read them, and set their own tenant×application
 * policy. Changes are audited in the platform log (`tenantId: null`).
 *
 * Client secrets are 256 random bits, shown once, stored as SHA-256 (`hashToken`). A slow password hash buys
 * nothing for a secret that cannot be guessed — there is no dictionary to slow down — while it would cost tens of
 * milliseconds of CPU on every API call an application makes; the stored hash still yields no usable secret.
 */
import { randomBytes } from 'node:crypto';
import type { ApplicationRecord, Page, PageOptions, Store } from '../../store/index.ts';
import { generateToken, hashToken } from '../../factors/tokens.ts';
import { actorOf, type AdminActor, type ServiceDeps } from '../deps.ts';
import { assertPlatformAdmin, findApplication, notFound, reachTenant } from './access.ts';
import { saveZewstMfaPolicy, type SavedPolicy, type ZewstMfaPolicy } from './policies.ts';
import { checkName } from './validate.ts';

/** Prefix of client secrets (a secret scanner can recognise them). */
export const CLIENT_SECRET_PREFIX = 'pcs';

export interface NewApplicationInput {
  readonly name: string;
  readonly firstParty?: boolean;
  /** Serve every tenant (a platform admin's explicit choice); otherwise only `tenants`. */
  readonly allTenants?: boolean;
  /** Tenant ids to assign it to at once. */
  readonly tenants?: readonly string[];
}

export interface ApplicationPatchInput {
  readonly name?: string;
  readonly firstParty?: boolean;
  readonly allTenants?: boolean;
  /** ZewstID's setting; saves a new application policy version with `challenge`. */
  readonly mfaPolicy?: ZewstMfaPolicy;
}

/** An application with its client secret in clear: returned once, at creation or rotation. */
export interface ApplicationWithSecret {
  readonly application: ApplicationRecord;
  readonly clientSecret: string;
}

function newClientId(): string {
  return `pcid_${randomBytes(16).toString('base64url')}`;
}

/**
 * Registers an application and returns its client secret, once.
 *
 * @example
 * const { application, clientSecret } = await createApplication(deps, platformAdmin, { name: 'Bank' });
 */
export async function createApplication(deps: ServiceDeps, actor: AdminActor, input: NewApplicationInput): Promise<ApplicationWithSecret> {
  assertPlatformAdmin(actor);
  const name = checkName(input.name, 'name');
  const firstParty = input.firstParty ?? false;
  const allTenants = input.allTenants ?? false;
  const clientSecret = generateToken(CLIENT_SECRET_PREFIX);
  const now = deps.now();
  const application = await deps.store.transaction(async (tx) => {
    const created = await tx.applications.create({ name, firstParty, allTenants, clientId: newClientId(), clientSecretHash: hashToken(clientSecret), now });
    await tx.audit.append({ tenantId: null, at: now, actor: actorOf(actor), subject: created.id, applicationId: created.id, event: 'application.created', data: { name, firstParty, allTenants, clientId: created.clientId } });
    for (const tenantId of new Set(input.tenants ?? [])) await assignIn(tx, actor, tenantId, created, now);
    return created;
  });
  return { application, clientSecret };
}

/** Every application (any admin: they are platform-level and carry no secret), ordered by id. */
export async function listApplications(deps: ServiceDeps, _actor: AdminActor, page: PageOptions): Promise<Page<ApplicationRecord>> {
  return deps.store.applications.list(page);
}

export async function getApplication(deps: ServiceDeps, _actor: AdminActor, applicationId: string): Promise<ApplicationRecord> {
  return findApplication(deps.store, applicationId);
}

/**
 * Renames an application, changes `firstParty`, and/or applies ZewstID's `mfaPolicy` — all in one transaction,
 * audited as `application.updated` (and `mfa.policy_updated` for `mfaPolicy`).
 */
export async function updateApplication(
  deps: ServiceDeps,
  actor: AdminActor,
  applicationId: string,
  patch: ApplicationPatchInput,
): Promise<{ application: ApplicationRecord; policy: SavedPolicy | null }> {
  assertPlatformAdmin(actor);
  const set: { name?: string; firstParty?: boolean; allTenants?: boolean } = {};
  if (patch.name !== undefined) set.name = checkName(patch.name, 'name');
  if (patch.firstParty !== undefined) set.firstParty = patch.firstParty;
  if (patch.allTenants !== undefined) set.allTenants = patch.allTenants;
  const now = deps.now();
  return deps.store.transaction(async (tx) => {
    const current = await findApplication(tx, applicationId);
    const changed = (Object.keys(set) as (keyof typeof set)[]).filter((k) => set[k] !== current[k]);
    let application = current;
    if (changed.length > 0) {
      const updated = await tx.applications.update(current.id, set, now);
      if (updated === null) throw notFound('application');
      application = updated;
      await tx.audit.append({ tenantId: null, at: now, actor: actorOf(actor), subject: current.id, applicationId: current.id, event: 'application.updated', data: { changed, ...set } });
    }
    const policy = patch.mfaPolicy === undefined ? null : await saveZewstMfaPolicy(tx, actor, current.id, patch.mfaPolicy, now, deps.deliverableFactors);
    return { application, policy };
  });
}

/** Issues a new client secret (the old one stops working at once) and returns it, once. */
export async function rotateClientSecret(deps: ServiceDeps, actor: AdminActor, applicationId: string): Promise<ApplicationWithSecret> {
  assertPlatformAdmin(actor);
  const clientSecret = generateToken(CLIENT_SECRET_PREFIX);
  const now = deps.now();
  const application = await deps.store.transaction(async (tx) => {
    const current = await findApplication(tx, applicationId);
    const updated = await tx.applications.update(current.id, { clientSecretHash: hashToken(clientSecret) }, now);
    if (updated === null) throw notFound('application');
    await tx.audit.append({ tenantId: null, at: now, actor: actorOf(actor), subject: current.id, applicationId: current.id, event: 'application.updated', data: { changed: ['clientSecret'] } });
    return updated;
  });
  return { application, clientSecret };
}

/** Deletes an application and its policy layers; audits `application.deleted`. */
export async function deleteApplication(deps: ServiceDeps, actor: AdminActor, applicationId: string): Promise<void> {
  assertPlatformAdmin(actor);
  const now = deps.now();
  await deps.store.transaction(async (tx) => {
    const current = await findApplication(tx, applicationId);
    if (!(await tx.applications.delete(current.id))) throw notFound('application');
    await tx.audit.append({ tenantId: null, at: now, actor: actorOf(actor), subject: current.id, applicationId: current.id, event: 'application.deleted', data: { name: current.name, clientId: current.clientId } });
  });
}

async function assignIn(tx: Store, actor: AdminActor, tenantId: string, application: ApplicationRecord, now: number): Promise<boolean> {
  const { t } = await reachTenant(tx, actor, tenantId);
  const added = await tx.applications.assignTenant(application.id, tenantId, now);
  if (added) await t.audit.append({ at: now, actor: actorOf(actor), subject: application.id, applicationId: application.id, event: 'application.tenant_assigned', data: { clientId: application.clientId } });
  return added;
}

/**
 * Lets an application act for a tenant (DESIGN §1). A tenant admin may assign applications to its own tenant; the
 * assignment is audited in the tenant's log. Idempotent: `assigned` says whether it was new.
 */
export async function assignApplication(deps: ServiceDeps, actor: AdminActor, tenantId: string, applicationId: string): Promise<{ application: ApplicationRecord; assigned: boolean }> {
  const now = deps.now();
  return deps.store.transaction(async (tx) => {
    const application = await findApplication(tx, applicationId);
    return { application, assigned: await assignIn(tx, actor, tenantId, application, now) };
  });
}

/** Withdraws an application from a tenant: its credentials then answer there as for a tenant that does not exist. */
export async function unassignApplication(deps: ServiceDeps, actor: AdminActor, tenantId: string, applicationId: string): Promise<void> {
  const now = deps.now();
  await deps.store.transaction(async (tx) => {
    const { t } = await reachTenant(tx, actor, tenantId);
    const application = await findApplication(tx, applicationId);
    if (!(await tx.applications.unassignTenant(application.id, tenantId))) throw notFound('assignment');
    await t.audit.append({ at: now, actor: actorOf(actor), subject: application.id, applicationId: application.id, event: 'application.tenant_unassigned', data: { clientId: application.clientId } });
  });
}

/** The applications assigned to a tenant (those with `allTenants` serve it too, and are listed by `/applications`). */
export async function listTenantApplications(deps: ServiceDeps, actor: AdminActor, tenantId: string): Promise<readonly ApplicationRecord[]> {
  await reachTenant(deps.store, actor, tenantId);
  return deps.store.applications.listForTenant(tenantId);
}

/** The tenants an application is assigned to (platform admin). */
export async function listApplicationTenants(deps: ServiceDeps, actor: AdminActor, applicationId: string): Promise<readonly string[]> {
  assertPlatformAdmin(actor);
  const application = await findApplication(deps.store, applicationId);
  return deps.store.applications.listTenantIds(application.id);
}
