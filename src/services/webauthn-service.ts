/**
 * The server half of the WebAuthn ceremonies (passkeys and security keys): options with a single-use challenge
 * bound to the MFA session and the calling application, and the registration's confirmation through the one
 * enrollment end ({@link finishEnrollment}). An assertion is checked where every factor proof is
 * (src/services/factor-verify.ts); a passkey-first sign-in is `signInWithPasskey` (src/services/flow-service.ts).
 */
import { randomBytes, randomUUID } from 'node:crypto';
import type { PublicKeyCredentialCreationOptionsJSON, PublicKeyCredentialRequestOptionsJSON } from '@simplewebauthn/server';
import { isoBase64URL } from '@simplewebauthn/server/helpers';
import { PortcullisError } from '../core/index.ts';
import {
  authenticationOptions,
  challengeId,
  challengeOf,
  credentialOf,
  defaultCredentialLabel,
  parseRegistrationResponse,
  registrationOptions,
  verifyRegistration,
  type StoredCredential,
  type UserVerification,
} from '../factors/webauthn-factor.ts';
import type { FactorRecord, TenantStore, WebauthnCeremony } from '../store/index.ts';
import type { ServiceDeps } from './deps.ts';
import { assertMayEnroll, finishEnrollment, withSessionId, type EnrollmentConfirmResult } from './enrollment-service.ts';
import { actorOf, openSession, type Caller } from './flow-service.ts';
import { catalogOf, servedTenant } from './tenant-access.ts';
import { DEFAULT_WEBAUTHN_CONFIG, modelRulesFor, relyingPartyFor } from './webauthn-settings.ts';

/** A ceremony's challenge lives this long (the browser's timeout is the same). */
export const WEBAUTHN_CEREMONY_TTL_MS = 5 * 60_000;

/** At most this many passkeys and security keys per user. */
export const MAX_WEBAUTHN_CREDENTIALS = 20;

/** User verification is required by default: a passkey is then multi-factor by itself (DESIGN §4). */
const USER_VERIFICATION: UserVerification = 'required';

function credentialsOf(factors: readonly FactorRecord[]): StoredCredential[] {
  return factors.flatMap((f) => {
    const credential = f.type === 'webauthn' && f.status === 'active' ? credentialOf(f) : null;
    return credential === null ? [] : [credential];
  });
}

/** Stores a fresh challenge (its hash) for one ceremony and answers its bytes. */
async function issueChallenge(
  t: TenantStore,
  input: { kind: WebauthnCeremony; caller: Caller; mfaSessionId: string | null; userId: string | null; rpId: string; now: number },
): Promise<Uint8Array<ArrayBuffer>> {
  const bytes = new Uint8Array(randomBytes(32));
  await t.webauthnChallenges.create({
    id: challengeId(isoBase64URL.fromBuffer(bytes)),
    kind: input.kind,
    applicationId: input.caller.application.id,
    mfaSessionId: input.mfaSessionId,
    userId: input.userId,
    userVerification: USER_VERIFICATION,
    rpId: input.rpId,
    expiresAt: input.now + WEBAUTHN_CEREMONY_TTL_MS,
    now: input.now,
  });
  return bytes;
}

export interface WebauthnRegistrationStart {
  /** For `navigator.credentials.create({ publicKey: PublicKeyCredential.parseCreationOptionsFromJSON(options) })`. */
  readonly options: PublicKeyCredentialCreationOptionsJSON;
  readonly expiresIn: number;
}

/**
 * Begins a passkey registration in an MFA session that may enroll (the wall after the challenge, or a voluntary
 * enrollment): the user's existing credentials are excluded; attestation is asked for when the tenant allow-lists
 * authenticator models.
 */
export async function beginWebauthnEnrollment(deps: ServiceDeps, caller: Caller, input: { mfaSessionId: string }): Promise<WebauthnRegistrationStart> {
  const { tenant, session, user } = await openSession(deps, caller, input.mfaSessionId);
  assertMayEnroll(session, 'webauthn');
  const now = deps.now();
  const config = deps.webauthn ?? DEFAULT_WEBAUTHN_CONFIG;
  const catalog = await catalogOf(deps, caller);
  const [rp, models] = await Promise.all([relyingPartyFor(config, catalog, tenant.tenantId, caller.application.clientId), modelRulesFor(config, catalog, tenant.tenantId)]);
  const existing = credentialsOf(await tenant.factors.listForUser(user.id, 'active'));
  if (existing.length >= MAX_WEBAUTHN_CREDENTIALS) throw new PortcullisError('FACTOR_ALREADY_ACTIVE', `The user already has ${MAX_WEBAUTHN_CREDENTIALS} passkeys or security keys; remove one first.`);
  const challenge = await issueChallenge(tenant, { kind: 'registration', caller, mfaSessionId: session.id, userId: user.id, rpId: rp.id, now });
  const options = await registrationOptions({
    rp,
    user: { id: user.id, name: user.email, displayName: user.email },
    challenge,
    exclude: existing,
    userVerification: USER_VERIFICATION,
    attestation: models.allow === null ? 'none' : 'direct',
    timeoutMs: WEBAUTHN_CEREMONY_TTL_MS,
  });
  return { options, expiresIn: WEBAUTHN_CEREMONY_TTL_MS / 1000 };
}

/**
 * Confirms a passkey registration: the answer must carry this session's unused challenge and pass the ceremony's
 * checks and the tenant's model rules; the challenge is spent and the credential created active in the transaction
 * that claims the session ({@link finishEnrollment}). A refused model is `MFA_FACTOR_NOT_ALLOWED`, audited.
 */
export async function confirmWebauthnEnrollment(
  deps: ServiceDeps,
  caller: Caller,
  input: { mfaSessionId: string; response: unknown; label?: string; rememberDevice?: boolean },
): Promise<EnrollmentConfirmResult> {
  const opened = await openSession(deps, caller, input.mfaSessionId);
  const { tenant, session, user } = opened;
  assertMayEnroll(session, 'webauthn');
  const now = deps.now();
  const base = { at: now, actor: actorOf(caller), userId: user.id, applicationId: caller.application.id };
  const refuse = async (reason: string): Promise<never> => {
    await tenant.users.recordSigninFailure(user.id, now);
    await tenant.audit.append({ ...base, event: 'user.mfa_failed', data: { method: 'webauthn', reason } });
    throw new PortcullisError('MFA_CODE_INVALID', 'The passkey registration could not be verified; try again.');
  };
  const parsed = parseRegistrationResponse(input.response);
  const challenge = parsed === null ? null : challengeOf(parsed);
  const issued = challenge === null ? null : await tenant.webauthnChallenges.get(challengeId(challenge));
  if (challenge === null || issued === null || issued.kind !== 'registration' || issued.mfaSessionId !== session.id || issued.applicationId !== caller.application.id || issued.usedAt !== null || issued.expiresAt <= now) {
    return refuse(parsed === null ? 'malformed' : 'challenge_unknown_or_used');
  }
  const config = deps.webauthn ?? DEFAULT_WEBAUTHN_CONFIG;
  const catalog = await catalogOf(deps, caller);
  const [rp, models] = await Promise.all([relyingPartyFor(config, catalog, tenant.tenantId, caller.application.clientId), modelRulesFor(config, catalog, tenant.tenantId)]);
  const result = await verifyRegistration(input.response, { challenge, rp: { ...rp, id: issued.rpId }, userVerification: issued.userVerification, models });
  if (!result.ok) {
    if (result.reason === 'model_blocked' || result.reason === 'attestation_required') {
      await tenant.audit.append({ ...base, event: 'mfa.authenticator_refused', data: { reason: result.reason, aaguid: result.aaguid ?? null } });
      throw new PortcullisError(
        'MFA_FACTOR_NOT_ALLOWED',
        result.reason === 'model_blocked' ? 'This authenticator model is not allowed here; use another passkey or security key.' : 'This organisation accepts only attested authenticator models; this one did not prove its model.',
      );
    }
    return refuse(result.reason);
  }
  const { credential, facts } = result;
  const factorId = randomUUID();
  const label = input.label ?? defaultCredentialLabel(facts);
  const flow = await finishEnrollment(
    deps,
    caller,
    opened,
    {
      type: 'webauthn',
      factorId,
      step: { method: 'webauthn', userVerified: facts.userVerified, synced: facts.deviceType === 'multiDevice' },
      replacesAfterBreakGlass: false,
      auditData: { aaguid: facts.aaguid, deviceType: facts.deviceType, backedUp: facts.backedUp, attestation: facts.fmt },
      activate: async (t, at) => {
        if (!(await t.webauthnChallenges.consume(issued.id, at))) return false;
        if ((await t.factors.findByCredentialId(credential.credentialId)) !== null) throw new PortcullisError('FACTOR_ALREADY_ACTIVE', 'This passkey is already registered.');
        await t.factors.create({
          id: factorId,
          userId: user.id,
          type: 'webauthn',
          status: 'active',
          label,
          credentialId: credential.credentialId,
          signCount: credential.counter,
          data: { publicKey: credential.publicKey, transports: [...credential.transports], aaguid: facts.aaguid, deviceType: facts.deviceType, backedUp: facts.backedUp, userVerified: facts.userVerified, attestation: facts.fmt, attested: facts.attested },
          now: at,
        });
        return true;
      },
    },
    { rememberDevice: input.rememberDevice === true, refuse: () => refuse('challenge_used') },
  );
  return withSessionId(flow, input.mfaSessionId);
}

export interface WebauthnAssertionStart {
  /** For `navigator.credentials.get({ publicKey: PublicKeyCredential.parseRequestOptionsFromJSON(options) })`. */
  readonly options: PublicKeyCredentialRequestOptionsJSON;
  readonly expiresIn: number;
}

/**
 * `POST /auth/mfa/challenge` for `webauthn`: options naming the user's credentials, with a challenge bound to this MFA
 * session; the answer goes to `POST /auth/mfa/verify` with `method: "webauthn"` and the credential as `code`.
 */
export async function beginWebauthnChallenge(deps: ServiceDeps, caller: Caller, input: { mfaSessionId: string }): Promise<WebauthnAssertionStart> {
  const { tenant, session, user } = await openSession(deps, caller, input.mfaSessionId);
  if (!(session.methods as readonly string[]).includes('webauthn')) {
    throw new PortcullisError('MFA_METHOD_NOT_ALLOWED', 'A passkey is not offered in this MFA session.', { extra: { methods: session.methods } });
  }
  const now = deps.now();
  const rp = await relyingPartyFor(deps.webauthn ?? DEFAULT_WEBAUTHN_CONFIG, await catalogOf(deps, caller), tenant.tenantId, caller.application.clientId);
  const allow = credentialsOf(await tenant.factors.listForUser(user.id, 'active'));
  const challenge = await issueChallenge(tenant, { kind: 'authentication', caller, mfaSessionId: session.id, userId: user.id, rpId: rp.id, now });
  return { options: await authenticationOptions({ rp, challenge, allow, userVerification: USER_VERIFICATION, timeoutMs: WEBAUTHN_CEREMONY_TTL_MS }), expiresIn: WEBAUTHN_CEREMONY_TTL_MS / 1000 };
}

/**
 * `POST /auth/passkey/options`: options for a passkey-first sign-in in a tenant (no user named: the browser offers
 * the tenant's discoverable credentials, also as conditional-UI autofill). The answer goes to `POST /auth/passkey`.
 * A tenant the application does not serve answers `NOT_FOUND`.
 */
export async function beginPasskeySignin(deps: ServiceDeps, caller: Caller, input: { tenant: string }): Promise<WebauthnAssertionStart> {
  const tenant = await servedTenant(deps, caller, input.tenant);
  if (tenant === null) throw new PortcullisError('NOT_FOUND', 'No such tenant.');
  const now = deps.now();
  const rp = await relyingPartyFor(deps.webauthn ?? DEFAULT_WEBAUTHN_CONFIG, await catalogOf(deps, caller), tenant.tenantId, caller.application.clientId);
  const challenge = await issueChallenge(tenant, { kind: 'authentication', caller, mfaSessionId: null, userId: null, rpId: rp.id, now });
  return { options: await authenticationOptions({ rp, challenge, allow: [], userVerification: USER_VERIFICATION, timeoutMs: WEBAUTHN_CEREMONY_TTL_MS }), expiresIn: WEBAUTHN_CEREMONY_TTL_MS / 1000 };
}
