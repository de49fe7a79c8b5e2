/**
 * OAuth 2.0 Step Up Authentication Challenge (RFC 9470) for resource servers, without dependencies: decide from a
 * verified token's `acr` and `auth_time` claims whether a request meets the authentication it needs, and, when it
 * does not, build the `WWW-Authenticate` challenge that tells the client what to ask the authorization server for
 * (`acr_values`, `max_age`). A client can read the challenge back with {@link parseStepUpChallenge}.
 *
 * The token must already be verified (signature, issuer, audience, expiry): this module reads claims only.
 * Assurance levels are compared by rank in `acrOrder` (Portcullis' `urn:portcullis:loa:1` < `loa:2` < `loa:3` by
 * default), so a stronger `acr` satisfies a weaker requirement; a value outside the order must match exactly. A
 * missing or malformed claim fails the check (fail closed).
 *
 * @example
 * const need = { acrValues: ['urn:portcullis:loa:2'], maxAge: 300 };
 * const check = checkUserAuthentication(claims, need, { now: Date.now() });
 * if (!check.ok) {
 *   res.writeHead(401, { 'www-authenticate': check.challenge }).end();
 * }
 */

/** Portcullis' assurance levels, weakest first. */
export const PORTCULLIS_ACR_ORDER: readonly string[] = ['urn:portcullis:loa:1', 'urn:portcullis:loa:2', 'urn:portcullis:loa:3'];

/** What a protected resource needs (RFC 9470 §3: `acr_values` and/or `max_age`). */
export interface AuthenticationRequirement {
  /** Acceptable authentication context classes; the token's `acr` must reach the weakest of them. */
  readonly acrValues?: readonly string[];
  /** The most seconds allowed since the user last authenticated (`auth_time`). */
  readonly maxAge?: number;
}

/** The claims read from a verified access token or ID token. */
export interface AuthenticationClaims {
  readonly acr?: unknown;
  readonly auth_time?: unknown;
  readonly [claim: string]: unknown;
}

export interface CheckOptions {
  /** The current time in milliseconds since the epoch (the caller owns the clock). */
  readonly now: number;
  /** Assurance levels, weakest first (default {@link PORTCULLIS_ACR_ORDER}). */
  readonly acrOrder?: readonly string[];
  /** Seconds of clock skew tolerated for an `auth_time` in the future (default 60). */
  readonly clockToleranceSeconds?: number;
  /** `error_description` of the challenge (default: says which part is not met). */
  readonly description?: string;
}

/** The outcome: met, or the reason and the `WWW-Authenticate` value to answer with (status 401). */
export type AuthenticationCheck =
  | { readonly ok: true }
  | { readonly ok: false; readonly reason: 'acr' | 'max_age'; readonly challenge: string };

/** Whether `acr` reaches one of `required` under `order`. */
function acrMeets(acr: unknown, required: readonly string[], order: readonly string[]): boolean {
  if (typeof acr !== 'string' || acr === '') return false;
  const held = order.indexOf(acr);
  return required.some((wanted) => {
    if (wanted === acr) return true;
    const rank = order.indexOf(wanted);
    return held >= 0 && rank >= 0 && held >= rank;
  });
}

/** A quoted-string (RFC 9110 §5.6.4): backslash and double quote escaped; control characters dropped. */
function quoted(value: string): string {
  // eslint-disable-next-line no-control-regex
  return `"${value.replace(/[\u0000-\u001f\u007f]/g, ' ').replace(/["\\]/g, (c) => `\\${c}`)}"`;
}

/**
 * The `WWW-Authenticate` value of RFC 9470 §3 for a requirement.
 *
 * @example
 * insufficientUserAuthentication({ acrValues: ['urn:portcullis:loa:2'], maxAge: 300 }, 'MFA required');
 * // 'Bearer error="insufficient_user_authentication", error_description="MFA required", acr_values="urn:portcullis:loa:2", max_age=300'
 */
export function insufficientUserAuthentication(requirement: AuthenticationRequirement, description: string): string {
  const parts = ['Bearer error="insufficient_user_authentication"', `error_description=${quoted(description)}`];
  if (requirement.acrValues !== undefined && requirement.acrValues.length > 0) parts.push(`acr_values=${quoted(requirement.acrValues.join(' '))}`);
  if (requirement.maxAge !== undefined) parts.push(`max_age=${Math.max(0, Math.floor(requirement.maxAge))}`);
  return parts.join(', ');
}

/**
 * Decides whether verified claims meet `requirement`: `acr` at or above the weakest acceptable value, and `auth_time`
 * no older than `maxAge` seconds (and not in the future beyond the tolerance).
 *
 * @example
 * checkUserAuthentication({ acr: 'urn:portcullis:loa:1', auth_time: 1_800_000_000 }, { acrValues: ['urn:portcullis:loa:2'] }, { now: Date.now() });
 * // { ok: false, reason: 'acr', challenge: 'Bearer error="insufficient_user_authentication", …' }
 */
export function checkUserAuthentication(claims: AuthenticationClaims, requirement: AuthenticationRequirement, options: CheckOptions): AuthenticationCheck {
  const order = options.acrOrder ?? PORTCULLIS_ACR_ORDER;
  if (requirement.acrValues !== undefined && requirement.acrValues.length > 0 && !acrMeets(claims.acr, requirement.acrValues, order)) {
    return { ok: false, reason: 'acr', challenge: insufficientUserAuthentication(requirement, options.description ?? 'A stronger authentication is required') };
  }
  if (requirement.maxAge !== undefined) {
    const authTime = claims.auth_time;
    const nowSeconds = options.now / 1000;
    const tolerance = options.clockToleranceSeconds ?? 60;
    const fresh = typeof authTime === 'number' && Number.isFinite(authTime) && authTime <= nowSeconds + tolerance && nowSeconds - authTime <= requirement.maxAge;
    if (!fresh) return { ok: false, reason: 'max_age', challenge: insufficientUserAuthentication(requirement, options.description ?? 'A more recent authentication is required') };
  }
  return { ok: true };
}

/** What a client reads from a challenge to start a new authorization request. */
export interface StepUpChallenge {
  readonly error: string;
  readonly errorDescription: string | null;
  readonly acrValues: string | null;
  readonly maxAge: number | null;
}

/**
 * Reads an RFC 9470 challenge from a `WWW-Authenticate` value; null when it is not a Bearer
 * `insufficient_user_authentication` challenge.
 *
 * @example
 * const challenge = parseStepUpChallenge(response.headers.get('www-authenticate'));
 * if (challenge !== null) authorize({ acr_values: challenge.acrValues, max_age: challenge.maxAge });
 */
export function parseStepUpChallenge(header: string | null | undefined): StepUpChallenge | null {
  if (header === null || header === undefined || !/^\s*bearer\s/i.test(header)) return null;
  const params = new Map<string, string>();
  const pattern = /([A-Za-z_][A-Za-z0-9_-]*)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]+))/g;
  for (const m of header.replace(/^\s*bearer\s+/i, '').matchAll(pattern)) {
    const name = (m[1] ?? '').toLowerCase();
    if (!params.has(name)) params.set(name, m[2] !== undefined ? m[2].replace(/\\(.)/g, '$1') : (m[3] ?? ''));
  }
  const error = params.get('error');
  if (error !== 'insufficient_user_authentication') return null;
  const maxAge = params.get('max_age');
  return {
    error,
    errorDescription: params.get('error_description') ?? null,
    acrValues: params.get('acr_values') ?? null,
    maxAge: maxAge !== undefined && /^\d{1,10}$/.test(maxAge) ? Number(maxAge) : null,
  };
}
