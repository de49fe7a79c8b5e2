import { createHash } from 'node:crypto';
import type { RiskAssessment, RiskSignal } from '../core/index.ts';
import type { TenantStore } from '../store/index.ts';

/** What the caller knows of the request: all optional, all untrusted. */
export interface RequestContext {
  readonly ip?: string | null;
  readonly userAgent?: string | null;
  readonly deviceId?: string | null;
}

export interface RiskResult {
  readonly risk: RiskAssessment;
  /** The trusted-device state of this device, or null when unknown / not trusted. */
  readonly device: { readonly trustedAt: number | null } | null;
  /** The stored form of the device id (a hash), or null. */
  readonly deviceKey: string | null;
}

const WEIGHTS = { new_device: 20, new_ip: 10, unknown_device: 20 } as const;

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
  if (typeof ip !== 'string' || ip.length === 0) return null;
  return `net:${createHash('sha256').update(`${tenantId}\u0000${ip}`).digest('hex')}`;
}

/** How long the risk reads may take before the assessment is given up as unavailable (→ challenge). */
export const RISK_TIMEOUT_MS = 2_000;

class RiskTimeout extends Error {
  override readonly name = 'timeout';
}

/** `work`, or a `RiskTimeout` rejection after `ms` (the timer never holds the process open). */
function within<T>(work: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new RiskTimeout(`risk signals took longer than ${ms} ms`)), ms);
    timer.unref();
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}

/**
 * The minimal risk input: a new device id or a new network. Both are "known" only once a sign-in from them
 * completed MFA, and forgotten on any factor or password change (SECURITY rule 6): an earlier password-only success
 * makes nothing known. A device the caller could not identify is a signal, not an exemption (SECURITY rule 7). Any
 * failure computing signals, or signals slower than `timeoutMs`, yields `unavailable` (reason `timeout` or the
 * error's name), which `decide` turns into a challenge (fail closed).
 */
export async function assessRisk(tenant: TenantStore, userId: string, context: RequestContext, options: { readonly timeoutMs?: number } = {}): Promise<RiskResult> {
  const deviceKey = deviceKeyOf(tenant.tenantId, context.deviceId);
  try {
    const networkKey = networkKeyOf(tenant.tenantId, context.ip);
    // Two independent reads, sent together (one round trip instead of two on PostgreSQL); either failing is
    // "unavailable".
    const [trusted, network] = await within(
      Promise.all([
        deviceKey === null ? Promise.resolve(null) : tenant.trustedDevices.get(userId, deviceKey),
        networkKey === null ? Promise.resolve(null) : tenant.trustedDevices.get(userId, networkKey),
      ]),
      options.timeoutMs ?? RISK_TIMEOUT_MS,
    );
    const signals: RiskSignal[] = [];
    if (deviceKey === null) signals.push({ code: 'unknown_device', weight: WEIGHTS.unknown_device });
    else if (trusted === null) signals.push({ code: 'new_device', weight: WEIGHTS.new_device });
    if (network === null) signals.push({ code: 'new_ip', weight: WEIGHTS.new_ip });
    let score = 0;
    for (const s of signals) score += s.weight;
    // An unidentified device always challenges under adaptive: it is reported as a new device.
    const reported = signals.map((s) => (s.code === 'unknown_device' ? { code: 'new_device', weight: s.weight } : s));
    return {
      risk: { status: 'ok', score: Math.min(score, 100), signals: reported },
      device: trusted === null ? null : { trustedAt: trusted.trustedAt },
      deviceKey,
    };
  } catch (error) {
    return { risk: { status: 'unavailable', reason: error instanceof Error ? error.name : 'error' }, device: null, deviceKey };
  }
}
