/**
 * Signed sign-in results and the key set behind `/.well-known/jwks.json` (DESIGN §1 "Login session", §8).
 *
 * One ES256 key signs at a time (the `active` one); after a rotation the previous key is `retiring`: it signs no
 * more but stays published until every token it signed has expired. The private keys are sealed at rest by the
 * secret box under the AAD `signing_key:<kid>`; the store never sees one in clear. The same key set is meant
 * for the OIDC provider ({@link ResultSigner.signingJwks}).
 *
 * Scale-out: many stateless nodes share one database, so a node caches its view of the active key and of the
 * published set for at most `cacheMs` (default {@link KEY_CACHE_MS}, 2 s). A node that has not yet seen a
 * rotation done elsewhere may go on signing with the key it knows for up to that long; a retired key therefore
 * stays published for `cacheMs + 5 min + skew` (the default `retainMs`), so every token it signed is verifiable
 * until it expires. Signing never uses a key that is not in the published set.
 *
 * The published set is authenticated by the secret key, not taken on the database's word: each public JWK is
 * derived from the opened (AES-GCM authenticated) private JWK and must match its kid (RFC 7638 thumbprint) and
 * the stored public JWK. A row written by someone without the secret key is never published and never signs.
 */
import { randomBytes } from 'node:crypto';
import { calculateJwkThumbprint, exportJWK, generateKeyPair, importJWK, SignJWT, type CryptoKey, type JWK } from 'jose';
import { PortcullisError } from '../core/index.ts';
import type { Millis, PublicJwk, SigningKeyRecord, SigningKeyState } from '../store/index.ts';
import type { ServiceDeps } from './deps.ts';

/** The JWS algorithm of every key (ECDSA P-256 / SHA-256, RFC 7518 §3.4). */
export const SIGNING_ALG = 'ES256';

/**
 * The `typ` header of a signed sign-in result (RFC 8725 §3.11 explicit typing). The same keys will sign the OIDC
 * provider's ID tokens, and a result carries `iss`/`aud`/`sub` like one; the distinct type lets a verifier refuse
 * one where the other is expected, so neither can be replayed as the other.
 */
export const RESULT_TOKEN_TYPE = 'portcullis-result+jwt';

/** The longest a signed result lives (`exp - iat`), and its default. */
export const MAX_RESULT_LIFETIME_MS = 5 * 60_000;

/** Clock difference tolerated between nodes (and between us and verifiers) when a retired key is unpublished. */
export const CLOCK_SKEW_MS = 60_000;

/** Default time a node trusts its cached view of the active key and of the published set. */
export const KEY_CACHE_MS = 2_000;

/** The largest `cacheMs` accepted: a rotation must reach every node within seconds. */
export const MAX_KEY_CACHE_MS = 10_000;

/**
 * What the caller states about a completed sign-in (a login session). Times are epoch milliseconds, like the
 * rest of the code; the token carries them as RFC 7519 NumericDate seconds.
 */
export interface ResultClaims {
  /** `sub`: the user id. */
  readonly subject: string;
  /** `aud`: the application's client id. */
  readonly audience: string;
  /** `tenant`: the tenant id. */
  readonly tenantId: string;
  /** `sid`: the login session's public id. */
  readonly sessionId: string;
  /** `amr` (RFC 8176 values and ours, e.g. `["pwd", "otp", "mfa"]`); at least one. */
  readonly amr: readonly string[];
  /** `acr`, e.g. `urn:portcullis:acr:mfa`. */
  readonly acr: string;
  /** `auth_time`: when the user authenticated (epoch ms). */
  readonly authTime: Millis;
}

/** Options of {@link ResultSigner.signResult}. */
export interface SignResultOptions {
  /** `exp - iat`, at most (and by default) {@link MAX_RESULT_LIFETIME_MS}. */
  readonly lifetimeMs?: number;
}

/** The payload of a signed result, as a verifier reads it (times in seconds). */
export interface ResultTokenPayload {
  readonly iss: string;
  readonly sub: string;
  readonly aud: string;
  readonly tenant: string;
  readonly sid: string;
  readonly amr: readonly string[];
  readonly acr: string;
  readonly auth_time: number;
  readonly iat: number;
  readonly exp: number;
  /** 128 random bits, so a verifier can refuse a replay within the token's life. */
  readonly jti: string;
}

/** A JWK Set (RFC 7517 §5) of public keys. */
export interface JsonWebKeySet {
  readonly keys: readonly PublicJwk[];
}

/** A private JWK set, for the OIDC provider's `jwks` option only. Never serve or log it. */
export interface PrivateJsonWebKeySet {
  readonly keys: readonly JWK[];
}

/** What may be shown about a key (never its private part). */
export interface SigningKeyInfo {
  readonly kid: string;
  readonly alg: string;
  readonly state: SigningKeyState;
  /** In `/.well-known/jwks.json` now. */
  readonly published: boolean;
  readonly createdAt: Millis;
  readonly activatedAt: Millis;
  readonly retiredAt: Millis | null;
  readonly retireAfter: Millis | null;
}

/** The outcome of {@link ResultSigner.rotate}. */
export interface RotationReport {
  readonly active: SigningKeyInfo;
  /** The key that stopped signing, or `null` when there was none. */
  readonly retiredKid: string | null;
  /** Until when it stays published. */
  readonly retiredUntil: Millis | null;
  /** Retired keys whose publication had ended, deleted with their private keys. */
  readonly deleted: number;
}

/** Options of {@link createResultSigner}. */
export interface ResultSignerOptions {
  /** `iss` of every result: the deployment's public URL (config `publicUrl`), the OIDC issuer to be. */
  readonly issuer: string;
  /** How long a node trusts its cached key view (default {@link KEY_CACHE_MS}; 0 re-reads every time). */
  readonly cacheMs?: number;
  /**
   * How long a retired key stays published; at least (and by default) `cacheMs` + {@link MAX_RESULT_LIFETIME_MS}
   * + {@link CLOCK_SKEW_MS}. The OIDC provider will need its longest token lifetime added here.
   */
  readonly retainMs?: number;
}

/** Signs sign-in results and serves the key set; one per process, shared by all requests. */
export interface ResultSigner {
  /** Creates the first key when none is active (at start); safe when nodes start together. Returns the active key. */
  ensureKey(now: Millis): Promise<SigningKeyInfo>;
  /**
   * Signs a result with the active key: an ES256 JWT (`typ` {@link RESULT_TOKEN_TYPE}, `kid`). Call it after the
   * transaction that made the session has committed (it reads through the store outside any transaction).
   */
  signResult(claims: ResultClaims, now: Millis, options?: SignResultOptions): Promise<string>;
  /** The public keys to publish: the active key and the retiring keys still within their publication. */
  jwks(now: Millis): Promise<JsonWebKeySet>;
  /** Makes a new key active; the previous one signs no more and stays published for `retainMs`. Audited. */
  rotate(now: Millis, actor?: string): Promise<RotationReport>;
  /** Every stored key, active first. */
  listKeys(now: Millis): Promise<readonly SigningKeyInfo[]>;
  /** The published keys with their private parts, active first: for the OIDC provider's `jwks` option only. */
  signingJwks(now: Millis): Promise<PrivateJsonWebKeySet>;
}

/**
 * The AAD that binds a sealed private key to its row, so a sealed key copied under another kid will not open.
 *
 * @example
 * secrets.seal(Buffer.from(JSON.stringify(privateJwk)), signingKeyAad(kid));
 */
export function signingKeyAad(kid: string): string {
  return `signing_key:${kid}`;
}

/** A key as this node uses it: derived from the authenticated private JWK. */
interface OpenedKey {
  readonly sealed: string;
  readonly publicJwk: PublicJwk;
  readonly privateJwk: JWK;
  readonly signingKey: CryptoKey;
}

interface GeneratedKey {
  readonly kid: string;
  readonly publicJwk: PublicJwk;
  readonly sealed: string;
}

function publicPart(jwk: JWK, kid: string): PublicJwk {
  if (jwk.kty !== 'EC' || jwk.crv !== 'P-256' || typeof jwk.x !== 'string' || typeof jwk.y !== 'string') {
    throw new PortcullisError('INTERNAL', 'A signing key is not an EC P-256 key.', { detail: `kid ${kid}` });
  }
  return { kty: 'EC', crv: 'P-256', x: jwk.x, y: jwk.y, kid, alg: SIGNING_ALG, use: 'sig' };
}

function toInfo(record: SigningKeyRecord, now: Millis): SigningKeyInfo {
  return {
    kid: record.kid,
    alg: record.alg,
    state: record.state,
    published: record.state === 'active' || (record.retireAfter !== null && record.retireAfter > now),
    createdAt: record.createdAt,
    activatedAt: record.activatedAt,
    retiredAt: record.retiredAt,
    retireAfter: record.retireAfter,
  };
}

function invalidClaims(detail: string): PortcullisError {
  return new PortcullisError('INTERNAL', 'The sign-in result cannot be signed.', { detail });
}

function checkClaims(claims: ResultClaims, now: Millis): void {
  for (const name of ['subject', 'audience', 'tenantId', 'sessionId', 'acr'] as const) {
    const value: unknown = claims[name];
    if (typeof value !== 'string' || value === '') throw invalidClaims(`${name} must be a non-empty string`);
  }
  if (!Array.isArray(claims.amr) || claims.amr.length === 0 || !claims.amr.every((m) => typeof m === 'string' && m !== '')) {
    throw invalidClaims('amr must be a non-empty array of non-empty strings');
  }
  if (!Number.isSafeInteger(claims.authTime) || claims.authTime > now + CLOCK_SKEW_MS) throw invalidClaims('authTime must be an epoch-ms time, not in the future');
}

/**
 * The signer over the store and the secret box. Create one per process and share it: its cache is what keeps
 * signing to one database read per `cacheMs`.
 *
 * @example
 * const signer = createResultSigner(deps, { issuer: config.publicUrl });
 * await signer.ensureKey(deps.now());
 * const token = await signer.signResult(
 *   { subject: user.id, audience: app.clientId, tenantId, sessionId, amr: ['pwd', 'otp', 'mfa'], acr: 'urn:portcullis:acr:mfa', authTime: now },
 *   deps.now(),
 * );
 */
export function createResultSigner(deps: Pick<ServiceDeps, 'store' | 'secrets' | 'logger'>, options: ResultSignerOptions): ResultSigner {
  const { store, secrets, logger } = deps;
  const cacheMs = options.cacheMs ?? KEY_CACHE_MS;
  if (!Number.isSafeInteger(cacheMs) || cacheMs < 0 || cacheMs > MAX_KEY_CACHE_MS) {
    throw new PortcullisError('INTERNAL', `The signing-key cache time must be 0 to ${MAX_KEY_CACHE_MS} ms.`);
  }
  const minRetainMs = cacheMs + MAX_RESULT_LIFETIME_MS + CLOCK_SKEW_MS;
  const retainMs = options.retainMs ?? minRetainMs;
  if (!Number.isSafeInteger(retainMs) || retainMs < minRetainMs) {
    throw new PortcullisError('INTERNAL', `A retired signing key must stay published at least ${minRetainMs} ms.`);
  }
  if (typeof options.issuer !== 'string' || options.issuer === '') throw new PortcullisError('INTERNAL', 'The result issuer must be set.');

  /** Opened keys by kid; an entry is reused only while the row still holds the same sealed value. */
  const opened = new Map<string, OpenedKey>();
  let active: { readonly kid: string; readonly key: OpenedKey; readonly readAt: Millis } | null = null;
  let published: { readonly records: readonly SigningKeyRecord[]; readonly readAt: Millis } | null = null;

  const fresh = (readAt: Millis, now: Millis): boolean => now >= readAt && now - readAt < cacheMs;

  async function open(record: SigningKeyRecord): Promise<OpenedKey> {
    const cached = opened.get(record.kid);
    if (cached !== undefined && cached.sealed === record.privateJwkSealed) return cached;
    let privateJwk: JWK;
    try {
      privateJwk = JSON.parse(secrets.open(record.privateJwkSealed, signingKeyAad(record.kid)).toString('utf8')) as JWK;
    } catch (error) {
      // Altered, sealed under another secret key, or moved from another kid's row.
      throw new PortcullisError('INTERNAL', 'A stored signing key does not open with this secret key.', { cause: error, detail: `kid ${record.kid}` });
    }
    const publicJwk = publicPart(privateJwk, record.kid);
    const thumbprint = await calculateJwkThumbprint({ kty: 'EC', crv: 'P-256', x: publicJwk.x ?? '', y: publicJwk.y ?? '' }, 'sha256');
    if (thumbprint !== record.kid || record.publicJwk.x !== publicJwk.x || record.publicJwk.y !== publicJwk.y || record.alg !== SIGNING_ALG) {
      throw new PortcullisError('INTERNAL', 'A stored signing key does not match its id.', { detail: `kid ${record.kid}` });
    }
    const key: OpenedKey = {
      sealed: record.privateJwkSealed,
      publicJwk,
      privateJwk: { ...privateJwk, kid: record.kid, alg: SIGNING_ALG, use: 'sig' },
      signingKey: (await importJWK({ ...privateJwk, ext: false }, SIGNING_ALG)) as CryptoKey,
    };
    opened.set(record.kid, key);
    return key;
  }

  async function generate(): Promise<GeneratedKey> {
    const { privateKey } = await generateKeyPair(SIGNING_ALG, { extractable: true });
    const privateJwk = await exportJWK(privateKey);
    const kid = await calculateJwkThumbprint({ kty: 'EC', crv: 'P-256', x: privateJwk.x ?? '', y: privateJwk.y ?? '' }, 'sha256');
    const sealed = secrets.seal(Buffer.from(JSON.stringify({ kty: privateJwk.kty, crv: privateJwk.crv, x: privateJwk.x, y: privateJwk.y, d: privateJwk.d })), signingKeyAad(kid));
    return { kid, publicJwk: publicPart(privateJwk, kid), sealed };
  }

  async function readActive(): Promise<SigningKeyRecord> {
    const record = await store.signingKeys.getActive();
    if (record === null) throw new PortcullisError('SERVICE_UNAVAILABLE', 'No signing key is active; retry.');
    return record;
  }

  async function ensureKey(now: Millis): Promise<SigningKeyInfo> {
    const existing = await store.signingKeys.getActive();
    if (existing !== null) return toInfo(existing, now);
    const key = await generate();
    // The unique index decides between nodes starting together: exactly one insert lands, and only its node
    // audits; the others read the winner.
    const created = await store.transaction(async (tx) => {
      if (!(await tx.signingKeys.insertActiveIfNone({ kid: key.kid, alg: SIGNING_ALG, publicJwk: key.publicJwk, privateJwkSealed: key.sealed, now }))) return false;
      await tx.audit.append({ tenantId: null, at: now, actor: 'system', subject: key.kid, event: 'signing_key.created', data: { kid: key.kid, alg: SIGNING_ALG } });
      return true;
    });
    if (created) logger.info({ kid: key.kid }, 'created the first result-signing key');
    return toInfo(await readActive(), now);
  }

  async function activeKey(now: Millis): Promise<{ kid: string; key: OpenedKey }> {
    if (active !== null && fresh(active.readAt, now)) return active;
    let record = await store.signingKeys.getActive();
    if (record === null) {
      await ensureKey(now);
      record = await readActive();
    }
    const key = await open(record);
    // A key this node has not published yet (activated elsewhere since): its cached key set is stale too.
    if (published !== null && !published.records.some((r) => r.kid === record.kid)) published = null;
    active = { kid: record.kid, key, readAt: now };
    return active;
  }

  async function publishedRecords(now: Millis): Promise<readonly SigningKeyRecord[]> {
    // A retiring key's publication ends at retireAfter; the filter is re-applied to the cached list so it never
    // outlives that by the cache time.
    if (published === null || !fresh(published.readAt, now)) published = { records: await store.signingKeys.listPublished(now), readAt: now };
    return published.records.filter((r) => r.state === 'active' || (r.retireAfter !== null && r.retireAfter > now));
  }

  async function publishedKeys(now: Millis): Promise<readonly OpenedKey[]> {
    const keys: OpenedKey[] = [];
    for (const record of await publishedRecords(now)) {
      try {
        keys.push(await open(record));
      } catch (error) {
        // Fail closed for this key only: a row that does not open under our secret key is never published.
        logger.error({ err: error, kid: record.kid }, 'a stored signing key could not be opened; it is not published');
      }
    }
    const kids = new Set(keys.map((k) => k.publicJwk.kid));
    for (const kid of opened.keys()) if (!kids.has(kid) && kid !== active?.kid) opened.delete(kid);
    return keys;
  }

  return {
    ensureKey,

    async signResult(claims, now, signOptions) {
      checkClaims(claims, now);
      const lifetimeMs = signOptions?.lifetimeMs ?? MAX_RESULT_LIFETIME_MS;
      if (!Number.isSafeInteger(lifetimeMs) || lifetimeMs < 1000 || lifetimeMs > MAX_RESULT_LIFETIME_MS) {
        throw invalidClaims(`lifetimeMs must be 1000 to ${MAX_RESULT_LIFETIME_MS}`);
      }
      const { kid, key } = await activeKey(now);
      // Floors: exp never exceeds now + lifetime, iat never lies ahead of now.
      const payload: ResultTokenPayload = {
        iss: options.issuer,
        sub: claims.subject,
        aud: claims.audience,
        tenant: claims.tenantId,
        sid: claims.sessionId,
        amr: [...claims.amr],
        acr: claims.acr,
        auth_time: Math.floor(claims.authTime / 1000),
        iat: Math.floor(now / 1000),
        exp: Math.floor((now + lifetimeMs) / 1000),
        jti: randomBytes(16).toString('base64url'),
      };
      return new SignJWT({ ...payload, amr: [...payload.amr] }).setProtectedHeader({ alg: SIGNING_ALG, kid, typ: RESULT_TOKEN_TYPE }).sign(key.signingKey);
    },

    async jwks(now) {
      return { keys: (await publishedKeys(now)).map((k) => k.publicJwk) };
    },

    async rotate(now, actor = 'system') {
      // A rotation run with another secret key (a CLI pointed at the wrong configuration) would seal a key no
      // server can open: refuse unless the current key opens under ours.
      const current = await store.signingKeys.getActive();
      if (current !== null) await open(current);
      const key = await generate();
      const retiredUntil = now + retainMs;
      const report = await store.transaction(async (tx) => {
        // Rotations on several nodes at once run one after the other: each retires the key the previous made.
        await tx.signingKeys.lockForChange();
        const retiredKid = await tx.signingKeys.retireActive(retiredUntil, now);
        if (!(await tx.signingKeys.insertActiveIfNone({ kid: key.kid, alg: SIGNING_ALG, publicJwk: key.publicJwk, privateJwkSealed: key.sealed, now }))) {
          throw new PortcullisError('CONFLICT', 'Another node changed the active signing key at the same time; retry.');
        }
        const deleted = await tx.signingKeys.deleteExpired(now);
        await tx.audit.append({
          tenantId: null,
          at: now,
          actor,
          subject: key.kid,
          event: 'signing_key.rotated',
          data: { kid: key.kid, alg: SIGNING_ALG, retiredKid, retiredUntil: retiredKid === null ? null : retiredUntil, deleted },
        });
        const record = await tx.signingKeys.get(key.kid);
        if (record === null) throw new PortcullisError('INTERNAL', 'The new signing key vanished.');
        return { active: toInfo(record, now), retiredKid, retiredUntil: retiredKid === null ? null : retiredUntil, deleted };
      });
      // This node sees its own rotation at once; the others within cacheMs.
      active = null;
      published = null;
      logger.info({ kid: report.active.kid, retiredKid: report.retiredKid }, 'rotated the result-signing key');
      return report;
    },

    async listKeys(now) {
      return (await store.signingKeys.list()).map((r) => toInfo(r, now));
    },

    async signingJwks(now) {
      return { keys: (await publishedKeys(now)).map((k) => k.privateJwk) };
    },
  };
}
