/**
 * Stable error codes. Callers branch on `code`; HTTP statuses live only in the HTTP layer's mapping.
 */
export type ErrorCode =
  // decision outcomes a user cannot pass as they are (DESIGN §3)
  | 'MFA_REQUIRED_NO_FACTOR'
  | 'MFA_FACTOR_NOT_ALLOWED'
  | 'MFA_GRACE_EXPIRED'
  | 'MFA_RECOVERY_CODES_EXHAUSTED'
  | 'ACCESS_DENIED_RISK'
  // factor and flow failures
  | 'MFA_DISABLE_BLOCKED'
  | 'MFA_CODE_INVALID'
  | 'MFA_LOCKED'
  | 'MFA_SESSION_NOT_FOUND'
  | 'MFA_SESSION_EXPIRED'
  | 'MFA_SESSION_USED'
  | 'SESSION_REQUIRED'
  | 'SESSION_NOT_FOUND'
  | 'MFA_METHOD_NOT_ALLOWED'
  | 'FACTOR_NOT_FOUND'
  | 'FACTOR_ALREADY_ACTIVE'
  | 'STEP_UP_REQUIRED'
  | 'ENROLLMENT_NOT_ALLOWED'
  | 'ACCOUNT_LOCKED'
  // generic request failures
  | 'INVALID_REQUEST'
  | 'REQUEST_TIMEOUT'
  | 'REQUEST_HEADER_TOO_LARGE'
  | 'PAYLOAD_TOO_LARGE'
  | 'UNSUPPORTED_MEDIA_TYPE'
  | 'INVALID_POLICY'
  | 'INVALID_CREDENTIALS'
  | 'UNAUTHORIZED'
  | 'FORBIDDEN'
  | 'NOT_FOUND'
  | 'CONFLICT'
  | 'RATE_LIMITED'
  | 'SERVICE_UNAVAILABLE'
  // a stored secret does not open under the configured key (wrong or lost key, or an altered value): the check
  // that needed it could not run, which is no answer about the caller
  | 'SECRET_UNREADABLE'
  | 'INTERNAL';

/** The codes a decision can carry (`Decision.errorCode`). */
export type DecisionErrorCode = Extract<
  ErrorCode,
  'MFA_REQUIRED_NO_FACTOR' | 'MFA_FACTOR_NOT_ALLOWED' | 'MFA_GRACE_EXPIRED' | 'MFA_RECOVERY_CODES_EXHAUSTED' | 'ACCESS_DENIED_RISK'
>;

/**
 * The one error class. `message` is public (safe to show a caller); `detail` is private (logs only) and must
 * never hold a secret either.
 *
 * @example
 * throw new PortcullisError('NOT_FOUND', 'No such tenant.');
 */
export class PortcullisError extends Error {
  readonly code: ErrorCode;
  readonly detail: string | undefined;
  readonly extra: Readonly<Record<string, unknown>> | undefined;

  constructor(code: ErrorCode, message: string, options?: { detail?: string; cause?: unknown; extra?: Record<string, unknown> }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'PortcullisError';
    this.code = code;
    this.detail = options?.detail;
    this.extra = options?.extra;
  }
}

/** Narrowing helper for `catch` blocks. */
export function isPortcullisError(value: unknown): value is PortcullisError {
  return value instanceof PortcullisError;
}
