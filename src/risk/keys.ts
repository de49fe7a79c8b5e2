import { createHash } from 'node:crypto';
import { isIP } from 'node:net';

/** Device ids are stored hashed and bound to the tenant (SECURITY rule 6: trusted devices are server-side). */
export function deviceKeyOf(tenantId: string, deviceId: string | null | undefined): string | null {
  if (typeof deviceId !== 'string' || deviceId.length === 0) return null;
  return createHash('sha256').update(`${tenantId}\u0000${deviceId}`).digest('hex');
}

/**
 * The stored form of a network the user completed MFA from, kept beside trusted devices (same lifetime, same
 * revocation on any factor or password change) under a `net:` prefix so the two never collide.
 */
export function networkKeyOf(tenantId: string, ip: string | null | undefined): string | null {
  const address = normaliseIp(ip);
  if (address === null) return null;
  return `net:${createHash('sha256').update(`${tenantId}\u0000${address}`).digest('hex')}`;
}

/** A usable address: IPv4-mapped IPv6 read as IPv4; anything that is not an IP address → null. */
export function normaliseIp(ip: string | null | undefined): string | null {
  if (typeof ip !== 'string') return null;
  const trimmed = ip.trim();
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(trimmed);
  const candidate = mapped?.[1] ?? trimmed;
  return isIP(candidate) === 0 ? null : candidate;
}
