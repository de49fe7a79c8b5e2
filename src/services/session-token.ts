import { createHash, randomBytes } from 'node:crypto';

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
