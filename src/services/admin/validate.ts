/**
 * Input checks shared by the admin services. The HTTP layer validates the same shapes with TypeBox first; these
 * run again so that a service called from anywhere else (CLI, tests) refuses the same inputs with the same codes.
 */
import { PortcullisError } from '../../core/index.ts';
import { PASSWORD_MAX_LENGTH, PASSWORD_MIN_LENGTH } from '../../factors/password.ts';

/** Tenant slugs: lower-case letters, digits and dashes, 1-63 characters, not UUID-shaped (ids are UUIDs). */
export const SLUG_PATTERN = '^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$';
const SLUG = new RegExp(SLUG_PATTERN);
const UUID_SHAPE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
/** Role names, as in policy `exemptRoles`. */
export const ROLE_PATTERN = '^[A-Za-z0-9_.:-]{1,64}$';
const ROLE = new RegExp(ROLE_PATTERN);
/** E.164 phone numbers. */
export const PHONE_PATTERN = '^\\+[1-9][0-9]{6,14}$';
const PHONE = new RegExp(PHONE_PATTERN);
/**
 * Stored text holds no control characters (C0 and DEL), on either database: PostgreSQL refuses a NUL in text and
 * SQLite keeps it, and no name, label, email or id has a use for any of them. The same rule as the application
 * API's `NO_CONTROL_CHARACTERS`.
 */
export const NO_CONTROL_CHARACTERS_PATTERN = '^[^\\u0000-\\u001f\\u007f]*$';
/** A deliberately plain email shape (one `@`, a dot in the domain, no spaces or control characters); delivery proves the rest. */
export const EMAIL_PATTERN = '^[^\\s@\\u0000-\\u001f\\u007f]{1,64}@[^\\s@\\u0000-\\u001f\\u007f]{1,255}\\.[^\\s@\\u0000-\\u001f\\u007f]{1,63}$';
const EMAIL = new RegExp(EMAIL_PATTERN);
/** At most this many roles per user. */
export const MAX_ROLES = 50;
/** Longest display name (tenant, application, token label). */
export const MAX_NAME = 200;
/** Password bounds in code points, as `hashPassword` enforces them (NIST SP 800-63B 3.1.1.2). */
export const MAX_PASSWORD = PASSWORD_MAX_LENGTH;
export const MIN_PASSWORD = PASSWORD_MIN_LENGTH;
/** How far ahead a time may be announced (policy `effectiveAt`, grace, override expiry). */
export const MAX_AHEAD_MS = 10 * 366 * 86_400_000;

function invalid(message: string): PortcullisError {
  return new PortcullisError('INVALID_REQUEST', message);
}

/**
 * Whether `value` holds a C0 control character or DEL (what {@link NO_CONTROL_CHARACTERS_PATTERN} refuses).
 *
 * @example
 * hasControlCharacter('Acme\u0000'); // true
 */
export function hasControlCharacter(value: string): boolean {
  for (let i = 0; i < value.length; i++) {
    const unit = value.charCodeAt(i);
    if (unit < 0x20 || unit === 0x7f) return true;
  }
  return false;
}

/** Refuses text with a control character (see {@link NO_CONTROL_CHARACTERS_PATTERN}); `field` names it. */
export function checkNoControlCharacters(value: string, field: string): string {
  if (hasControlCharacter(value)) throw invalid(`${field} must not contain control characters.`);
  return value;
}

/** A non-empty display name of at most {@link MAX_NAME} characters without control characters, trimmed. */
export function checkName(value: string, field: string): string {
  checkNoControlCharacters(value, field);
  const trimmed = value.trim();
  if (trimmed.length === 0 || trimmed.length > MAX_NAME) throw invalid(`${field} must be 1-${MAX_NAME} characters.`);
  return trimmed;
}

/** A tenant slug (see {@link SLUG_PATTERN}). UUID-shaped slugs are refused so that "id or slug" is never ambiguous. */
export function checkSlug(value: string): string {
  if (!SLUG.test(value) || UUID_SHAPE.test(value)) {
    throw invalid('slug must be 1-63 lower-case letters, digits or dashes, not starting or ending with a dash, and not shaped like an id.');
  }
  return value;
}

export function checkEmail(value: string): string {
  checkNoControlCharacters(value, 'email');
  const trimmed = value.trim();
  if (trimmed.length > 320 || !EMAIL.test(trimmed)) throw invalid('email is not an email address.');
  return trimmed;
}

export function checkPhone(value: string | null): string | null {
  if (value === null) return null;
  if (!PHONE.test(value)) throw invalid('phone must be an E.164 number such as +14155550100.');
  return value;
}

export function checkRoles(value: readonly string[]): string[] {
  if (value.length > MAX_ROLES) throw invalid(`roles: at most ${MAX_ROLES} roles.`);
  const seen = new Set<string>();
  for (const role of value) {
    if (typeof role !== 'string' || !ROLE.test(role)) throw invalid('roles: each role is 1-64 of A-Z a-z 0-9 _ . : -');
    seen.add(role);
  }
  return [...seen];
}

export function checkExternalId(value: string | null): string | null {
  if (value === null) return null;
  if (value.length === 0 || value.length > 256) throw invalid('externalId must be 1-256 characters.');
  return checkNoControlCharacters(value, 'externalId');
}

/** Checks a password's length only; its value is never echoed anywhere. */
export function checkPassword(value: string): string {
  const length = value.length > MAX_PASSWORD * 2 ? value.length : [...value].length;
  if (length < MIN_PASSWORD || length > MAX_PASSWORD) throw invalid(`password must be ${MIN_PASSWORD}-${MAX_PASSWORD} characters.`);
  return value;
}

/** Parses an ISO-8601 instant (with a time zone) into epoch ms; `field` names it in the error. */
export function parseInstant(value: string, field: string): number {
  // A date-time with seconds and an explicit zone; Date.parse alone accepts too much (e.g. "2026").
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})$/i.test(value)) {
    throw invalid(`${field} must be an ISO-8601 date-time with a time zone, e.g. 2026-01-31T12:00:00Z.`);
  }
  const ms = Date.parse(value);
  if (!Number.isFinite(ms)) throw invalid(`${field} is not a valid date-time.`);
  return ms;
}

/** A time strictly after `now` and at most {@link MAX_AHEAD_MS} ahead. */
export function checkFuture(ms: number, now: number, field: string): number {
  if (!Number.isFinite(ms) || ms <= now) throw invalid(`${field} must be in the future.`);
  if (ms > now + MAX_AHEAD_MS) throw invalid(`${field} is too far ahead (at most 10 years).`);
  return ms;
}

/** Epoch ms as ISO-8601 UTC, for audit details a human reads. */
export function isoOf(ms: number): string {
  return new Date(ms).toISOString();
}
