/**
 * User administration inside a tenant: create, read, change, delete. Passwords arrive in clear only here and
 * leave as an argon2id hash; no view of a user ever carries the hash (SECURITY rule 10).
 */
import { hashPassword } from '../../factors/password.ts';
import type { Page, PageOptions, UserPatch, UserRecord } from '../../store/index.ts';
import { actorOf, type AdminActor, type ServiceDeps } from '../deps.ts';
import { notFound, reachTenant, reachUser } from './access.ts';
import { checkEmail, checkExternalId, checkPassword, checkPhone, checkRoles } from './validate.ts';

export interface NewUserInput {
  readonly email: string;
  readonly emailVerified?: boolean;
  readonly phone?: string | null;
  readonly roles?: readonly string[];
  readonly externalId?: string | null;
  /** Clear text; hashed with argon2id before anything is stored. */
  readonly password?: string | null;
}

export type UserPatchInput = Partial<NewUserInput>;

/** Field names of a patch, for audit (never the values of secrets). */
type UserField = 'email' | 'emailVerified' | 'phone' | 'roles' | 'externalId' | 'password';

/**
 * Creates a user and audits `user.created` (field names and non-secret values; the password only as "set").
 *
 * @example
 * await createUser(deps, admin, tenantId, { email: 'ada@example.com', password: 'correct horse battery' });
 */
export async function createUser(deps: ServiceDeps, actor: AdminActor, tenantId: string, input: NewUserInput): Promise<UserRecord> {
  const email = checkEmail(input.email);
  const phone = checkPhone(input.phone ?? null);
  const roles = checkRoles(input.roles ?? []);
  const externalId = checkExternalId(input.externalId ?? null);
  await reachTenant(deps.store, actor, tenantId);
  // Hash outside the transaction: argon2id takes tens of milliseconds and must not hold a write lock meanwhile.
  const passwordHash = input.password === undefined || input.password === null ? null : await hashPassword(checkPassword(input.password));
  const now = deps.now();
  return deps.store.transaction(async (tx) => {
    const { t } = await reachTenant(tx, actor, tenantId);
    const user = await t.users.create({ email, emailVerified: input.emailVerified ?? false, phone, roles, externalId, passwordHash, now });
    await t.audit.append({
      at: now,
      actor: actorOf(actor),
      subject: user.id,
      userId: user.id,
      event: 'user.created',
      data: { email: user.email, emailVerified: user.emailVerified, phone: user.phone !== null, roles: [...user.roles], externalId: user.externalId, password: passwordHash !== null },
    });
    return user;
  });
}

/** A tenant's users, ordered by id, cursor-paged. */
export async function listUsers(deps: ServiceDeps, actor: AdminActor, tenantId: string, page: PageOptions): Promise<Page<UserRecord>> {
  const { t } = await reachTenant(deps.store, actor, tenantId);
  return t.users.list(page);
}

/** One user, or `NOT_FOUND`. */
export async function getUser(deps: ServiceDeps, actor: AdminActor, tenantId: string, userId: string): Promise<UserRecord> {
  return (await reachUser(deps.store, actor, tenantId, userId)).user;
}

/**
 * Changes a user; audits `user.updated` with the changed field names. A new password (or phone) revokes the
 * user's trusted devices (SECURITY rule 6: any factor or password change).
 */
export async function updateUser(deps: ServiceDeps, actor: AdminActor, tenantId: string, userId: string, input: UserPatchInput): Promise<UserRecord> {
  const patch: { -readonly [K in keyof UserPatch]: UserPatch[K] } = {};
  const fields: UserField[] = [];
  if (input.email !== undefined) {
    patch.email = checkEmail(input.email);
    fields.push('email');
  }
  if (input.emailVerified !== undefined) {
    patch.emailVerified = input.emailVerified;
    fields.push('emailVerified');
  }
  if (input.phone !== undefined) {
    patch.phone = checkPhone(input.phone);
    fields.push('phone');
  }
  if (input.roles !== undefined) {
    patch.roles = checkRoles(input.roles);
    fields.push('roles');
  }
  if (input.externalId !== undefined) {
    patch.externalId = checkExternalId(input.externalId);
    fields.push('externalId');
  }
  if (input.password !== undefined && input.password !== null) checkPassword(input.password);
  await reachUser(deps.store, actor, tenantId, userId);
  if (input.password !== undefined) {
    patch.passwordHash = input.password === null ? null : await hashPassword(input.password);
    fields.push('password');
  }
  const now = deps.now();
  return deps.store.transaction(async (tx) => {
    const { t, user } = await reachUser(tx, actor, tenantId, userId);
    if (fields.length === 0) return user;
    const updated = await t.users.update(user.id, patch, now);
    if (updated === null) throw notFound('user');
    const revoked = fields.includes('password') || fields.includes('phone') ? await t.trustedDevices.revokeAll(user.id) : 0;
    await t.audit.append({
      at: now,
      actor: actorOf(actor),
      subject: user.id,
      userId: user.id,
      event: 'user.updated',
      data: { changed: fields, ...(patch.roles === undefined ? {} : { roles: [...patch.roles] }), ...(patch.email === undefined ? {} : { email: updated.email }), trustedDevicesRevoked: revoked },
    });
    return updated;
  });
}

/** Deletes a user and everything of theirs except audit; audits `user.deleted`. */
export async function deleteUser(deps: ServiceDeps, actor: AdminActor, tenantId: string, userId: string): Promise<void> {
  const now = deps.now();
  await deps.store.transaction(async (tx) => {
    const { t, user } = await reachUser(tx, actor, tenantId, userId);
    if (!(await t.users.delete(user.id))) throw notFound('user');
    await t.audit.append({ at: now, actor: actorOf(actor), subject: user.id, userId: user.id, event: 'user.deleted', data: { email: user.email } });
  });
}
