/**
 * The failure limits (SECURITY rule 3, NIST SP 800-63B 3.2.2), in one place: the store's atomic counters, the
 * verifiers and the sign-in throttle all read them from here, so a limit is the same on every path and node.
 */
const MINUTE_MS = 60_000;

/** At most 10 consecutive failures per factor before a cool-down. */
export const FACTOR_FAILURE_LIMIT = 10;
/** Default cool-down of a factor that reached its failure limit. */
export const FACTOR_COOL_DOWN_MS = 15 * MINUTE_MS;
/** At most 100 consecutive failures per account (NIST SP 800-63B 3.2.2), then locked until a reset. */
export const ACCOUNT_FAILURE_LIMIT = 100;
/** `lockedUntil` of a lock that lasts until a reset from an authenticated session (no cool-down). */
export const LOCKED_UNTIL_RESET = Number.MAX_SAFE_INTEGER;
/** Verification attempts one MFA session allows before it must be restarted. */
export const MFA_SESSION_MAX_ATTEMPTS = 10;
/** Failed password sign-ins one IP (an IPv4 address, or an IPv6 /64) may make in one tenant per window. */
export const IP_FAILURE_LIMIT = 50;
/** The fixed window of the per-IP count. */
export const IP_FAILURE_WINDOW_MS = 15 * MINUTE_MS;
/** The window of an unknown identifier's stand-in count (its rows are swept after it). */
export const IDENTIFIER_FAILURE_WINDOW_MS = 15 * MINUTE_MS;
/** A verify answer that spent a recovery code warns when this many or fewer remain. */
export const RECOVERY_CODES_LOW = 2;
