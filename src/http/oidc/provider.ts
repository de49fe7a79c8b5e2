/**
 * The OpenID Connect provider: panva's oidc-provider 9 (OpenID-certified; we configure it, we do not write the
 * protocol), mounted in Fastify under {@link OIDC_PREFIX}. What is ours:
 *
 * - **Storage**: the adapter over our database (src/http/oidc/adapter.ts).
 * - **Keys**: the key set of `/.well-known/jwks.json` ({@link ResultSigner.signingJwks}); a rotation
 *   (`portcullis keys rotate`) is picked up by every node within the signer's cache time: the provider is rebuilt
 *   when the set of published kids changes, and the active key signs (it is first in the set).
 * - **Clients**: our applications that have OIDC settings (registered redirect URIs, admin API).
 * - **Interactions**: our hosted pages (src/http/oidc/interactions.ts), which run the same sign-in decision as the
 *   API and finish the interaction with the login session's truthful `acr`/`amr`/`auth_time`.
 * - **Assurance**: `acr_values` (several values: the strongest wins) and the `claims` parameter's essential acr
 *   can only raise the floor: a session below it meets the login prompt again (see {@link requestedLevel}).
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { createHmac, createSecretKey, type KeyObject } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { calculateJwkThumbprint, type JWK } from 'jose';
import Provider, { interactionPolicy, type AdapterPayload, type Configuration, type KoaContextWithOIDC } from 'oidc-provider';
import type { ServiceDeps } from '../../services/deps.ts';
import { MAX_RESULT_LIFETIME_MS, SIGNING_ALG, type ResultSigner } from '../../services/signing-keys.ts';
import type { CatalogView, LoginSessionRecord, OidcClientRepository, OidcPayloadRepository } from '../../store/index.ts';
import { verifyHashedToken } from '../../factors/tokens.ts';
import { adapterFactory } from './adapter.ts';
import { cookieSignerOf } from './cookie-signer.ts';
import { accountIdOf, levelOfOidcAcr, levelOfSessionAcr, OIDC_ACR_VALUES, parseAccountId } from './assurance-claims.ts';
import { grantSessions, type GrantSessions } from './grant-sessions.ts';
import { renderProviderPage } from '../pages/render.ts';
import { assertNotLocked } from '../../services/factor-verify.ts';

/** Where the provider is mounted; the issuer is `publicUrl + OIDC_PREFIX`. */
export const OIDC_PREFIX = '/oidc';

/** Where our hosted interaction pages live (`/interaction/:uid/...`). */
export const INTERACTION_PREFIX = '/interaction';

/** What the OIDC mount needs besides the service dependencies. */
export interface OidcOptions {
  readonly deps: ServiceDeps;
  readonly signer: ResultSigner;
  readonly payloads: OidcPayloadRepository;
  readonly clients: OidcClientRepository;
  /** The deployment's public URL (config `publicUrl`). */
  readonly publicUrl: string;
  /** 32 bytes derived from the secret key for cookie signing, CSRF tokens and client-secret stand-ins. */
  readonly macKey: Buffer;
}

/** Cookie names and whether cookies are `Secure` (https, or http://localhost which browsers treat as secure). */
export interface CookiePolicy {
  readonly secure: boolean;
  readonly session: string;
  readonly interaction: string;
  readonly resume: string;
  readonly device: string;
  /** The remembered-device token (SECURITY rule 6): HttpOnly, Secure, SameSite=Lax, Path=/. */
  readonly trust: string;
}

/**
 * SECURITY rule 9: `__Host-` cookies (Secure, Path=/, no Domain) where a cookie is site-wide; the provider's
 * interaction and resume cookies are scoped to one interaction's path, which `__Host-` forbids, so they carry
 * `__Secure-`. On plain http other than localhost (never a production set-up) browsers drop Secure cookies, so
 * the prefixes and `Secure` are left off there.
 */
export function cookiePolicyOf(publicUrl: string): CookiePolicy {
  const url = new URL(publicUrl);
  const secure = url.protocol === 'https:' || url.hostname === 'localhost';
  return secure
    ? { secure, session: '__Host-pc_session', interaction: '__Secure-pc_interaction', resume: '__Secure-pc_resume', device: '__Host-pc_device', trust: '__Host-pc_trust' }
    : { secure, session: 'pc_session', interaction: 'pc_interaction', resume: 'pc_resume', device: 'pc_device', trust: 'pc_trust' };
}

/** A keyed MAC for one purpose (base64url). Pass a KeyObject where it is called per request (see {@link macKeyOf}). */
export function macOf(key: Buffer | KeyObject, purpose: string, value: string): string {
  return createHmac('sha256', key).update(`${purpose}\0${value}`).digest('base64url');
}

/**
 * The MAC key as a KeyObject, prepared once: Node 24 prepares a raw Buffer key afresh on every `createHmac`
 * (measured ~16 µs, against ~2 µs with a KeyObject), and the pages compute a CSRF MAC on every form and every post.
 */
export function macKeyOf(key: Buffer | KeyObject): KeyObject {
  return Buffer.isBuffer(key) ? createSecretKey(Buffer.from(key)) : key;
}

/** The highest level the request asks for through `acr_values` or an essential `acr` claim; 0 when none. */
export function requestedLevel(ctx: KoaContextWithOIDC): number {
  const values: string[] = [];
  const acrValues = ctx.oidc.params?.acr_values;
  if (typeof acrValues === 'string') values.push(...acrValues.split(' '));
  const claims = ctx.oidc.claims as { id_token?: { acr?: { essential?: boolean; value?: string; values?: string[] } } } | undefined;
  const acr = claims?.id_token?.acr;
  if (acr?.essential === true) {
    if (typeof acr.value === 'string') values.push(acr.value);
    if (Array.isArray(acr.values)) values.push(...acr.values);
  }
  // Several values: the strongest wins (goiabada #253, Keycloak #31534); unknown values raise nothing.
  return Math.max(0, ...values.map((v) => levelOfOidcAcr(v) ?? 0));
}

/**
 * The interaction policy: the provider's, plus two checks on the login prompt: "this application has no live login
 * session behind the provider's session" (src/http/oidc/grant-sessions.ts) and "the session is below the requested
 * level", where the level held is the lower of the provider session's and the bound login session's current one
 * (a factor removed since lowers the latter).
 */
function policyOf(grants: GrantSessions): interactionPolicy.DefaultPolicy {
  const policy = interactionPolicy.base();
  const login = policy.get('login');
  if (login === undefined) throw new Error('oidc-provider has no login prompt');
  // Both checks ask; one lookup per request.
  const looked = new WeakMap<KoaContextWithOIDC, Promise<LoginSessionRecord | null>>();
  const bound = (ctx: KoaContextWithOIDC): Promise<LoginSessionRecord | null> => {
    const clientId = ctx.oidc.client?.clientId;
    if (clientId === undefined) return Promise.resolve(null);
    let found = looked.get(ctx);
    if (found === undefined) {
      found = grants.liveSession(ctx.oidc.session?.grantIdFor(clientId), clientId);
      looked.set(ctx, found);
    }
    return found;
  };
  login.checks.add(
    new interactionPolicy.Check('login_session_not_live', 'this application holds no live login session for the user', 'login_required', async (ctx) => {
      if (ctx.oidc.session?.accountId === undefined) return interactionPolicy.Check.NO_NEED_TO_PROMPT;
      return (await bound(ctx)) === null ? interactionPolicy.Check.REQUEST_PROMPT : interactionPolicy.Check.NO_NEED_TO_PROMPT;
    }),
  );
  login.checks.add(
    new interactionPolicy.Check('acr_below_requested', 'the session does not meet the requested authentication level', 'login_required', async (ctx) => {
      const wanted = requestedLevel(ctx);
      if (wanted === 0) return interactionPolicy.Check.NO_NEED_TO_PROMPT;
      const session = await bound(ctx);
      const held = Math.min(levelOfOidcAcr(ctx.oidc.session?.acr ?? '') ?? 0, session === null ? 0 : levelOfSessionAcr(session.acr));
      return held < wanted ? interactionPolicy.Check.REQUEST_PROMPT : interactionPolicy.Check.NO_NEED_TO_PROMPT;
    }),
  );
  return policy;
}

async function privateJwks(keys: readonly JWK[]): Promise<JWK[]> {
  return Promise.all(keys.map(async (k) => ({ ...k, kid: k.kid ?? (await calculateJwkThumbprint(k)), alg: SIGNING_ALG, use: 'sig' })));
}

/** Basic credentials per RFC 6749 §2.3.1 (each part form-urlencoded). */
function parseBasic(header: string | undefined): { id: string; secret: string } | null {
  if (header === undefined || !/^basic /i.test(header)) return null;
  const decoded = Buffer.from(header.slice(6).trim(), 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return null;
  try {
    const dec = (s: string): string => decodeURIComponent(s.replace(/\+/g, '%20'));
    return { id: dec(decoded.slice(0, colon)), secret: dec(decoded.slice(colon + 1)) };
  } catch {
    return null;
  }
}

function basic(id: string, secret: string): string {
  const enc = (s: string): string => encodeURIComponent(s).replace(/%20/g, '+');
  return `Basic ${Buffer.from(`${enc(id)}:${enc(secret)}`).toString('base64')}`;
}

/** The OIDC provider of this node: rebuilt when the published key set changes. */
export interface OidcProvider {
  readonly issuer: string;
  readonly cookies: CookiePolicy;
  /** The login sessions behind the provider's grants. */
  readonly grants: GrantSessions;
  /** The provider for the current key set. */
  current(): Promise<Provider>;
  /** Handles a request under {@link OIDC_PREFIX} (the prefix already stripped from `req.url`). */
  handle(req: IncomingMessage, res: ServerResponse): Promise<void>;
}

/**
 * Creates the provider. Client secrets are stored hashed (SHA-256) and oidc-provider compares client secrets
 * itself, so the provider is given a stand-in per application — a MAC of its stored hash, never sent to anyone —
 * and each request's Basic credentials are checked against the hash here first: a right secret is replaced by the
 * stand-in, any other by a value that cannot match, so the provider answers `invalid_client` as usual.
 *
 * @example
 * const oidc = createOidcProvider({ deps, signer, payloads, clients, publicUrl, macKey });
 */
export function createOidcProvider(options: OidcOptions): OidcProvider {
  const { deps, signer, payloads, clients } = options;
  const macKey = macKeyOf(options.macKey);
  const issuer = `${options.publicUrl.replace(/\/$/, '')}${OIDC_PREFIX}`;
  const cookies = cookiePolicyOf(options.publicUrl);
  const standIn = (secretHash: string): string => macOf(macKey, 'oidc-client-secret', secretHash);
  const grants = grantSessions(deps, payloads);

  // One catalog view per provider request (one version read, taken when first needed: src/store/catalog.ts); outside
  // a request, a fresh one. A view never outlives its request.
  const requestCatalog = new AsyncLocalStorage<() => Promise<CatalogView>>();
  const catalogNow = (): Promise<CatalogView> => requestCatalog.getStore()?.() ?? deps.store.catalog.current();
  // Client metadata by client id, as of one catalog version: the application and `oidc_clients` are catalog tables
  // (migration 0012 for the latter), so a change made on any node moves the version on and the next request here
  // builds it afresh. Only clients that exist are kept (as the catalog's own cache).
  let cachedClients = { version: -1, byClientId: new Map<string, AdapterPayload>() };
  const loadClient = async (clientId: string): Promise<AdapterPayload | null> => {
    const catalog = await catalogNow();
    if (cachedClients.version !== catalog.version) cachedClients = { version: catalog.version, byClientId: new Map() };
    const entries = cachedClients.byClientId;
    const hit = entries.get(clientId);
    // A copy: the provider's own objects never share state with the cache.
    if (hit !== undefined) return structuredClone(hit);
    const application = await catalog.applicationByClientId(clientId);
    if (application === null) return null;
    const settings = await clients.get(application.id);
    if (settings === null || settings.redirectUris.length === 0) return null;
    const metadata: AdapterPayload = {
      client_id: application.clientId,
      client_secret: standIn(application.clientSecretHash),
      client_name: application.name,
      redirect_uris: [...settings.redirectUris],
      post_logout_redirect_uris: [...settings.postLogoutRedirectUris],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
      id_token_signed_response_alg: SIGNING_ALG,
    };
    entries.set(clientId, metadata);
    return structuredClone(metadata);
  };

  const configuration = (jwks: JWK[]): Configuration => ({
    adapter: adapterFactory(payloads, loadClient, Date.now),
    jwks: { keys: jwks },
    acrValues: [...OIDC_ACR_VALUES],
    // acr, amr, auth_time and sid: in every ID token (null = not tied to a scope).
    claims: { acr: null, amr: null, auth_time: null, sid: null, openid: ['sub', 'acr', 'amr', 'auth_time', 'sid'], email: ['email', 'email_verified'], tenant: ['tenant'] },
    scopes: ['openid', 'offline_access', 'email', 'tenant'],
    clientAuthMethods: ['client_secret_basic'],
    enabledJWA: { idTokenSigningAlgValues: [SIGNING_ALG] },
    clientDefaults: { id_token_signed_response_alg: SIGNING_ALG, grant_types: ['authorization_code'], response_types: ['code'], token_endpoint_auth_method: 'client_secret_basic' },
    responseTypes: ['code'],
    pkce: { required: () => true },
    cookies: {
      names: { session: cookies.session, interaction: cookies.interaction, resume: cookies.resume },
      long: { httpOnly: true, sameSite: 'lax', secure: cookies.secure, signed: true },
      short: { httpOnly: true, sameSite: 'lax', secure: cookies.secure, signed: true },
      keys: cookieSignerOf(createSecretKey(Buffer.from(macOf(macKey, 'oidc-cookies', 'v1')))),
    },
    // ID tokens live no longer than a retired key stays published (src/services/signing-keys.ts).
    ttl: {
      IdToken: MAX_RESULT_LIFETIME_MS / 1000,
      AccessToken: 600,
      AuthorizationCode: 60,
      Interaction: 600,
      Grant: 14 * 24 * 3600,
      Session: 12 * 3600,
      RefreshToken: 14 * 24 * 3600,
    },
    features: {
      devInteractions: { enabled: false },
      rpInitiatedLogout: { enabled: true, logoutSource, postLogoutSuccessSource },
      revocation: { enabled: true },
      userinfo: { enabled: true },
      claimsParameter: { enabled: true },
    },
    interactions: { policy: policyOf(grants), url: (_ctx, interaction) => `${INTERACTION_PREFIX}/${interaction.uid}` },
    issueRefreshToken: (_ctx, client, code) => client.grantTypeAllowed('refresh_token') && code.scopes.has('offline_access'),
    async findAccount(_ctx, sub, token) {
      const ref = parseAccountId(sub);
      if (ref === null) return undefined;
      // A code, an access token or a refresh token is honoured only while the login session behind its grant is
      // live: revoking the session (user, administrator, factor reset) ends what the relying party holds.
      if (token !== undefined && (await grants.liveSession(token.grantId, token.clientId ?? '')) === null) return undefined;
      const user = await deps.store.forTenant(ref.tenantId).users.get(ref.userId);
      // A user deleted or locked since gets nothing more: no userinfo, no refreshed tokens.
      if (user === null) return undefined;
      try {
        assertNotLocked(user, deps.now());
      } catch {
        return undefined;
      }
      return {
        accountId: accountIdOf(ref.tenantId, user.id),
        claims: () => ({ sub: accountIdOf(ref.tenantId, user.id), email: user.email, email_verified: user.emailVerified, tenant: ref.tenantId }),
      };
    },
    renderError(ctx, out) {
      ctx.type = 'html';
      ctx.body = renderProviderPage('error', { error: String(out.error), description: typeof out.error_description === 'string' ? out.error_description : '' });
    },
  });

  /**
   * Ours, before the provider's routes: one catalog view per request; secure cookies on http://localhost (Koa
   * refuses them on an unencrypted request unless told it is secure); Basic credentials checked against the stored
   * hash; the request's provider writes committed together.
   */
  const prepare: Parameters<Provider['use']>[0] = async (ctx, next) => {
    let view: Promise<CatalogView> | undefined;
    await requestCatalog.run(
      () => (view ??= deps.store.catalog.current()),
      async () => {
        if (cookies.secure) {
          // Only `secure` is overridden, not the protocol: URLs the provider builds still come from the issuer.
          Object.defineProperty(ctx.request, 'secure', { value: true });
          ctx.cookies.secure = true;
        }
        const given = parseBasic(ctx.get('authorization') || undefined);
        if (given !== null) {
          const application = await (await catalogNow()).applicationByClientId(given.id);
          const ok = application !== null && verifyHashedToken(given.secret, application.clientSecretHash);
          ctx.req.headers.authorization = basic(given.id, ok ? standIn(application.clientSecretHash) : `invalid:${macOf(macKey, 'nonce', String(Math.random()))}`);
        }
        // The provider's writes of one request (e.g. the interaction destroyed, the session and the code saved on
        // the way back from the pages) are committed together, before Koa sends the response: nothing it answers
        // refers to an object not yet stored, and a failed commit answers 500 instead.
        await payloads.holdingWrites(() => next());
      },
    );
  };

  let built: { keys: readonly JWK[]; kids: string; provider: Provider; callback: ReturnType<Provider['callback']> } | null = null;
  async function build(): Promise<NonNullable<typeof built>> {
    const { keys } = await signer.signingJwks(deps.now());
    // The signer answers the very same key objects while its cache holds (src/services/signing-keys.ts).
    if (built !== null && built.keys.length === keys.length && keys.every((k, i) => k === built?.keys[i])) return built;
    const jwks = await privateJwks(keys);
    const kids = jwks.map((k) => k.kid).join(',');
    if (built !== null && built.kids === kids) {
      built = { ...built, keys };
      return built;
    }
    const provider = new Provider(issuer, configuration(jwks));
    provider.use(prepare);
    built = { keys, kids, provider, callback: provider.callback() };
    return built;
  }

  return {
    issuer,
    cookies,
    grants,
    current: async () => (await build()).provider,
    async handle(req, res) {
      // Koa's request handler, composed once per provider rather than on every request.
      (await build()).callback(req, res);
    },
  };
}

/** The logout confirmation: our page around the provider's form. */
async function logoutSource(ctx: KoaContextWithOIDC, form: string): Promise<void> {
  ctx.type = 'html';
  ctx.body = renderProviderPage('logout', { form, client: ctx.oidc.client?.clientName ?? '' });
}

async function postLogoutSuccessSource(ctx: KoaContextWithOIDC): Promise<void> {
  ctx.type = 'html';
  ctx.body = renderProviderPage('logged-out', { client: ctx.oidc.client?.clientName ?? '' });
}
