/** Listing and revoking remembered devices: by the user (their login session) and by a tenant's administrator. */
import { PortcullisError } from '../core/index.ts';
import type { AdminActor, ServiceDeps } from './deps.ts';
import { actorOf as adminActorOf } from './deps.ts';
import { reachUser } from './admin/access.ts';
import { viewRememberedDevice, type RememberedDeviceView } from './device-trust.ts';
import { actorOf } from './flow-service.ts';
import { openLoginSession } from './login-sessions.ts';
import type { Caller } from './tenant-access.ts';

/** The signed-in user's remembered devices (trust is the user's, whichever application remembered the device). */
export async function listOwnTrustedDevices(deps: ServiceDeps, caller: Caller, sessionToken: string | undefined): Promise<{ devices: RememberedDeviceView[] }> {
  const { tenant, user } = await openLoginSession(deps, caller, sessionToken);
  return { devices: (await tenant.trustedDevices.listRemembered(user.id)).map(viewRememberedDevice) };
}

/** The signed-in user forgets one of their remembered devices; its token stops working at once. */
export async function revokeOwnTrustedDevice(deps: ServiceDeps, caller: Caller, sessionToken: string | undefined, deviceId: string): Promise<{ revoked: true }> {
  const { tenant, user } = await openLoginSession(deps, caller, sessionToken);
  const now = deps.now();
  const revoked = await deps.store.transaction(async (tx) => {
    const t = tx.forTenant(tenant.tenantId);
    if (!(await t.trustedDevices.forgetRemembered(user.id, deviceId))) return false;
    await t.audit.append({ at: now, actor: actorOf(caller), userId: user.id, applicationId: caller.application.id, subject: deviceId, event: 'mfa.trusted_device_revoked', data: { by: 'user', reason: 'user_request' } });
    return true;
  });
  if (!revoked) throw new PortcullisError('NOT_FOUND', 'No such trusted device.');
  return { revoked: true };
}

/** A user's remembered devices, for a tenant administrator. */
export async function listUserTrustedDevices(deps: ServiceDeps, actor: AdminActor, tenantId: string, userId: string): Promise<RememberedDeviceView[]> {
  const { t, user } = await reachUser(deps.store, actor, tenantId, userId);
  return (await t.trustedDevices.listRemembered(user.id)).map(viewRememberedDevice);
}

/**
 * Revokes one remembered device of a user (`deviceId`), or all of them and every device and network the risk engine
 * knows for the user (`deviceId` null). Audited `mfa.trusted_device_revoked` in the same transaction.
 */
export async function revokeUserTrustedDevices(deps: ServiceDeps, actor: AdminActor, tenantId: string, userId: string, deviceId: string | null): Promise<{ revoked: number }> {
  const now = deps.now();
  return deps.store.transaction(async (tx) => {
    const { t, user } = await reachUser(tx, actor, tenantId, userId);
    let revoked: number;
    if (deviceId === null) revoked = await t.trustedDevices.revokeAll(user.id);
    else {
      if (!(await t.trustedDevices.forgetRemembered(user.id, deviceId))) throw new PortcullisError('NOT_FOUND', 'No such trusted device.');
      revoked = 1;
    }
    await t.audit.append({ at: now, actor: adminActorOf(actor), userId: user.id, subject: deviceId, event: 'mfa.trusted_device_revoked', data: { by: 'admin', reason: 'admin_request', all: deviceId === null, revoked } });
    return { revoked };
  });
}
