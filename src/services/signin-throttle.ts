/**
 * The counters of password sign-in (issue 11: enumeration and lockout as a weapon), kept in the database so that
 * every node shares them (SECURITY rule 3; DESIGN §7: no node keeps state another needs). Implemented directly
 * over the store (one atomic statement per counter on both dialects, proven by the storage contract suite) rather
 * than with rate-limiter-flexible: fewer moving parts, one migration set, and the counters can sit beside the
 * user row whose lock they decide.
 *
 * Every attempt is reserved before the password is checked (reserve first, as for codes), on exactly one counter
 * of its path, and checked only within that path's limit:
 *
 * | path | counter | limit | what reaching it locks |
 * |---|---|---|---|
 * | a known device (a trusted-device row: it completed MFA) | the account's (`failedSignins`, shared with every MFA code) | 100 | everything, until a reset |
 * | any other device | the user's unknown-device count (`unknownDeviceFailures`) | 100 | password sign-in from unknown devices only, until a reset |
 * | an identifier that matches no user | a throttle row (tenant, identifier hash), 15-minute window | 100 | nothing observable: the stand-in write that makes the work equal |
 *
 * and, before any of these, on the failures of its IP (bucket) in the tenant: 50 per fixed 15-minute window.
 */
import { createHash } from 'node:crypto';
import { isIP } from 'node:net';
import { ACCOUNT_FAILURE_LIMIT, IDENTIFIER_FAILURE_WINDOW_MS, IP_FAILURE_LIMIT, IP_FAILURE_WINDOW_MS } from '../core/index.ts';
import type { Millis, TenantStore, ThrottleScope, UserRecord } from '../store/index.ts';
import { attemptWithinLimit } from './factor-verify.ts';

// The limits are defined in src/core/limits.ts; re-exported for the callers that import them from here.
export { IDENTIFIER_FAILURE_WINDOW_MS, IP_FAILURE_LIMIT, IP_FAILURE_WINDOW_MS } from '../core/index.ts';

/** Which counter an attempt was reserved on (recorded in `user.signin_failed`). */
export type SigninPath = 'known_device' | 'unknown_device' | 'unknown_identifier';

/** Why an attempt was refused without checking its password. */
export type SigninRefusal = 'account_locked' | 'unknown_device_locked' | 'limit_reached';

/** One reserved password attempt. */
export interface PasswordAttempt {
  readonly path: SigninPath;
  /** The attempt's place in its counter's run of failures (its own increment's result). */
  readonly failures: number;
  /** `null`: the password may be checked; otherwise why it is refused unevaluated (a right one too). */
  readonly refusal: SigninRefusal | null;
  /**
   * Gives the reservation back (a right password), through `t` — the transaction that records the sign-in's
   * outcome, so that the give-back costs no commit of its own.
   */
  release(t: TenantStore): Promise<void>;
}

function isLocked(lockedUntil: Millis | null, now: Millis): boolean {
  return lockedUntil !== null && lockedUntil > now;
}

/** SHA-256 (hex) of what a throttle row counts: the store never holds the IP or the identifier itself. */
export function throttleKey(scope: ThrottleScope, value: string): string {
  return createHash('sha256').update(`${scope}\u0000${value}`).digest('hex');
}

/** The eight 16-bit groups of an IPv6 address (`isIP(text) === 6` already checked). */
function ipv6Groups(text: string): number[] {
  let address = text;
  const v4 = /(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(address);
  if (v4 !== null) {
    const [a, b, c, d] = v4.slice(1).map(Number) as [number, number, number, number];
    address = `${address.slice(0, v4.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head = '', tail] = address.split('::');
  const parse = (part: string): number[] => (part === '' ? [] : part.split(':').map((g) => parseInt(g, 16)));
  const front = parse(head);
  const back = tail === undefined ? [] : parse(tail);
  return [...front, ...Array<number>(8 - front.length - back.length).fill(0), ...back];
}

/**
 * The bucket an IP counts in: an IPv4 address as it is (an IPv4-mapped IPv6 address too); an IPv6 address by its
 * /64, the block one subscriber usually holds whole (counting single addresses would give each attacker 2^64
 * buckets); anything else — the application's `context.ip` is untrusted text — as its trimmed, lower-cased text,
 * and no IP at all as one shared bucket.
 *
 * @example
 * ipBucketOf('2001:db8:1:2:3:4:5:6') // '2001:db8:1:2::/64'
 * ipBucketOf('::ffff:192.0.2.7') // '192.0.2.7'
 */
export function ipBucketOf(ip: string | null | undefined): string {
  const text = (ip ?? '').trim().toLowerCase().replace(/%.*$/, '');
  if (text === '') return 'none';
  const version = isIP(text);
  if (version === 4) return text;
  if (version !== 6) return `text:${text.slice(0, 256)}`;
  const groups = ipv6Groups(text);
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) {
    const [hi = 0, lo = 0] = groups.slice(6);
    return [hi >> 8, hi & 255, lo >> 8, lo & 255].join('.');
  }
  return `${groups.slice(0, 4).map((g) => g.toString(16)).join(':')}::/64`;
}

/** A reserved failure of one IP bucket in one tenant. */
export interface IpAttempt {
  readonly key: string;
  readonly failures: number;
  readonly windowEndsAt: Millis;
  /** Within {@link IP_FAILURE_LIMIT}: the attempt may go on. */
  readonly within: boolean;
}

/**
 * Counts a password attempt of this IP in this tenant (SECURITY rule 8: the key includes the tenant), before any
 * password is checked. Rejects when the database cannot count it: the caller then answers 503, never lets it pass
 * (SECURITY rule 7).
 */
export async function reserveIpAttempt(tenant: TenantStore, ip: string | null | undefined, now: Millis): Promise<IpAttempt> {
  const key = throttleKey('ip', ipBucketOf(ip));
  const state = await tenant.signinThrottle.hit('ip', key, now, IP_FAILURE_WINDOW_MS);
  return { key, failures: state.failures, windowEndsAt: state.windowEndsAt, within: state.failures <= IP_FAILURE_LIMIT };
}

/** Gives back the IP reservation of a right password, so that a busy shared address does not run into the limit. */
export async function releaseIpAttempt(tenant: TenantStore, attempt: IpAttempt, now: Millis): Promise<void> {
  await tenant.signinThrottle.release('ip', attempt.key, now);
}

/**
 * Reserves a password attempt on the one counter of its path (the table above) with one atomic write, whether the
 * user exists or not, and says whether its password may be checked. A lock already in place refuses the attempt
 * (a right password too); so does a place past the limit, except the one attempt after a count read below it
 * ({@link attemptWithinLimit}).
 */
export async function reservePasswordAttempt(
  tenant: TenantStore,
  found: { readonly user: UserRecord; readonly knownDevice: boolean } | null,
  identifier: string,
  now: Millis,
): Promise<PasswordAttempt> {
  if (found === null) {
    // The stand-in for the user's counter: the same one write, keyed as the store normalises emails.
    const key = throttleKey('identifier', identifier.trim().toLowerCase());
    const state = await tenant.signinThrottle.hit('identifier', key, now, IDENTIFIER_FAILURE_WINDOW_MS);
    return { path: 'unknown_identifier', failures: state.failures, refusal: 'limit_reached', release: async () => {} };
  }
  const { user, knownDevice } = found;
  if (knownDevice) {
    const state = await tenant.users.recordSigninFailure(user.id, now);
    const failures = state?.failures ?? Number.MAX_SAFE_INTEGER;
    const refusal: SigninRefusal | null = isLocked(user.lockedUntil, now)
      ? 'account_locked'
      : attemptWithinLimit(failures, ACCOUNT_FAILURE_LIMIT, user.failedSignins)
        ? null
        : 'limit_reached';
    return { path: 'known_device', failures, refusal, release: async (t) => void (await t.users.releaseSigninFailure(user.id)) };
  }
  const state = await tenant.users.recordUnknownDeviceFailure(user.id, now);
  const failures = state?.failures ?? Number.MAX_SAFE_INTEGER;
  // The account lock (rule 3: MFA failures, known-device passwords) closes this path too; read again by the same
  // statement that counted, so a lock engaged meanwhile is seen.
  const refusal: SigninRefusal | null =
    isLocked(user.lockedUntil, now) || state?.accountLocked === true
      ? 'account_locked'
      : isLocked(user.unknownDeviceLockedUntil, now)
        ? 'unknown_device_locked'
        : attemptWithinLimit(failures, ACCOUNT_FAILURE_LIMIT, user.unknownDeviceFailures)
          ? null
          : 'limit_reached';
  return { path: 'unknown_device', failures, refusal, release: async (t) => void (await t.users.releaseUnknownDeviceFailure(user.id)) };
}
