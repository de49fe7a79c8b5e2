/**
 * The hosted sign-in pages behind the OIDC provider's interactions (`/interaction/:uid/...`). Every step calls the
 * same services as the headless API — `signIn`, `verify`, `beginTotpEnrollment`/`confirmTotpEnrollment`, `stepUp`,
 * `startEnrollment` — so a page is one more caller of the one decision (SECURITY rule 1): a direct POST to any of
 * these routes meets exactly what the page would. The passkey ceremonies (sign-in, challenge, wall, the offer after
 * a password + TOTP sign-in) are src/http/pages/webauthn.ts, on this file's state and flow through its hooks. The interaction is finished (and a code issued) only from an
 * `authenticated` answer, never while an enrollment or a challenge is pending.
 *
 * Flow state (which MFA session, the login session token for a step-up) is sealed by the secret box under the
 * interaction's uid and kept in the provider's storage table with the interaction's expiry; the browser holds only
 * the provider's interaction cookie. CSRF: every form carries a MAC of the interaction uid, and the provider's
 * interaction cookie (SameSite=Lax, so absent on a cross-site POST) must name that same interaction.
 */
import { timingSafeEqual } from 'node:crypto';
import formbody from '@fastify/formbody';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { InteractionResults } from 'oidc-provider';
import { PortcullisError, type FactorType } from '../../core/index.ts';
import { beginTotpEnrollment, confirmTotpEnrollment, startEnrollment } from '../../services/enrollment-service.ts';
import type { FlowResult } from '../../services/flow-result.ts';
import { signIn, stepUp, verify, type Caller } from '../../services/flow-service.ts';
import { catalogOf } from '../../services/tenant-access.ts';
import type { RequestContext } from '../../services/risk.ts';
import { generateToken, parseToken } from '../../factors/tokens.ts';
import type { PortcullisApp } from '../app.ts';
import { ASSETS, PAGES_CSP, renderPage } from '../pages/render.ts';
import { requestNow } from '../dev-clock.ts';
import type { ServiceDeps } from '../../services/deps.ts';
import { translate, type MessageId } from '../pages/messages.ts';
import { accountIdOf, acrOfLevel, levelOfOidcAcr, levelOfSessionAcr } from './assurance-claims.ts';
import { INTERACTION_PREFIX, macKeyOf, macOf, type OidcOptions, type OidcProvider } from './provider.ts';
import { parseCookies } from '../cookies.ts';
import { PAGE_FORM_LIMIT, offerPasskey, passkeyChallengeControl, passkeySigninControl, registerPasskeyInteractionRoutes, showPasskeyEnrollment, type InteractionHooks, type PasskeyEnrollStage } from '../pages/webauthn.ts';

/** The action a step-up for a requested `acr` is audited under. */
export const OIDC_STEP_UP_ACTION = 'oidc-acr';

const STATE_MODEL = 'PortcullisInteraction';

interface LoginDone {
  readonly tenantId: string;
  readonly userId: string;
  /** Our session acr (`urn:portcullis:acr:*`). */
  readonly acr: string;
  readonly amr: readonly string[];
  readonly authTime: number;
  /** The login session token, for a step-up on this session. */
  readonly token: string;
  /** The login session's id, which the provider's grant is bound to. */
  readonly sessionId: string;
}

type Stage =
  | { readonly kind: 'signin' }
  | { readonly kind: 'challenge'; readonly mfaSessionId: string; readonly methods: readonly string[]; readonly recovery: boolean; readonly stepUp: boolean }
  | { readonly kind: 'wall'; readonly mfaSessionId: string; readonly enrollOptions: readonly string[] }
  | { readonly kind: 'enroll_totp'; readonly mfaSessionId: string; readonly factorId: string; readonly secret: string; readonly qrSvg: string; readonly voluntary: boolean }
  | PasskeyEnrollStage
  | { readonly kind: 'codes' }
  | { readonly kind: 'grace'; readonly endsAt: string }
  | { readonly kind: 'blocked' }
  | { readonly kind: 'unmet' };

/** The interaction a request names, with its details and the calling application. */
type InteractionCtx = { readonly uid: string; readonly details: Awaited<ReturnType<Awaited<ReturnType<OidcProvider['current']>>['interactionDetails']>>; readonly caller: Caller };

interface FlowState {
  readonly tenant: string | null;
  readonly stage: Stage;
  readonly login: LoginDone | null;
}

/** Methods the challenge page can take today; the others keep their slot in the picker. */
const ANSWERABLE = new Set<string>(['totp', 'recovery_codes', 'webauthn']);
/** Factors the wall can enroll today; the others keep their slot. */
const ENROLLABLE = new Set<string>(['totp', 'webauthn']);

function methodLabel(type: string): string {
  const id = `challenge.method.${type}` as MessageId;
  return id in { 'challenge.method.totp': 1, 'challenge.method.recovery_codes': 1, 'challenge.method.webauthn': 1, 'challenge.method.email_otp': 1, 'challenge.method.sms_otp': 1 } ? translate(id) : type;
}

function wallLabel(type: string): string {
  const known: Record<string, MessageId> = { totp: 'wall.option.totp', webauthn: 'wall.option.webauthn', email_otp: 'wall.option.email_otp', sms_otp: 'wall.option.sms_otp' };
  const id = known[type];
  return id === undefined ? type : translate(id);
}

/** The requested floor from authorization parameters: `acr_values` and an essential `acr` in `claims`. */
export function floorOfParams(params: Record<string, unknown>): number {
  const values: string[] = [];
  if (typeof params.acr_values === 'string') values.push(...params.acr_values.split(' '));
  if (typeof params.claims === 'string') {
    try {
      const claims = JSON.parse(params.claims) as { id_token?: { acr?: { essential?: boolean; value?: unknown; values?: unknown } } };
      const acr = claims.id_token?.acr;
      if (acr?.essential === true) {
        if (typeof acr.value === 'string') values.push(acr.value);
        if (Array.isArray(acr.values)) values.push(...acr.values.filter((v): v is string => typeof v === 'string'));
      }
    } catch {
      // The provider refuses a malformed claims parameter before any interaction.
    }
  }
  return Math.max(0, ...values.map((v) => levelOfOidcAcr(v) ?? 0));
}

/**
 * Registers the asset route and the interaction pages.
 *
 * @example
 * await registerInteractionRoutes(app, options, oidc);
 */
export async function registerInteractionRoutes(app: PortcullisApp, options: OidcOptions, oidc: OidcProvider): Promise<void> {
  const { deps, payloads } = options;
  const macKey = macKeyOf(options.macKey);

  app.get('/assets/:name', { schema: { hide: true }, helmet: false }, async (request, reply) => {
    const asset = ASSETS[(request.params as { name: string }).name];
    if (asset === undefined) throw new PortcullisError('NOT_FOUND', 'No such asset.');
    return reply.header('content-type', asset.type).header('cache-control', 'public, max-age=3600').header('x-content-type-options', 'nosniff').send(asset.body);
  });

  await app.register(async (scope) => {
    await scope.register(formbody, { bodyLimit: PAGE_FORM_LIMIT });

    const csrfOf = (uid: string): string => macOf(macKey, 'csrf', uid);
    // The services' clock for one request: the development clock's instant when it set one, as for the API routes.
    // Without the result signer: an authenticated answer's `result` (a signed JWT of the session, the API caller's
    // to verify offline) would be dropped here unread — the relying party gets the provider's ID token instead.
    const { results: _unread, ...serviceDeps } = deps;
    const depsFor = (request: FastifyRequest): ServiceDeps => ({ ...serviceDeps, logger: request.log, now: requestNow(request, deps.now) });
    const aad = (uid: string): string => `oidc-interaction:${uid}`;

    async function loadState(uid: string): Promise<FlowState> {
      const found = await payloads.find(STATE_MODEL, uid, Date.now());
      const sealed = found?.payload.sealed;
      if (typeof sealed !== 'string') return { tenant: null, stage: { kind: 'signin' }, login: null };
      return JSON.parse(deps.secrets.open(sealed, aad(uid)).toString('utf8')) as FlowState;
    }

    async function saveState(uid: string, exp: number, state: FlowState): Promise<void> {
      const sealed = deps.secrets.seal(Buffer.from(JSON.stringify(state), 'utf8'), aad(uid));
      await payloads.upsert(STATE_MODEL, uid, { sealed }, exp * 1000);
    }

    /** The interaction the cookie names, which must be the one in the URL; anything else is the expired page. */
    async function interaction(request: FastifyRequest, reply: FastifyReply): Promise<{ uid: string; details: Awaited<ReturnType<Awaited<ReturnType<OidcProvider['current']>>['interactionDetails']>>; caller: Caller } | null> {
      const uid = (request.params as { uid: string }).uid;
      const provider = await oidc.current();
      let details;
      try {
        details = await provider.interactionDetails(request.raw, reply.raw);
      } catch {
        return null;
      }
      if (details.uid !== uid) return null;
      const clientId = typeof details.params.client_id === 'string' ? details.params.client_id : '';
      // One catalog view for the request, handed to the services with the caller: the API's client authentication
      // does the same (one version read per request).
      const catalog = await deps.store.catalog.current();
      const application = await catalog.applicationByClientId(clientId);
      if (application === null) return null;
      return { uid, details, caller: { application, catalog } };
    }

    function checkCsrf(request: FastifyRequest, uid: string): boolean {
      const given = (request.body as Record<string, unknown> | undefined)?.csrf;
      if (typeof given !== 'string') return false;
      const want = Buffer.from(csrfOf(uid));
      const got = Buffer.from(given);
      return want.length === got.length && timingSafeEqual(want, got);
    }

    function contextOf(request: FastifyRequest, reply: FastifyReply): RequestContext {
      const cookies = parseCookies(request.headers.cookie);
      let device = cookies.get(oidc.cookies.device);
      if (device === undefined || !/^pcd_[A-Za-z0-9_-]{20,80}$/.test(device)) {
        device = generateToken('pcd');
        const attrs = ['Path=/', 'HttpOnly', 'SameSite=Lax', `Max-Age=${400 * 24 * 3600}`, ...(oidc.cookies.secure ? ['Secure'] : [])];
        void reply.header('set-cookie', `${oidc.cookies.device}=${device}; ${attrs.join('; ')}`);
      }
      const trust = cookies.get(oidc.cookies.trust);
      return { ip: request.ip, userAgent: request.headers['user-agent']?.slice(0, 512) ?? null, deviceId: device, deviceToken: trust !== undefined && /^pcd_[A-Za-z0-9_-]{43}$/.test(trust) ? trust : null };
    }

    /** Keeps a remembered device's (new) token in its cookie until trust ends (SECURITY rule 6; rotated on use). */
    function keepTrust(reply: FastifyReply, result: FlowResult): void {
      if (result.status !== 'authenticated' || result.trustedDevice === undefined) return;
      const maxAge = Math.max(0, Math.floor((Date.parse(result.trustedDevice.expiresAt) - deps.now()) / 1000));
      const attrs = ['Path=/', 'HttpOnly', 'SameSite=Lax', `Max-Age=${maxAge}`, ...(oidc.cookies.secure ? ['Secure'] : [])];
      void reply.header('set-cookie', `${oidc.cookies.trust}=${result.trustedDevice.token}; ${attrs.join('; ')}`);
    }

    function send(reply: FastifyReply, html: string, status = 200): FastifyReply {
      return reply.code(status).header('content-type', 'text/html; charset=utf-8').header('content-security-policy', PAGES_CSP).header('cache-control', 'no-store').send(html);
    }

    const base = (uid: string): string => `${INTERACTION_PREFIX}/${uid}`;

    function page(reply: FastifyReply, uid: string, name: string, title: string, data: Record<string, unknown>, status = 200): FastifyReply {
      return send(reply, renderPage(name, { title, csrf: csrfOf(uid), ...data }), status);
    }

    function expired(reply: FastifyReply): FastifyReply {
      return send(reply, renderPage('message', { title: translate('expired.title'), heading: translate('expired.title'), lead: translate('expired.lead'), role: 'status' }), 400);
    }

    async function tenantOf(caller: Caller, params: Record<string, unknown>): Promise<string | null> {
      if (typeof params.tenant === 'string' && params.tenant !== '') return params.tenant;
      if (caller.application.allTenants) return null;
      const ids = await (await catalogOf(deps, caller)).tenantIdsOf(caller.application);
      return ids.length === 1 ? (ids[0] as string) : null;
    }

    /** Renders the page of the current stage. */
    async function show(reply: FastifyReply, ctx: NonNullable<Awaited<ReturnType<typeof interaction>>>, state: FlowState, extra: { error?: string; method?: string; identifier?: string } = {}, status = 200): Promise<FastifyReply> {
      const { uid, details, caller } = ctx;
      const stage = state.stage;
      switch (stage.kind) {
        case 'signin': {
          const reason = details.prompt.reasons;
          const notice = details.session?.accountId === undefined ? '' : reason.includes('acr_below_requested') ? translate('signin.stepup') : translate('signin.reauth');
          const fixedTenant = await tenantOf(caller, details.params);
          return page(reply, uid, 'signin', translate('signin.title'), {
            action: `${base(uid)}/signin`,
            client: caller.application.name,
            askTenant: fixedTenant === null,
            tenant: state.tenant ?? '',
            identifier: extra.identifier ?? (typeof details.params.login_hint === 'string' ? details.params.login_hint : ''),
            notice,
            error: extra.error ?? '',
            ...(await signinPasskey(reply, ctx, fixedTenant)),
          }, status);
        }
        case 'challenge': {
          const offered = [...stage.methods, ...(stage.recovery && !stage.methods.includes('recovery_codes') ? ['recovery_codes'] : [])];
          const answerable = offered.filter((m) => ANSWERABLE.has(m));
          const method = extra.method !== undefined && answerable.includes(extra.method) ? extra.method : (answerable[0] ?? 'totp');
          const hint = method === 'recovery_codes' ? translate('challenge.method.recovery_codes.hint') : translate('challenge.method.totp.hint');
          return page(reply, uid, 'challenge', stage.stepUp ? translate('challenge.stepup.title') : translate('challenge.title'), {
            action: `${base(uid)}/verify`,
            stepUp: stage.stepUp,
            method,
            methodLabel: methodLabel(method),
            methodHint: hint,
            methods: offered.map((type) => ({ type, label: methodLabel(type), available: ANSWERABLE.has(type), href: `${base(uid)}?method=${encodeURIComponent(type)}` })),
            error: extra.error ?? '',
            ...(method === 'webauthn' ? await challengePasskey(reply, ctx, stage.mfaSessionId) : {}),
          }, status);
        }
        case 'wall':
          return page(reply, uid, 'wall', translate('wall.title'), {
            options: stage.enrollOptions.map((type) => ({ type, label: wallLabel(type), hint: type === 'totp' ? translate('wall.option.totp.hint') : type === 'webauthn' ? translate('wall.option.webauthn.hint') : '', available: ENROLLABLE.has(type), action: `${base(uid)}/enroll` })),
            webauthn: stage.enrollOptions.includes('webauthn'),
          }, status);
        case 'enroll_totp':
          return page(reply, uid, 'enroll-totp', translate('totp.title'), { action: `${base(uid)}/enroll/confirm`, qrSvg: stage.qrSvg, secret: stage.secret, error: extra.error ?? '' }, status);
        case 'enroll_webauthn':
          return showPasskeyEnrollment(hooks, reply, ctx, state, stage, extra.error ?? '', status);
        case 'codes':
          // The codes were shown once, in the answer that issued them; a reload does not show them again.
          return page(reply, uid, 'recovery-codes', translate('codes.title'), { action: `${base(uid)}/continue`, codes: [] }, status);
        case 'grace': {
          const ends = new Date(stage.endsAt);
          const days = Math.max(0, Math.ceil((ends.getTime() - requestNow(reply.request, deps.now)()) / 86_400_000));
          const date = ends.toISOString().slice(0, 10);
          return page(reply, uid, 'grace', translate('grace.title'), {
            bannerText: days > 0 ? translate('grace.banner', { days, date }) : translate('grace.banner.today', { date }),
            setupAction: `${base(uid)}/grace/setup`,
            laterAction: `${base(uid)}/continue`,
          }, status);
        }
        case 'blocked':
          return page(reply, uid, 'message', translate('blocked.title'), { heading: translate('blocked.title'), lead: translate('blocked.lead'), help: translate('blocked.help'), role: 'alert' }, 403);
        case 'unmet':
          return page(reply, uid, 'message', translate('unmet.title'), { heading: translate('unmet.title'), lead: translate('unmet.lead'), role: 'alert' }, 403);
      }
    }

    /** Finishes the interaction with the login (and the consent the client needs); redirects back to the provider. */
    /** `issued`: the login session as the service answered it in this very request (its expiry), if it did. */
    async function finish(reply: FastifyReply, request: FastifyRequest, ctx: NonNullable<Awaited<ReturnType<typeof interaction>>>, login: LoginDone, issued?: { expiresAt: number }): Promise<FastifyReply> {
      const provider = await oidc.current();
      const accountId = accountIdOf(login.tenantId, login.userId);
      const result: InteractionResults = {
        login: { accountId, acr: acrOfLevel(levelOfSessionAcr(login.acr)), amr: [...login.amr], ts: Math.floor(login.authTime / 1000), remember: true },
      };
      // Applications are registered by a platform administrator for their tenants: no third-party consent screen;
      // the grant covers what the client asked for.
      const grant = ctx.details.grantId === undefined ? new provider.Grant({ accountId, clientId: ctx.caller.application.clientId }) : ((await provider.Grant.find(ctx.details.grantId)) ?? new provider.Grant({ accountId, clientId: ctx.caller.application.clientId }));
      if (typeof ctx.details.params.scope === 'string') grant.addOIDCScope(ctx.details.params.scope);
      // The authentication's own claims are always granted: the relying party is told how the user signed in.
      grant.addOIDCClaims(['acr', 'amr', 'auth_time', 'sid']);
      if (typeof ctx.details.params.claims === 'string') {
        const claims = JSON.parse(ctx.details.params.claims) as { id_token?: Record<string, unknown>; userinfo?: Record<string, unknown> };
        if (claims.id_token !== undefined) grant.addOIDCClaims(Object.keys(claims.id_token));
        if (claims.userinfo !== undefined) grant.addOIDCClaims(Object.keys(claims.userinfo));
      }
      // The grant, its binding to the login session, the interaction's result and the flow state's removal are
      // committed together, before the redirect that leads the browser to them.
      const redirectTo = await payloads.holdingWrites(async () => {
        const grantId = await grant.save();
        await oidc.grants.bind(grantId, { clientId: ctx.caller.application.clientId, tenantId: login.tenantId, sessionId: login.sessionId }, issued);
        result.consent = { grantId };
        // What provider.interactionResult does (without merging the last submission), on the interaction this
        // request already loaded and checked against its cookie: that call would read the cookie and the
        // interaction again.
        ctx.details.result = result;
        await ctx.details.save(ctx.details.exp - Math.floor(Date.now() / 1000));
        await payloads.destroy(STATE_MODEL, ctx.uid);
        return ctx.details.returnTo;
      });
      return reply.redirect(redirectTo, 303);
    }

    /**
     * Moves the flow on from a service's answer: a challenge or the wall is shown; an authenticated session below
     * the requested floor is stepped up (or refused as unmet); the grace banner and fresh recovery codes are shown
     * before the interaction finishes.
     */
    async function advance(
      request: FastifyRequest,
      reply: FastifyReply,
      ctx: NonNullable<Awaited<ReturnType<typeof interaction>>>,
      state: FlowState,
      result: FlowResult,
      shown: { recoveryCodes?: readonly string[] | null; stepUp?: boolean; method?: string } = {},
    ): Promise<FastifyReply> {
      const exp = ctx.details.exp;
      if (result.status === 'mfa_required' || result.status === 'step_up_required') {
        const next: FlowState = { ...state, stage: { kind: 'challenge', mfaSessionId: result.mfaSessionId, methods: result.methods, recovery: result.recovery, stepUp: result.status === 'step_up_required' } };
        if (result.status === 'step_up_required' && result.methods.length === 0 && !result.recovery) return toStage(reply, ctx, { ...state, stage: { kind: 'unmet' } });
        await saveState(ctx.uid, exp, next);
        return show(reply, ctx, next);
      }
      if (result.status === 'enrollment_required') {
        // WeftID: a factor the user already holds is answered first, then the wall.
        const next: FlowState =
          result.methods.length > 0 || result.recovery
            ? { ...state, stage: { kind: 'challenge', mfaSessionId: result.mfaSessionId, methods: result.methods, recovery: result.recovery, stepUp: false } }
            : { ...state, stage: { kind: 'wall', mfaSessionId: result.mfaSessionId, enrollOptions: result.enrollOptions } };
        await saveState(ctx.uid, exp, next);
        return show(reply, ctx, next);
      }
      if (result.status !== 'authenticated') throw new PortcullisError('INTERNAL', `Unexpected flow status ${result.status}.`);
      keepTrust(reply, result);
      const token = result.session.token ?? state.login?.token;
      if (token === undefined) throw new PortcullisError('INTERNAL', 'An authenticated answer without a session token.');
      const tenantId = state.login?.tenantId ?? (await tenantIdOfToken(token));
      const login: LoginDone = { tenantId, userId: result.userId, acr: result.acr, amr: result.amr, authTime: Date.parse(result.session.authTime), token, sessionId: result.session.id };
      const floor = floorOfParams(ctx.details.params);
      if (levelOfSessionAcr(login.acr) < floor) {
        if (shown.stepUp === true) return toStage(reply, ctx, { ...state, login, stage: { kind: 'unmet' } });
        // acr_values only raise the floor: the same step-up decision as the API, on this new session.
        const stepped = await stepUp(depsFor(request), ctx.caller, { sessionToken: token, action: OIDC_STEP_UP_ACTION, maxAgeSeconds: 0, context: contextOf(request, reply) });
        return advance(request, reply, ctx, { ...state, login }, stepped, { stepUp: true });
      }
      if (shown.recoveryCodes !== undefined && shown.recoveryCodes !== null && shown.recoveryCodes.length > 0) {
        const next: FlowState = { ...state, login, stage: { kind: 'codes' } };
        await saveState(ctx.uid, exp, next);
        return page(reply, ctx.uid, 'recovery-codes', translate('codes.title'), { action: `${base(ctx.uid)}/continue`, codes: shown.recoveryCodes });
      }
      if (result.grace?.active === true) {
        const next: FlowState = { ...state, login, stage: { kind: 'grace', endsAt: result.grace.endsAt } };
        await saveState(ctx.uid, exp, next);
        return show(reply, ctx, next);
      }
      const offered = shown.stepUp === true || shown.method !== 'totp' ? null : await offerPasskey(hooks, request, reply, ctx, { ...state, login }, result);
      if (offered !== null) return offered;
      return finish(reply, request, ctx, login, { expiresAt: Date.parse(result.session.expiresAt) });
    }

    async function toStage(reply: FastifyReply, ctx: NonNullable<Awaited<ReturnType<typeof interaction>>>, state: FlowState): Promise<FastifyReply> {
      await saveState(ctx.uid, ctx.details.exp, state);
      return show(reply, ctx, state);
    }

    async function tenantIdOfToken(token: string): Promise<string> {
      // Session tokens name their tenant (src/factors/tokens.ts): `ses_<tenant>.<random>`.
      const parsed = parseToken('ses', token);
      if (parsed === null) throw new PortcullisError('INTERNAL', 'An unreadable session token.');
      return parsed.tenantId;
    }

    /** Maps an expected refusal to its page; anything else is rethrown. */
    async function refused(reply: FastifyReply, ctx: NonNullable<Awaited<ReturnType<typeof interaction>>>, state: FlowState, error: unknown, extra: { identifier?: string; method?: string } = {}): Promise<FastifyReply> {
      if (!(error instanceof PortcullisError)) throw error;
      switch (error.code) {
        case 'INVALID_CREDENTIALS':
          return show(reply, ctx, { ...state, stage: { kind: 'signin' } }, { error: translate('signin.error.invalid'), ...extra }, 401);
        case 'RATE_LIMITED':
          return show(reply, ctx, state, { error: translate(state.stage.kind === 'signin' ? 'signin.error.rate_limited' : 'challenge.error.locked'), ...extra }, 429);
        case 'ACCESS_DENIED_RISK':
          return toStage(reply, ctx, { ...state, stage: { kind: 'blocked' } });
        case 'MFA_CODE_INVALID':
          return show(reply, ctx, state, { error: translate('challenge.error.invalid'), ...extra }, 400);
        case 'MFA_LOCKED':
        case 'ACCOUNT_LOCKED':
          return show(reply, ctx, state, { error: translate('challenge.error.locked'), ...extra }, 423);
        case 'MFA_METHOD_NOT_ALLOWED':
        case 'MFA_FACTOR_NOT_ALLOWED':
        case 'ENROLLMENT_NOT_ALLOWED':
          return show(reply, ctx, state, { error: translate('challenge.error.not_allowed'), ...extra }, 400);
        case 'MFA_RECOVERY_CODES_EXHAUSTED':
          return show(reply, ctx, state, { error: translate('challenge.error.exhausted'), ...extra }, 403);
        case 'MFA_SESSION_EXPIRED':
        case 'MFA_SESSION_USED':
        case 'MFA_SESSION_NOT_FOUND':
        case 'SESSION_NOT_FOUND':
        case 'FACTOR_NOT_FOUND':
          await saveState(ctx.uid, ctx.details.exp, { tenant: state.tenant, stage: { kind: 'signin' }, login: null });
          return expired(reply);
        default:
          throw error;
      }
    }

    const hooks: InteractionHooks<InteractionCtx, FlowState> = {
      depsFor,
      contextOf,
      tenantOf,
      base,
      post: (path, handler) => post(path, handler),
      page,
      show,
      toStage,
      saveState,
      advance,
      finish,
      expired,
      cookieSecure: oidc.cookies.secure,
      withStage: (state, stage) => ({ ...state, stage }),
    };

    const signinPasskey = async (reply: FastifyReply, ctx: InteractionCtx, tenant: string | null): Promise<Record<string, unknown>> => {
      const passkey = await passkeySigninControl(depsFor(reply.request), ctx.caller, tenant, `${base(ctx.uid)}/passkey`);
      return passkey === null ? {} : { passkey, webauthn: true };
    };

    const challengePasskey = async (reply: FastifyReply, ctx: InteractionCtx, mfaSessionId: string): Promise<Record<string, unknown>> => {
      const passkey = await passkeyChallengeControl(depsFor(reply.request), ctx.caller, mfaSessionId, `${base(ctx.uid)}/verify/passkey`);
      return passkey === null ? {} : { passkey, webauthn: true };
    };

    type Handler = (request: FastifyRequest, reply: FastifyReply, ctx: NonNullable<Awaited<ReturnType<typeof interaction>>>, state: FlowState, body: Record<string, unknown>) => Promise<FastifyReply>;

    /** A form post: the interaction, its CSRF token, its state; then the handler. */
    const post = (path: string, handler: Handler): void => {
      scope.post(`${INTERACTION_PREFIX}/:uid${path}`, { schema: { hide: true }, helmet: false }, async (request, reply) => {
        const ctx = await interaction(request, reply);
        if (ctx === null) return expired(reply);
        if (!checkCsrf(request, ctx.uid)) return send(reply, renderPage('message', { title: translate('error.title'), heading: translate('error.title'), lead: translate('error.csrf'), role: 'alert' }), 403);
        const state = await loadState(ctx.uid);
        const body = (request.body ?? {}) as Record<string, unknown>;
        try {
          return await handler(request, reply, ctx, state, body);
        } catch (error) {
          return refused(reply, ctx, state, error, { ...(typeof body.identifier === 'string' ? { identifier: body.identifier.slice(0, 320) } : {}), ...(typeof body.method === 'string' ? { method: body.method } : {}) });
        }
      });
    };

    const text = (value: unknown, max: number): string => (typeof value === 'string' ? value.slice(0, max) : '');

    scope.get(`${INTERACTION_PREFIX}/:uid`, { schema: { hide: true }, helmet: false }, async (request, reply) => {
      const ctx = await interaction(request, reply);
      if (ctx === null) return expired(reply);
      const state = await loadState(ctx.uid);
      // A consent-only interaction (a signed-in user, new scopes): applications are admin-registered, so granted.
      // The login prompt has passed, so this client's grant is bound to a live login session of this application
      // (src/http/oidc/grant-sessions.ts); the same grant gains the scopes.
      if (ctx.details.prompt.name === 'consent' && ctx.details.session?.accountId !== undefined && ctx.details.grantId !== undefined) {
        const provider = await oidc.current();
        const grant = await provider.Grant.find(ctx.details.grantId);
        if (grant === undefined) return expired(reply);
        if (typeof ctx.details.params.scope === 'string') grant.addOIDCScope(ctx.details.params.scope);
        const redirectTo = await provider.interactionResult(request.raw, reply.raw, { consent: { grantId: await grant.save() } }, { mergeWithLastSubmission: true });
        return reply.redirect(redirectTo, 303);
      }
      const method = (request.query as Record<string, unknown>).method;
      return show(reply, ctx, state, typeof method === 'string' ? { method } : {});
    });

    post('/signin', async (request, reply, ctx, state, body) => {
      const tenant = (await tenantOf(ctx.caller, ctx.details.params)) ?? text(body.tenant, 128).trim();
      const identifier = text(body.identifier, 320).trim();
      const password = text(body.password, 1024);
      const next: FlowState = { tenant: tenant === '' ? null : tenant, stage: { kind: 'signin' }, login: null };
      if (tenant === '' || identifier === '' || password === '') return show(reply, ctx, next, { error: translate('signin.error.invalid'), identifier }, 400);
      const result = await signIn(depsFor(request), ctx.caller, { tenant, identifier, password, context: contextOf(request, reply) });
      return advance(request, reply, ctx, next, result);
    });

    post('/verify', async (request, reply, ctx, state, body) => {
      if (state.stage.kind !== 'challenge') return show(reply, ctx, state);
      const method = text(body.method, 40);
      const code = text(body.code, 128).trim();
      const result = await verify(depsFor(request), ctx.caller, { mfaSessionId: state.stage.mfaSessionId, method, code, rememberDevice: body.remember === '1' && !state.stage.stepUp });
      return advance(request, reply, ctx, state, result, { stepUp: state.stage.stepUp, method });
    });

    post('/enroll', async (request, reply, ctx, state, body) => {
      if (state.stage.kind !== 'wall') return show(reply, ctx, state);
      const type = text(body.type, 40) as FactorType;
      if (type === 'webauthn' && state.stage.enrollOptions.includes(type)) return toStage(reply, ctx, { ...state, stage: { kind: 'enroll_webauthn', mfaSessionId: state.stage.mfaSessionId, voluntary: false, enrollOptions: state.stage.enrollOptions } });
      if (type !== 'totp' || !state.stage.enrollOptions.includes(type)) return show(reply, ctx, state, { error: translate('challenge.error.not_allowed') }, 400);
      const started = await beginTotpEnrollment(depsFor(request), ctx.caller, { mfaSessionId: state.stage.mfaSessionId });
      return toStage(reply, ctx, { ...state, stage: { kind: 'enroll_totp', mfaSessionId: state.stage.mfaSessionId, factorId: started.factorId, secret: started.secret, qrSvg: started.qrSvg, voluntary: false } });
    });

    post('/enroll/confirm', async (request, reply, ctx, state, body) => {
      const stage = state.stage;
      if (stage.kind !== 'enroll_totp') return show(reply, ctx, state);
      const confirmed = await confirmTotpEnrollment(depsFor(request), ctx.caller, { mfaSessionId: stage.mfaSessionId, factorId: stage.factorId, code: text(body.code, 16).trim() });
      if (confirmed.status === 'enrolled') {
        // A voluntary enrollment from the grace banner: the session stays what it was (enrolling is not an MFA).
        if (state.login === null) return expired(reply);
        if (confirmed.recoveryCodes !== null && confirmed.recoveryCodes.length > 0) {
          await saveState(ctx.uid, ctx.details.exp, { ...state, stage: { kind: 'codes' } });
          return page(reply, ctx.uid, 'recovery-codes', translate('codes.title'), { action: `${base(ctx.uid)}/continue`, codes: confirmed.recoveryCodes });
        }
        return finish(reply, request, ctx, state.login);
      }
      return advance(request, reply, ctx, { ...state, stage: { kind: 'signin' } }, confirmed, { recoveryCodes: confirmed.recoveryCodes });
    });

    post('/grace/setup', async (request, reply, ctx, state) => {
      if (state.stage.kind !== 'grace' || state.login === null) return show(reply, ctx, state);
      const opened = await startEnrollment(depsFor(request), ctx.caller, { sessionToken: state.login.token, context: contextOf(request, reply) });
      if (!opened.enrollOptions.includes('totp')) return finish(reply, request, ctx, state.login);
      const started = await beginTotpEnrollment(depsFor(request), ctx.caller, { mfaSessionId: opened.mfaSessionId });
      return toStage(reply, ctx, { ...state, stage: { kind: 'enroll_totp', mfaSessionId: opened.mfaSessionId, factorId: started.factorId, secret: started.secret, qrSvg: started.qrSvg, voluntary: true } });
    });

    post('/continue', async (request, reply, ctx, state) => {
      if ((state.stage.kind !== 'codes' && state.stage.kind !== 'grace') || state.login === null) return show(reply, ctx, state);
      return finish(reply, request, ctx, state.login);
    });

    // Passkeys (src/http/pages/webauthn.ts): the pages' WebAuthn ceremonies, on this interaction's state and flow.
    registerPasskeyInteractionRoutes(hooks);
  });
}
