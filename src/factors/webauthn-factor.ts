/**
 * WebAuthn (passkeys and security keys) over @simplewebauthn/server 14: options for the two ceremonies and the
 * checks of their answers. Storage-free like the other factors: the caller stores the challenge (by hash, single
 * use), the credential (public key, counter, flags) and makes the conditional writes; nothing here reads a clock or
 * opens a connection. A malformed or refused answer is a returned failure, never a throw.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import {
  generateAuthenticationOptions,
  generateRegistrationOptions,
  verifyAuthenticationResponse,
  verifyRegistrationResponse,
  type AuthenticationResponseJSON,
  type PublicKeyCredentialCreationOptionsJSON,
  type PublicKeyCredentialRequestOptionsJSON,
  type RegistrationResponseJSON,
  SettingsService,
} from '@simplewebauthn/server';
import { decodeAttestationObject, isoBase64URL } from '@simplewebauthn/server/helpers';
import type { FactorFailureReason } from './factor.ts';

/** Where a ceremony may run: the RP id the credential is scoped to and the origins allowed to ask. */
export interface RelyingParty {
  readonly name: string;
  readonly id: string;
  readonly origins: readonly string[];
}

export type UserVerification = 'required' | 'preferred' | 'discouraged';

/** What is kept of a credential (public data only: no secret is involved). */
export interface StoredCredential {
  /** base64url */
  readonly credentialId: string;
  /** COSE public key, base64url. */
  readonly publicKey: string;
  readonly counter: number;
  readonly transports: readonly string[];
}

/** The public facts of a registration, stored with the credential and shown to its owner and admins. */
export interface CredentialFacts {
  readonly aaguid: string;
  /** `multiDevice`: a synced passkey (backup eligible); `singleDevice`: a device-bound security key. */
  readonly deviceType: 'singleDevice' | 'multiDevice';
  readonly backedUp: boolean;
  readonly userVerified: boolean;
  /** The attestation statement format (`none`, `packed`, `tpm`, …). */
  readonly fmt: string;
  /** A full attestation (a certificate chain) was presented and verified against the configured roots. */
  readonly attested: boolean;
}

/** Which authenticator models a tenant accepts (lower-case AAGUIDs). */
export interface ModelRules {
  /** With a list, only these models, and only with a verified attestation (never `none` or self). */
  readonly allow: ReadonlySet<string> | null;
  readonly block: ReadonlySet<string>;
  /** Root certificates are configured for `packed` and `tpm` (without them a chain proves nothing). */
  readonly rootsConfigured: boolean;
}

export type WebauthnFailureReason = FactorFailureReason | 'model_blocked' | 'attestation_required' | 'counter_regression';

/** SHA-256 (hex) of a challenge's base64url text: how the caller stores and finds it. */
export function challengeId(challenge: string): string {
  return createHash('sha256').update(challenge).digest('hex');
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

const B64URL = /^[A-Za-z0-9_-]{1,8192}={0,2}$/;

function b64(value: unknown): value is string {
  return typeof value === 'string' && B64URL.test(value);
}

/** The shape check of an untrusted registration answer (the browser's `PublicKeyCredential.toJSON()`). */
export function parseRegistrationResponse(value: unknown): RegistrationResponseJSON | null {
  if (!isObject(value) || !b64(value.id) || !b64(value.rawId) || value.type !== 'public-key' || !isObject(value.response)) return null;
  const r = value.response;
  if (!b64(r.clientDataJSON) || !b64(r.attestationObject)) return null;
  if (r.transports !== undefined && !(Array.isArray(r.transports) && r.transports.every((t) => typeof t === 'string' && t.length <= 32))) return null;
  return value as unknown as RegistrationResponseJSON;
}

/** The shape check of an untrusted authentication answer. */
export function parseAuthenticationResponse(value: unknown): AuthenticationResponseJSON | null {
  if (!isObject(value) || !b64(value.id) || !b64(value.rawId) || value.type !== 'public-key' || !isObject(value.response)) return null;
  const r = value.response;
  if (!b64(r.clientDataJSON) || !b64(r.authenticatorData) || !b64(r.signature)) return null;
  if (r.userHandle !== undefined && r.userHandle !== null && !b64(r.userHandle)) return null;
  return value as unknown as AuthenticationResponseJSON;
}

/** The challenge an answer's client data carries (base64url), or null when it is unreadable. */
export function challengeOf(response: { readonly response: { readonly clientDataJSON: string } }): string | null {
  try {
    const data: unknown = JSON.parse(isoBase64URL.toUTF8String(response.response.clientDataJSON));
    return isObject(data) && typeof data.challenge === 'string' && data.challenge.length <= 1024 ? data.challenge : null;
  } catch {
    return null;
  }
}

/** The user handle an assertion carries, decoded (our user id), or null. */
export function userHandleOf(response: AuthenticationResponseJSON): string | null {
  const handle = response.response.userHandle;
  if (typeof handle !== 'string' || handle.length === 0) return null;
  try {
    return isoBase64URL.toUTF8String(handle);
  } catch {
    return null;
  }
}

/**
 * Options for `navigator.credentials.create()`. Discoverable credentials are asked for (a passkey signs in with no
 * identifier); the user's existing credentials are excluded (one registration per authenticator); attestation is
 * asked for only when the tenant allow-lists models.
 */
export function registrationOptions(input: {
  readonly rp: RelyingParty;
  readonly user: { readonly id: string; readonly name: string; readonly displayName: string };
  readonly challenge: Uint8Array<ArrayBuffer>;
  readonly exclude: readonly StoredCredential[];
  readonly userVerification: UserVerification;
  readonly attestation: 'none' | 'direct';
  readonly timeoutMs: number;
}): Promise<PublicKeyCredentialCreationOptionsJSON> {
  return generateRegistrationOptions({
    rpName: input.rp.name,
    rpID: input.rp.id,
    userID: new TextEncoder().encode(input.user.id),
    userName: input.user.name,
    userDisplayName: input.user.displayName,
    challenge: input.challenge,
    timeout: input.timeoutMs,
    attestationType: input.attestation,
    excludeCredentials: input.exclude.map((c) => ({ id: c.credentialId, transports: [...c.transports] })),
    authenticatorSelection: { residentKey: 'required', userVerification: input.userVerification },
    // ES256, EdDSA, RS256: what passkeys and security keys use.
    supportedAlgorithmIDs: [-7, -8, -257],
  });
}

/** Options for `navigator.credentials.get()`: the user's credentials, or none (a passkey-first sign-in). */
export function authenticationOptions(input: {
  readonly rp: RelyingParty;
  readonly challenge: Uint8Array<ArrayBuffer>;
  readonly allow: readonly StoredCredential[];
  readonly userVerification: UserVerification;
  readonly timeoutMs: number;
}): Promise<PublicKeyCredentialRequestOptionsJSON> {
  return generateAuthenticationOptions({
    rpID: input.rp.id,
    challenge: input.challenge,
    timeout: input.timeoutMs,
    userVerification: input.userVerification,
    allowCredentials: input.allow.map((c) => ({ id: c.credentialId, transports: [...c.transports] as never })),
  });
}

export type RegistrationResult =
  | { readonly ok: true; readonly credential: StoredCredential; readonly facts: CredentialFacts }
  | { readonly ok: false; readonly reason: WebauthnFailureReason; readonly aaguid?: string };

/**
 * Checks a registration answer against the stored challenge and the relying party, then the tenant's model rules:
 * a blocked AAGUID is refused; under an allow-list, only a listed model with a full attestation (`packed` or `tpm`
 * with a certificate chain, verified against the configured roots) is accepted — `none` and self attestation are
 * refused (CVE-2026-6856).
 */
export async function verifyRegistration(
  answer: unknown,
  expected: { readonly challenge: string; readonly rp: RelyingParty; readonly userVerification: UserVerification; readonly models: ModelRules },
): Promise<RegistrationResult> {
  const response = parseRegistrationResponse(answer);
  if (response === null) return { ok: false, reason: 'malformed' };
  let verified: Awaited<ReturnType<typeof verifyRegistrationResponse>>;
  try {
    verified = await verifyRegistrationResponse({
      response,
      expectedChallenge: expected.challenge,
      expectedOrigin: [...expected.rp.origins],
      expectedRPID: expected.rp.id,
      requireUserVerification: expected.userVerification === 'required',
      supportedAlgorithmIDs: [-7, -8, -257],
    });
  } catch {
    return { ok: false, reason: 'invalid' };
  }
  if (!verified.verified) return { ok: false, reason: 'invalid' };
  const info = verified.registrationInfo;
  const aaguid = info.aaguid.toLowerCase();
  if (expected.models.block.has(aaguid)) return { ok: false, reason: 'model_blocked', aaguid };
  const x5c = decodeAttestationObject(info.attestationObject).get('attStmt').get('x5c');
  const attested = (info.fmt === 'packed' || info.fmt === 'tpm') && x5c !== undefined && x5c.length > 0 && expected.models.rootsConfigured;
  if (expected.models.allow !== null) {
    if (!expected.models.allow.has(aaguid)) return { ok: false, reason: 'model_blocked', aaguid };
    if (!attested) return { ok: false, reason: 'attestation_required', aaguid };
  }
  const transports = response.response.transports ?? [];
  return {
    ok: true,
    credential: { credentialId: info.credential.id, publicKey: isoBase64URL.fromBuffer(info.credential.publicKey), counter: info.credential.counter, transports },
    facts: { aaguid, deviceType: info.credentialDeviceType, backedUp: info.credentialBackedUp, userVerified: info.userVerified, fmt: info.fmt, attested },
  };
}

export type AssertionResult =
  | { readonly ok: true; readonly counter: number; readonly userVerified: boolean; readonly backedUp: boolean }
  | { readonly ok: false; readonly reason: WebauthnFailureReason };

/**
 * Checks an assertion by a stored credential against the stored challenge and the relying party: origin, RP id
 * hash, signature, user presence, user verification when required, and a sign counter that went up (or an
 * authenticator that keeps none).
 */
export async function verifyAssertion(
  answer: AuthenticationResponseJSON,
  stored: StoredCredential,
  expected: { readonly challenge: string; readonly rp: RelyingParty; readonly userVerification: UserVerification },
): Promise<AssertionResult> {
  if (answer.id !== stored.credentialId) return { ok: false, reason: 'invalid' };
  try {
    const verified = await verifyAuthenticationResponse({
      response: answer,
      expectedChallenge: expected.challenge,
      expectedOrigin: [...expected.rp.origins],
      expectedRPID: expected.rp.id,
      requireUserVerification: expected.userVerification === 'required',
      credential: { id: stored.credentialId, publicKey: isoBase64URL.toBuffer(stored.publicKey), counter: stored.counter, transports: [...stored.transports] as never },
    });
    if (!verified.verified) return { ok: false, reason: 'invalid' };
    const info = verified.authenticationInfo;
    return { ok: true, counter: info.newCounter, userVerified: info.userVerified, backedUp: info.credentialBackedUp };
  } catch (error) {
    const message = error instanceof Error ? error.message : '';
    return { ok: false, reason: /counter/i.test(message) ? 'counter_regression' : 'invalid' };
  }
}

/** Names of well-known passkey providers by AAGUID (the community passkey-aaguids list), for default labels. */
const PROVIDERS: Readonly<Record<string, string>> = {
  'fbfc3007-154e-4ecc-8c0b-6e020557d7bd': 'iCloud Keychain',
  'dd4ec289-e01d-41c9-bb89-70fa845d4bf2': 'iCloud Keychain',
  'ea9b8d66-4d01-1d21-3ce4-b6b48cb575d4': 'Google Password Manager',
  'adce0002-35bc-c60a-648b-0b25f1f05503': 'Chrome on Mac',
  '08987058-cadc-4b81-b6e1-30de50dcbe96': 'Windows Hello',
  '9ddd1817-af5a-4672-a2b9-3e3dd95000a9': 'Windows Hello',
  '6028b017-b1d4-4c02-b4b3-afcdafc96bb2': 'Windows Hello',
  'bada5566-a7aa-401f-bd96-45619a55120d': '1Password',
  'd548826e-79b4-db40-a3d8-11116f7e8349': 'Bitwarden',
  '531126d6-e717-415c-9320-3d9aa6981239': 'Dashlane',
  'b84e4048-15dc-4dd0-8640-f4f60813c8af': 'NordPass',
  'cb69481e-8ff7-4039-93ec-0a2729a154a8': 'YubiKey 5',
  'ee882879-721c-4913-9775-3dfcce97072a': 'YubiKey 5',
  'fa2b99dc-9e39-4257-8f92-4a30d23c4118': 'YubiKey 5 NFC',
};

/**
 * The default label of a new credential: "Passkey — iCloud Keychain" for a synced passkey of a known provider,
 * "Security key — YubiKey 5" for a device-bound key, "Passkey" / "Security key" otherwise.
 */
export function defaultCredentialLabel(facts: Pick<CredentialFacts, 'aaguid' | 'deviceType'>): string {
  const kind = facts.deviceType === 'multiDevice' ? 'Passkey' : 'Security key';
  const provider = PROVIDERS[facts.aaguid];
  return provider === undefined ? kind : `${kind} — ${provider}`;
}

/** The credential kept in a factor row's `data` (the counter lives in `lastStep`, the id in `credentialId`). */
export function credentialOf(row: { readonly credentialId: string | null; readonly data: Readonly<Record<string, unknown>> | null; readonly lastStep: number | null }): StoredCredential | null {
  const data = row.data;
  if (row.credentialId === null || data === null || typeof data.publicKey !== 'string') return null;
  const transports = Array.isArray(data.transports) ? data.transports.filter((t): t is string => typeof t === 'string') : [];
  return { credentialId: row.credentialId, publicKey: data.publicKey, counter: row.lastStep ?? 0, transports };
}

/**
 * Installs the operator's attestation root certificates (PEM files) for `packed` and `tpm` attestation: read once at
 * start-up, never fetched at sign-in. A file that does not read or holds no certificate stops the start.
 */
export function useAttestationRoots(paths: readonly string[]): void {
  const certificates: string[] = [];
  for (const path of paths) {
    const text = readFileSync(path, 'utf8');
    const found = text.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
    if (found.length === 0) throw new Error(`webauthn.attestationRoots: ${path} holds no PEM certificate`);
    certificates.push(...found.map((pem) => `${pem}\n`));
  }
  if (certificates.length === 0) return;
  SettingsService.setRootCertificates({ identifier: 'packed', certificates });
  SettingsService.setRootCertificates({ identifier: 'tpm', certificates });
}
