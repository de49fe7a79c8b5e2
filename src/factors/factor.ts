import type { FactorType } from '../core/index.ts';
import type { SecretBox } from './secret-box.ts';

/**
 * What every factor call is given. Factors read no clock, open no connection and hold no state: the caller
 * passes the time, the secret box and the identity of the row (tenant and factor ids, which bind sealed secrets
 * to that row through the AAD).
 */
export interface FactorContext {
  /** Epoch milliseconds. */
  readonly now: number;
  readonly tenantId: string;
  readonly userId: string;
  /** The id of the factor row being enrolled or verified (chosen by the caller before `beginEnrollment`). */
  readonly factorId: string;
  readonly secrets: SecretBox;
}

/** The pieces one factor type is made of, named once so the module's signature stays readable. */
export interface FactorShapes {
  /** What the caller stores for the factor (and passes back on every call). */
  readonly stored: unknown;
  /** Options of `beginEnrollment` (e.g. the issuer and account a TOTP app shows). */
  readonly enrollOptions: unknown;
  /** What to show the user once, at enrollment (e.g. a QR code, or the recovery codes themselves). */
  readonly display: unknown;
  /** What `beginChallenge` returns to send or show (`null` when the user already holds the code). */
  readonly challenge: unknown;
  /**
   * The single-use write the caller must make for a success to count (e.g. "advance the TOTP step to 5"); the
   * affected-row count of that conditional write decides (SECURITY rule 2).
   */
  readonly commit: unknown;
  /** The single-use write that completes enrollment (`null` when storing the pending state is all it takes). */
  readonly enrollCommit: unknown;
}

/** Why a proof was refused. The caller counts every refusal in the shared failure limiter (SECURITY rule 3). */
export type FactorFailureReason = 'malformed' | 'invalid' | 'replayed' | 'exhausted';

/**
 * The result of checking a proof. On `ok`, the caller makes the `commit` write atomically — only if that write
 * succeeds is the proof accepted — and then stores `newState`.
 */
export type FactorResult<TStored, TCommit> =
  | { readonly ok: true; readonly newState: TStored; readonly commit: TCommit }
  | { readonly ok: false; readonly reason: FactorFailureReason };

/** The result of `verify`. */
export type FactorVerifyResult<S extends FactorShapes> = FactorResult<S['stored'], S['commit']>;

/** The result of `completeEnrollment`. */
export type FactorEnrollResult<S extends FactorShapes> = FactorResult<S['stored'], S['enrollCommit']>;

/** What `beginEnrollment` hands back: a pending state to store (it never counts until completed) and what to show. */
export interface EnrollmentStart<S extends FactorShapes> {
  readonly pending: S['stored'];
  readonly display: S['display'];
}

/**
 * The one factor interface (STYLE §3), storage-free in the manner of SimpleWebAuthn: the caller loads the stored
 * state, passes it in, and persists what comes back. Replay guards, failure counters, attempt caps and audit live
 * with the caller, in storage shared by all nodes; no HTTP types appear here.
 *
 * @example
 * const start = await totpFactor.beginEnrollment(ctx, { issuer: 'Acme', account: user.email });
 * await factors.create({ id: ctx.factorId, status: 'pending', secretEnc: start.pending.secretEnc, … });
 * const done = await totpFactor.completeEnrollment(start.pending, body.code, ctx);
 * if (done.ok && (await factors.advanceTotpStep(ctx.factorId, done.commit.step))) await factors.activate(ctx.factorId);
 */
export interface FactorModule<S extends FactorShapes> {
  readonly type: FactorType;
  /** Creates the pending state and what the user sees once. */
  beginEnrollment(ctx: FactorContext, options: S['enrollOptions']): Promise<EnrollmentStart<S>>;
  /** Checks the proof that the user holds the new factor (e.g. a first valid code). */
  completeEnrollment(pending: S['stored'], proof: unknown, ctx: FactorContext): Promise<FactorEnrollResult<S>>;
  /** Prepares a challenge: what to send or show (`null` for TOTP and recovery codes). */
  beginChallenge(stored: S['stored'], ctx: FactorContext): Promise<S['challenge']>;
  /** Checks a proof. `proof` is untrusted input as received; a malformed one is a returned failure, never a throw. */
  verify(stored: S['stored'], proof: unknown, ctx: FactorContext): Promise<FactorVerifyResult<S>>;
}
