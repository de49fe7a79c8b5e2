/**
 * Offline verification of Portcullis's signed sign-in result, as an application should do it before it trusts an
 * `authenticated` answer: the signature against the key set at `<PORTCULLIS_URL>/.well-known/jwks.json` (fetched and
 * cached by jose's `createRemoteJWKSet`, refetched when a rotation brings an unknown `kid`), the explicit type, the
 * issuer, the audience (this shop's client id), the expiry, and that the token speaks of the user, tenant and
 * session the answer named. Anything else is refused: a tampered answer, a result issued to another application, a
 * token signed by anyone else.
 */
import { createRemoteJWKSet, errors, jwtVerify, type JWTPayload } from 'jose';

/** The `typ` header Portcullis sets on a signed result (RFC 8725 §3.11 explicit typing). */
export const RESULT_TYPE = 'portcullis-result+jwt';

/** What the shop keeps of a verified result. */
export interface VerifiedResult {
  readonly userId: string;
  readonly tenantId: string;
  readonly sessionId: string;
  readonly amr: readonly string[];
  readonly acr: string;
  /** Epoch seconds of the session's authentication. */
  readonly authTime: number;
}

/** Why a result was refused (for the log; the user sees one message). */
export class ResultRefused extends Error {
  readonly reason: string;
  constructor(reason: string) {
    super(`signed result refused: ${reason}`);
    this.reason = reason;
  }
}

export interface ResultVerifierOptions {
  /** Portcullis's public URL: the issuer of its results and where its key set is. */
  readonly portcullisUrl: string;
  /** This application's client id: the only audience accepted. */
  readonly clientId: string;
  /** The tenant id this shop signs users in to. */
  readonly tenantId: string;
  /** The clock (epoch ms); default `Date.now`. */
  readonly now?: () => number;
}

export type ResultVerifier = (token: string, expected: { userId: string; sessionId?: string }) => Promise<VerifiedResult>;

/**
 * A verifier bound to one Portcullis, one application and one tenant.
 *
 * @example
 * const verifyResult = createResultVerifier({ portcullisUrl: 'http://localhost:8080', clientId, tenantId });
 * const verified = await verifyResult(answer.result, { userId: answer.userId, sessionId: answer.session.id });
 */
export function createResultVerifier(options: ResultVerifierOptions): ResultVerifier {
  const issuer = options.portcullisUrl.replace(/\/+$/, '');
  const keys = createRemoteJWKSet(new URL('/.well-known/jwks.json', `${issuer}/`));
  const now = options.now ?? Date.now;
  return async (token, expected) => {
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, keys, {
        issuer,
        audience: options.clientId,
        algorithms: ['ES256', 'EdDSA'],
        typ: RESULT_TYPE,
        requiredClaims: ['sub', 'exp', 'iat', 'sid', 'tenant', 'amr', 'acr', 'auth_time'],
        // Portcullis's results live at most five minutes; a longer-lived one is not a result of its.
        maxTokenAge: '5m',
        clockTolerance: 5,
        currentDate: new Date(now()),
      }));
    } catch (error) {
      if (error instanceof errors.JOSEError) throw new ResultRefused(`${error.code}: ${error.message}`);
      throw error;
    }
    const { sub, tenant, sid, amr, acr, auth_time: authTime } = payload;
    if (sub !== expected.userId) throw new ResultRefused('sub is not the user the answer named');
    if (tenant !== options.tenantId) throw new ResultRefused('tenant is not this shop’s tenant');
    if (typeof sid !== 'string' || (expected.sessionId !== undefined && sid !== expected.sessionId)) throw new ResultRefused('sid is not the session the answer named');
    if (!Array.isArray(amr) || !amr.every((m) => typeof m === 'string') || typeof acr !== 'string' || typeof authTime !== 'number') throw new ResultRefused('malformed amr, acr or auth_time');
    return { userId: sub, tenantId: tenant, sessionId: sid, amr: amr as string[], acr, authTime };
  };
}
