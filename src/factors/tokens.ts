/**
 * The one module of bearer tokens, below the services and the HTTP layer (both import it; it imports nothing of
 * ours). Two families:
 *
 * - Bearer secrets (admin tokens, client secrets): 256 random bits, shown once, stored as SHA-256.
 * - Session tokens (`mfa_` MFA sessions, `ses_` login sessions) that carry their tenant id: see {@link issueToken}.
 *
 *
 * A fast hash is enough here, unlike for passwords: the input already carries 256 bits of entropy, so there is
 * nothing to brute-force, and the hash lets a lookup by token be one indexed query (SECURITY rule 9: a database
 * read does not yield a usable token).
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

const PREFIX = /^[a-z][a-z0-9]{0,15}$/;
const HEX_SHA256 = /^[0-9a-f]{64}$/;

/**
 * A new random token: `<prefix>_<base64url of 32 random bytes>` (43 characters after the underscore). The
 * prefix tells a reader (and a secret scanner) what the token is for.
 *
 * @example
 * const token = generateToken('pcat'); // "pcat_3q2-…", shown once
 * await store.adminTokens.create({ tokenHash: hashToken(token), tenantId: null, label: 'bootstrap', now });
 */
export function generateToken(prefix: string): string {
  if (!PREFIX.test(prefix)) throw new TypeError('A token prefix is 1-16 lowercase letters and digits, starting with a letter.');
  return `${prefix}_${randomBytes(32).toString('base64url')}`;
}

/**
 * The stored form of a token: SHA-256, lowercase hex.
 *
 * @example
 * hashToken('pcat_abc') // "5f1c…" (64 hex digits)
 */
export function hashToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

/**
 * Whether `token` hashes to `storedHash`, compared in constant time. Usable as the `verifySecret` of
 * `requireApplication` when client secrets are stored with {@link hashToken}.
 *
 * @example
 * verifyHashedToken(secret, application.clientSecretHash) // true | false
 */
export function verifyHashedToken(token: string, storedHash: string): boolean {
  if (!HEX_SHA256.test(storedHash)) return false;
  const actual = createHash('sha256').update(token, 'utf8').digest();
  return timingSafeEqual(actual, Buffer.from(storedHash, 'hex'));
}

/**
 * Bearer tokens of the two kinds of session, `<prefix>_<tenantId>.<256-bit random, base64url>`: `mfa_` for an MFA
 * (challenge or enrollment) session, `ses_` for a login session. Only the SHA-256 of the whole token is stored
 * (SECURITY rule 9), so a database read does not yield a usable token. The tenant id in clear lets the
 * tenant-scoped store be chosen without a cross-tenant lookup; tampering with it only changes the hash.
 */
export type TokenKind = 'mfa' | 'ses';

export function issueToken(kind: TokenKind, tenantId: string): { token: string; id: string } {
  const token = `${kind}_${tenantId}.${randomBytes(32).toString('base64url')}`;
  return { token, id: hashSessionToken(token) };
}

export function hashSessionToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

/** The tenant id and stored hash of a token of `kind`, or null when it is not of our form. */
export function parseToken(kind: TokenKind, token: unknown): { tenantId: string; id: string } | null {
  if (typeof token !== 'string' || token.length > 200 || !token.startsWith(`${kind}_`)) return null;
  const dot = token.lastIndexOf('.');
  if (dot < 5) return null;
  const tenantId = token.slice(4, dot);
  const random = token.slice(dot + 1);
  if (!/^[A-Za-z0-9_-]{43}$/.test(random) || !/^[A-Za-z0-9-]{1,64}$/.test(tenantId)) return null;
  return { tenantId, id: hashSessionToken(token) };
}

/** An MFA session token (see {@link issueToken}). */
export function issueSessionToken(tenantId: string): { token: string; id: string } {
  return issueToken('mfa', tenantId);
}

export function parseSessionToken(token: unknown): { tenantId: string; id: string } | null {
  return parseToken('mfa', token);
}
