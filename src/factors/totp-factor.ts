import type { FactorContext, FactorModule, FactorVerifyResult } from './factor.ts';
import { secretAad } from './secret-box.ts';
import { base32Encode, generateTotpSecret, otpauthUri, qrCodeSvg, verifyTotp } from './totp.ts';

/** The stored state of a TOTP factor. */
export interface TotpStored {
  /** The secret sealed by the secret box under `secretAad(tenantId, factorId)`. */
  readonly secretEnc: string;
  /** Last accepted RFC 6238 time step, `null` before the first. */
  readonly lastStep: number | null;
}

/** The shapes of the TOTP factor (see `FactorShapes`). */
export interface TotpShapes {
  readonly stored: TotpStored;
  readonly enrollOptions: { readonly issuer: string; readonly account: string };
  readonly display: {
    /** Base32 for manual entry; shown once, never again after enrollment (SECURITY rule 10). */
    readonly secret: string;
    readonly otpauthUri: string;
    readonly qrSvg: string;
  };
  readonly challenge: null;
  /** Persist with `UPDATE … SET last_step = :step WHERE id = ? AND (last_step IS NULL OR last_step < :step)`. */
  readonly commit: { readonly step: number };
  /** The same write: the first code's step becomes `lastStep`; then the caller activates the factor. */
  readonly enrollCommit: { readonly step: number };
}

function check(stored: TotpStored, proof: unknown, ctx: FactorContext): FactorVerifyResult<TotpShapes> {
  const secret = ctx.secrets.open(stored.secretEnc, secretAad(ctx.tenantId, ctx.factorId));
  try {
    const result = verifyTotp({ secret, code: proof, now: ctx.now, lastStep: stored.lastStep });
    if (!result.ok) return result;
    return { ok: true, newState: { secretEnc: stored.secretEnc, lastStep: result.step }, commit: { step: result.step } };
  } finally {
    secret.fill(0);
  }
}

/**
 * TOTP (RFC 6238, SHA-1, 6 digits, 30 s, ±1 step) behind the factor interface. Enrollment seals a fresh secret to
 * the factor's row and shows it once as a URI and QR code; completing it and verifying both check a code against
 * the stored last step and return the step to commit atomically.
 *
 * @example
 * const r = await totpFactor.verify({ secretEnc, lastStep }, body.code, ctx);
 */
export const totpFactor: FactorModule<TotpShapes> = {
  type: 'totp',

  async beginEnrollment(ctx, options) {
    const secret = generateTotpSecret();
    try {
      const uri = otpauthUri({ issuer: options.issuer, account: options.account, secret });
      return {
        pending: { secretEnc: ctx.secrets.seal(secret, secretAad(ctx.tenantId, ctx.factorId)), lastStep: null },
        display: { secret: base32Encode(secret), otpauthUri: uri, qrSvg: await qrCodeSvg(uri) },
      };
    } finally {
      secret.fill(0);
    }
  },

  async completeEnrollment(pending, proof, ctx) {
    // RFC 6238 gives no enrollment step; the first valid code proves the app holds the secret, and its step
    // becomes the first `lastStep`, so the same code cannot then be replayed as a second factor.
    return check(pending, proof, ctx);
  },

  async beginChallenge() {
    return null;
  },

  async verify(stored, proof, ctx) {
    return check(stored, proof, ctx);
  },
};
