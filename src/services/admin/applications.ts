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
import type { ApplicationRecord, Page, PageOptions } from '../../store/index.ts';
import { generateToken, hashToken } from '../../http/tokens.ts';
import { actorOf, type AdminActor, type ServiceDeps } from '../deps.ts';
import { assertPlatformAdmin, findApplication, notFound } from './access.ts';
import { saveZewstMfaPolicy, type SavedPolicy, type ZewstMfaPolicy } from './policies.ts';
import { checkName } from './validate.ts';

/** Prefix of client secrets (a secret scanner can recognise them). */
export const CLIENT_SECRET_PREFIX = 'pcs';

export interface NewApplicationInput {
  readonly name: string;
  readonly firstParty?: boolean;
}

export interface ApplicationPatchInput {
  readonly name?: string;
  readonly firstParty?: boolean;
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
  const clientSecret = generateToken(CLIENT_SECRET_PREFIX);
  const now = deps.now();
  const application = await deps.store.transaction(async (tx) => {
    const created = await tx.applications.create({ name, firstParty, clientId: newClientId(), clientSecretHash: hashToken(clientSecret), now });
    await tx.audit.append({ tenantId: null, at: now, actor: actorOf(actor), subject: created.id, applicationId: created.id, event: 'application.created', data: { name, firstParty, clientId: created.clientId } });
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
  const set: { name?: string; firstParty?: boolean } = {};
  if (patch.name !== undefined) set.name = checkName(patch.name, 'name');
  if (patch.firstParty !== undefined) set.firstParty = patch.firstParty;
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
    const policy = patch.mfaPolicy === undefined ? null : await saveZewstMfaPolicy(tx, actor, current.id, patch.mfaPolicy, now);
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
