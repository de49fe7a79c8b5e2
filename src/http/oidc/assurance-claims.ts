/**
 * What the OIDC provider states about an authentication: `acr` as a level of assurance URI, `amr` per RFC 8176,
 * and the subject. The levels are those of src/core/assurance.ts (numbers, compared as numbers).
 */
import { ACR_VALUES, type AssuranceLevel } from '../../core/assurance.ts';

/** `acr` values the provider advertises and issues, lowest first: one factor, MFA, phishing-resistant MFA. */
export const OIDC_ACR_VALUES = ['urn:portcullis:loa:1', 'urn:portcullis:loa:2', 'urn:portcullis:loa:3'] as const;

/** The OIDC `acr` of a level. */
export function acrOfLevel(level: AssuranceLevel): string {
  return OIDC_ACR_VALUES[level - 1] as string;
}

/** The level of an OIDC `acr` value, or null for a value we do not issue. */
export function levelOfOidcAcr(value: string): AssuranceLevel | null {
  const i = (OIDC_ACR_VALUES as readonly string[]).indexOf(value);
  return i < 0 ? null : ((i + 1) as AssuranceLevel);
}

/**
 * The level of a login session's `acr` (ours, e.g. `urn:portcullis:acr:mfa`).
 *
 * @example
 * levelOfSessionAcr('urn:portcullis:acr:mfa'); // 2
 */
export function levelOfSessionAcr(acr: string): AssuranceLevel {
  const i = (ACR_VALUES as readonly string[]).indexOf(acr);
  return i < 0 ? 1 : ((i + 1) as AssuranceLevel);
}

/**
 * The subject (`sub`) and the provider's account id: users belong to one tenant, so the tenant is part of it.
 *
 * @example
 * accountIdOf('t1', 'u1'); // 't1:u1'
 */
export function accountIdOf(tenantId: string, userId: string): string {
  return `${tenantId}:${userId}`;
}

export function parseAccountId(accountId: string): { tenantId: string; userId: string } | null {
  const i = accountId.indexOf(':');
  if (i <= 0 || i === accountId.length - 1) return null;
  return { tenantId: accountId.slice(0, i), userId: accountId.slice(i + 1) };
}
