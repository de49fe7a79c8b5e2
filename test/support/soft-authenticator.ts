/**
 * A deterministic software authenticator for in-process WebAuthn tests: it builds the bytes a browser and an
 * authenticator would (client data, authenticator data, COSE key, CBOR attestation object, ECDSA P-256 signature)
 * from a seed, so every test can forge exactly the deviation it checks (wrong origin, wrong RP id, missing UV, a
 * lower counter, another challenge, a bad signature). It shares no code with the server's verification: the bytes
 * follow WebAuthn Level 3 §6.1 and §6.5 and RFC 8152 directly; only the CBOR encoder is borrowed.
 */
import { createECDH, createHash, createPrivateKey, sign, type KeyObject } from 'node:crypto';
import { isoCBOR } from '@simplewebauthn/server/helpers';

const b64url = (bytes: Uint8Array): string => Buffer.from(bytes).toString('base64url');
const sha256 = (data: Uint8Array | string): Buffer => createHash('sha256').update(data).digest();

const FLAG_UP = 0x01;
const FLAG_UV = 0x04;
const FLAG_BE = 0x08;
const FLAG_BS = 0x10;
const FLAG_AT = 0x40;

export interface SoftCredentialOptions {
  /** Seeds the key pair and the credential id (the same seed gives the same credential). */
  readonly seed: string;
  readonly rpId: string;
  readonly origin: string;
  /** The user handle stored in a discoverable credential (our user id). */
  readonly userHandle?: string;
  /** A synced passkey (backup eligible and backed up) rather than a device-bound key. Default true. */
  readonly synced?: boolean;
  /** The authenticator model. Default all zeros (what `none` attestation usually carries). */
  readonly aaguid?: string;
  /** Authenticators that keep no counter always send 0. Default: counts from 1. */
  readonly counter?: 'none' | 'counting';
}

export interface CeremonyOverrides {
  readonly origin?: string;
  readonly rpId?: string;
  readonly challenge?: string;
  /** Default true. */
  readonly userVerified?: boolean;
  /** Sign with another key (a bad signature). */
  readonly wrongKey?: boolean;
  /** Force this counter value. */
  readonly counter?: number;
  readonly type?: string;
  readonly userHandle?: string | null;
}

function keyFromSeed(seed: string): { privateKey: KeyObject; x: Buffer; y: Buffer } {
  const ecdh = createECDH('prime256v1');
  // A seed hashed to a scalar: below the P-256 order with overwhelming probability.
  const d = sha256(`soft-authenticator:${seed}`);
  ecdh.setPrivateKey(d);
  const point = ecdh.getPublicKey();
  const x = point.subarray(1, 33);
  const y = point.subarray(33, 65);
  const privateKey = createPrivateKey({ key: { kty: 'EC', crv: 'P-256', d: d.toString('base64url'), x: x.toString('base64url'), y: y.toString('base64url') }, format: 'jwk' });
  return { privateKey, x, y };
}

function aaguidBytes(aaguid: string): Buffer {
  return Buffer.from(aaguid.replaceAll('-', ''), 'hex');
}

/** A software credential: `register` answers `navigator.credentials.create`, `assert` answers `.get`. */
export class SoftCredential {
  readonly id: string;
  readonly options: SoftCredentialOptions;
  #counter = 0;
  readonly #key: ReturnType<typeof keyFromSeed>;
  readonly #other: ReturnType<typeof keyFromSeed>;

  constructor(options: SoftCredentialOptions) {
    this.options = options;
    this.#key = keyFromSeed(options.seed);
    this.#other = keyFromSeed(`${options.seed}:other`);
    this.id = b64url(sha256(`credential:${options.seed}`).subarray(0, 16));
  }

  get counter(): number {
    return this.#counter;
  }

  #flags(overrides: CeremonyOverrides, extra: number): number {
    const synced = this.options.synced !== false;
    return FLAG_UP | (overrides.userVerified === false ? 0 : FLAG_UV) | (synced ? FLAG_BE | FLAG_BS : 0) | extra;
  }

  #nextCounter(overrides: CeremonyOverrides): number {
    if (overrides.counter !== undefined) return overrides.counter;
    if (this.options.counter === 'none') return 0;
    this.#counter += 1;
    return this.#counter;
  }

  #clientData(type: string, challenge: string, overrides: CeremonyOverrides): Buffer {
    return Buffer.from(JSON.stringify({ type: overrides.type ?? type, challenge: overrides.challenge ?? challenge, origin: overrides.origin ?? this.options.origin, crossOrigin: false }));
  }

  /** The COSE_Key (RFC 8152 §13.1.1) of the public key: EC2, ES256, P-256. */
  cosePublicKey(): Uint8Array {
    return isoCBOR.encode(
      new Map<number, number | Uint8Array>([
        [1, 2],
        [3, -7],
        [-1, 1],
        [-2, new Uint8Array(this.#key.x)],
        [-3, new Uint8Array(this.#key.y)],
      ]),
    );
  }

  /** Authenticator data with the attested credential (registration). */
  registrationAuthData(overrides: CeremonyOverrides = {}): Buffer {
    const rpIdHash = sha256(overrides.rpId ?? this.options.rpId);
    const counter = Buffer.alloc(4);
    counter.writeUInt32BE(this.options.counter === 'none' ? 0 : this.#counter);
    const credentialId = Buffer.from(this.id, 'base64url');
    const idLength = Buffer.alloc(2);
    idLength.writeUInt16BE(credentialId.length);
    return Buffer.concat([rpIdHash, Buffer.from([this.#flags(overrides, FLAG_AT)]), counter, aaguidBytes(this.options.aaguid ?? '00000000-0000-0000-0000-000000000000'), idLength, credentialId, this.cosePublicKey()]);
  }

  /**
   * A registration answer (`PublicKeyCredential.toJSON()` of `create`) with `none` attestation, or with the given
   * attestation statement (`packed`: built by the caller over authData ‖ SHA-256(clientDataJSON)).
   */
  register(challenge: string, overrides: CeremonyOverrides = {}, attestation?: (authData: Buffer, clientDataHash: Buffer) => { fmt: string; attStmt: Map<string, unknown> }): Record<string, unknown> {
    const clientDataJSON = this.#clientData('webauthn.create', challenge, overrides);
    const authData = this.registrationAuthData(overrides);
    const statement = attestation === undefined ? { fmt: 'none', attStmt: new Map<string, unknown>() } : attestation(authData, sha256(clientDataJSON));
    const attestationObject = isoCBOR.encode(new Map<string, unknown>([['fmt', statement.fmt], ['attStmt', statement.attStmt], ['authData', new Uint8Array(authData)]]) as never);
    return {
      id: this.id,
      rawId: this.id,
      type: 'public-key',
      response: { clientDataJSON: b64url(clientDataJSON), attestationObject: b64url(attestationObject), transports: ['internal', 'hybrid'] },
      clientExtensionResults: {},
      authenticatorAttachment: 'platform',
    };
  }

  /** Self attestation (`packed` without a certificate chain): signed by the credential's own key. */
  selfAttestation(): (authData: Buffer, clientDataHash: Buffer) => { fmt: string; attStmt: Map<string, unknown> } {
    return (authData, clientDataHash) => ({
      fmt: 'packed',
      attStmt: new Map<string, unknown>([
        ['alg', -7],
        ['sig', new Uint8Array(sign('sha256', Buffer.concat([authData, clientDataHash]), this.#key.privateKey))],
      ]),
    });
  }

  /** An assertion answer (`PublicKeyCredential.toJSON()` of `get`). */
  assert(challenge: string, overrides: CeremonyOverrides = {}): Record<string, unknown> {
    const clientDataJSON = this.#clientData('webauthn.get', challenge, overrides);
    const counter = Buffer.alloc(4);
    counter.writeUInt32BE(this.#nextCounter(overrides));
    const authData = Buffer.concat([sha256(overrides.rpId ?? this.options.rpId), Buffer.from([this.#flags(overrides, 0)]), counter]);
    const key = overrides.wrongKey === true ? this.#other.privateKey : this.#key.privateKey;
    const signature = sign('sha256', Buffer.concat([authData, sha256(clientDataJSON)]), key);
    const handle = overrides.userHandle === undefined ? this.options.userHandle : overrides.userHandle;
    return {
      id: this.id,
      rawId: this.id,
      type: 'public-key',
      response: {
        clientDataJSON: b64url(clientDataJSON),
        authenticatorData: b64url(authData),
        signature: b64url(signature),
        ...(handle === undefined || handle === null ? {} : { userHandle: b64url(Buffer.from(handle)) }),
      },
      clientExtensionResults: {},
      authenticatorAttachment: 'platform',
    };
  }
}

/** The challenge of options the server sent (base64url, as the browser echoes it in client data). */
export function challengeOfOptions(answer: unknown): string {
  const options = (answer as { options?: { challenge?: unknown } }).options;
  if (typeof options?.challenge !== 'string') throw new Error(`no challenge in ${JSON.stringify(answer)}`);
  return options.challenge;
}
