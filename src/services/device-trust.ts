import { createHash, randomBytes } from 'node:crypto';
import { DAY_MS, PortcullisError } from '../core/index.ts';
import type { RememberedDeviceRecord, TenantStore } from '../store/index.ts';
import { deviceKeyOf } from '../risk/keys.ts';

/**
 * Remembered ("trusted") devices, SECURITY rule 6. After an MFA-complete answer the caller may ask to remember the
 * device: it receives a device token, `pcd_<256-bit CSPRNG, base64url>`, of which only the SHA-256 is stored, bound
 * to the tenant and user (the application that asked is recorded). Presented on a later sign-in (`context.deviceToken`)
 * it lets `decide` treat the device as trusted for `trustedDeviceDays` from the last MFA on it; every use rotates it
 * (the answer carries the new token, the old one stops working), and any factor or password change deletes it.
 */
const TOKEN_PREFIX = 'pcd_';

/**
 * The device id the risk engine keys a remembered device by: derived from its server-side id, in a namespace a
 * caller's `context.deviceId` cannot reach (the API refuses control characters in it).
 */
export const REMEMBERED_DEVICE_PREFIX = '\u001fremembered:';

export function newDeviceToken(): { token: string; hash: string } {
  const token = `${TOKEN_PREFIX}${randomBytes(32).toString('base64url')}`;
  return { token, hash: hashDeviceToken(token) };
}

export function hashDeviceToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

/** The stored hash of a device token of our form, or null (a malformed token is simply not a trusted device). */
export function parseDeviceToken(token: unknown): string | null {
  if (typeof token !== 'string' || !token.startsWith(TOKEN_PREFIX) || !/^[A-Za-z0-9_-]{43}$/.test(token.slice(TOKEN_PREFIX.length))) return null;
  return hashDeviceToken(token);
}

/** The risk engine's device id of a remembered device. */
export function rememberedDeviceId(id: string): string {
  return `${REMEMBERED_DEVICE_PREFIX}${id}`;
}

/** The remembered device's id behind a risk device id, or null when the id is the caller's own. */
export function rememberedIdOf(deviceId: string | null | undefined): string | null {
  return typeof deviceId === 'string' && deviceId.startsWith(REMEMBERED_DEVICE_PREFIX) ? deviceId.slice(REMEMBERED_DEVICE_PREFIX.length) : null;
}

/**
 * The remembered device a presented token names, when it is this user's in this tenant; anything else (unknown,
 * rotated, revoked, another user's or another tenant's token) is null. The hash lookup is an index equality on a
 * SHA-256 of 256 random bits: no timing reveals a usable prefix.
 */
export async function findRememberedDevice(tenant: TenantStore, userId: string, token: string | null | undefined): Promise<RememberedDeviceRecord | null> {
  const hash = parseDeviceToken(token);
  if (hash === null) return null;
  const row = await tenant.trustedDevices.findRemembered(hash);
  return row !== null && row.userId === userId ? row : null;
}

/** What a trust grant or rotation hands back to the caller. */
export interface IssuedDeviceToken {
  readonly token: string;
  readonly id: string;
  readonly expiresAt: number;
}

/**
 * Remembers the device after an MFA-complete sign-in (inside the sign-in's transaction): a fresh record and token,
 * replacing the record the request was on (`previousId`), and the risk engine's trust mark for its server-side id.
 */
export async function grantDeviceTrust(
  t: TenantStore,
  input: { userId: string; applicationId: string; previousId: string | null; userAgent: string | null; ip: string | null; trustedDeviceDays: number; now: number },
): Promise<IssuedDeviceToken> {
  if (input.previousId !== null) await t.trustedDevices.forgetRemembered(input.userId, input.previousId);
  const id = randomBytes(16).toString('base64url');
  const { token, hash } = newDeviceToken();
  await t.trustedDevices.remember({ id, userId: input.userId, applicationId: input.applicationId, tokenHash: hash, mfaAt: input.now, userAgent: input.userAgent, ip: input.ip, now: input.now });
  const key = deviceKeyOf(t.tenantId, rememberedDeviceId(id));
  if (key !== null) await t.trustedDevices.upsert(input.userId, key, input.now);
  return { token, id, expiresAt: input.now + input.trustedDeviceDays * DAY_MS };
}

/**
 * Rotates a used token (inside the sign-in's transaction): conditional on the hash still being the one presented,
 * so of two sign-ins with one token exactly one succeeds; the other gets null and fails closed (the caller rolls
 * back and answers `CONFLICT`).
 */
export async function rotateDeviceTrust(t: TenantStore, device: RememberedDeviceRecord, trustedDeviceDays: number, now: number): Promise<IssuedDeviceToken | null> {
  const { token, hash } = newDeviceToken();
  if (!(await t.trustedDevices.rotateRemembered(device.id, device.tokenHash, hash, now))) return null;
  return { token, id: device.id, expiresAt: device.mfaAt + trustedDeviceDays * DAY_MS };
}

/** The answer to a sign-in that lost the race for its device token (the other use rotated it first). */
export function deviceTokenSpent(): PortcullisError {
  return new PortcullisError('CONFLICT', 'The device token was already used; sign in again.');
}

/** What a listing shows of a remembered device (never a token or its hash). */
export interface RememberedDeviceView {
  readonly id: string;
  readonly applicationId: string;
  readonly createdAt: string;
  readonly mfaAt: string;
  readonly lastUsedAt: string | null;
  readonly userAgent: string | null;
  readonly ip: string | null;
}

const iso = (ms: number): string => new Date(ms).toISOString();

export function viewRememberedDevice(d: RememberedDeviceRecord): RememberedDeviceView {
  return { id: d.id, applicationId: d.applicationId, createdAt: iso(d.createdAt), mfaAt: iso(d.mfaAt), lastUsedAt: d.lastUsedAt === null ? null : iso(d.lastUsedAt), userAgent: d.userAgent, ip: d.ip };
}
