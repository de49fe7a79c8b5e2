/**
 * The account portal (`/account/:tenant`): a signed-in user's factors, recovery codes, sessions and sign-in
 * activity, and the privileged acts on them.
 *
 * Sign-in: the portal is each tenant's built-in first-party application "Account" (src/services/account-portal.ts).
 * Its pages call the very services the headless API and the OIDC interaction pages call — `signIn`, `verify`,
 * `beginTotpEnrollment`/`confirmTotpEnrollment`, `stepUp`, and for passkeys (src/http/account/passkeys.ts) the
 * WebAuthn services — so the portal reaches a session only through the one
 * decision (SECURITY rule 1), under the first-party floors (enrollment required, challenge always). There is no
 * password check of its own.
 *
 * Session: the browser holds one opaque random id in a `__Host-` cookie (Secure, HttpOnly, SameSite=Lax, Path=/;
 * SECURITY rule 9). Server-side, under the id's SHA-256, the secret box seals the portal state — the tenant, the
 * login session token of the portal application, the flow stage and a privileged act waiting for its step-up —
 * in the provider's storage table with an expiry. The id is replaced at every (re)authentication. A state is bound
 * to its tenant: the cookie of tenant A's portal is "signed out" on tenant B's (and its login session, of A's
 * portal application, is unknown to B's).
 *
 * Privileged acts (add or remove a factor, regenerate recovery codes) are the services' own: they judge freshness
 * on this portal login session (DESIGN §1/§3). A `STEP_UP_REQUIRED` answer opens a step-up (`manage-mfa`, max age 0)
 * on that session; once it is answered the waiting act runs. CSRF: every form carries a MAC of the cookie id and
 * the tenant, and a cross-site POST carries no cookie (SameSite=Lax); an `Origin` naming another site is refused.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import formbody from '@fastify/formbody';
import { Eta } from 'eta';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { PortcullisError, type FactorType } from '../../core/index.ts';
import { listOwnTrustedDevices, revokeOwnTrustedDevice } from '../../services/trusted-devices.ts';
import { accountOverview, checkFactorLabel, listAccountSessions, listSigninActivity, openAccountPortal, renameOwnFactor, revokeAccountSession } from '../../services/account-portal.ts';
import type { ServiceDeps } from '../../services/deps.ts';
import { beginTotpEnrollment, confirmTotpEnrollment, regenerateRecoveryCodes, removeOwnFactor, startEnrollment } from '../../services/enrollment-service.ts';
import type { FlowResult } from '../../services/flow-result.ts';
import { signIn, stepUp, verify, type Caller } from '../../services/flow-service.ts';
import { LOGIN_SESSION_TTL_MS, MANAGE_MFA_ACTION } from '../../services/login-sessions.ts';
import type { RequestContext } from '../../services/risk.ts';
import type { OidcPayloadRepository } from '../../store/oidc-repository.ts';
import type { TenantRecord } from '../../store/index.ts';
import type { PortcullisApp } from '../app.ts';
import { cookiePolicyOf, macOf } from '../oidc/provider.ts';
import { PAGES_CSP, renderPage } from '../pages/render.ts';
import type { MessageId } from '../pages/messages.ts';
import { generateToken } from '../../factors/tokens.ts';
import { translateAccount as t, type AccountMessageId } from './messages.ts';
import { parseCookies } from '../cookies.ts';
import { PAGE_FORM_LIMIT } from '../pages/webauthn.ts';
import { beginPortalPasskey, factorKindLabel, portalPasskeyChallenge, registerPortalPasskeyRoutes, showPortalPasskey, type PortalPasskeyHooks, type PortalPasskeyStage } from './passkeys.ts';

/** Where the portal lives: `/account/<tenant slug>`. */
export const ACCOUNT_PREFIX = '/account';

const STATE_MODEL = 'PortcullisAccount';
const COOKIE_VALUE = /^pca_[A-Za-z0-9_-]{43}$/;
/** Factor and session ids are UUIDs; anything else in a URL is "not found" before it reaches a query. */
const ID_SHAPE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const NO_SUCH_ID = '00000000-0000-0000-0000-000000000000';
const DEVICE_ID_SHAPE = /^[A-Za-z0-9_-]{22}$/;
const idParam = (request: FastifyRequest, name: 'factorId' | 'sessionId' | 'deviceId'): string => {
  const value = (request.params as Record<string, string>)[name] ?? '';
  return (name === 'deviceId' ? DEVICE_ID_SHAPE : ID_SHAPE).test(value) ? value : NO_SUCH_ID;
};

export interface AccountPortalOptions {
  readonly deps: ServiceDeps;
  readonly payloads: OidcPayloadRepository;
  /** The deployment's public URL (config `publicUrl`): cookie prefixes and the expected `Origin`. */
  readonly publicUrl: string;
  /** The key the OIDC pages derive their CSRF MACs from (a distinct purpose string here). */
  readonly macKey: Buffer;
}

/** A privileged act waiting for its step-up. */
type PendingAct = { readonly kind: 'add_totp'; readonly label: string } | { readonly kind: 'add_webauthn'; readonly label: string } | { readonly kind: 'remove'; readonly factorId: string } | { readonly kind: 'regenerate' };

type Stage =
  | { readonly kind: 'signin' }
  | { readonly kind: 'challenge'; readonly mfaSessionId: string; readonly methods: readonly string[]; readonly recovery: boolean; readonly stepUp: boolean }
  | { readonly kind: 'wall'; readonly mfaSessionId: string; readonly enrollOptions: readonly string[] }
  | { readonly kind: 'enroll_totp'; readonly mfaSessionId: string; readonly factorId: string; readonly secret: string; readonly qrSvg: string; readonly voluntary: boolean }
  | PortalPasskeyStage
  | { readonly kind: 'ready' };

interface Flash {
  readonly role: 'alert' | 'status';
  readonly id: AccountMessageId;
  /** The stable error code of a refusal (shown beside its text). */
  readonly code?: string;
}

interface PortalState {
  readonly tenantId: string;
  /** The portal application's login session token, once signed in. */
  readonly login: string | null;
  readonly stage: Stage;
  readonly pending: PendingAct | null;
  readonly flash: Flash | null;
}

/** Methods the challenge page can take today, as on the OIDC pages. */
const ANSWERABLE = new Set<string>(['totp', 'recovery_codes', 'webauthn']);

const here = dirname(fileURLToPath(import.meta.url));
const eta = new Eta({ views: join(here, '..', 'pages', 'views'), autoEscape: true, cache: true, useWith: false });

function factorLabel(type: FactorType | string): string {
  const id = `account.factor.${type}`;
  return t(id as AccountMessageId);
}

function when(iso: string | null): string {
  return iso === null ? t('account.factors.never') : `${iso.slice(0, 10)} ${iso.slice(11, 16)} UTC`;
}

const text = (value: unknown, max: number): string => (typeof value === 'string' ? value.slice(0, max) : '');

/**
 * Registers the portal's pages.
 *
 * @example
 * await registerAccountPortal(app, { deps, payloads, publicUrl: config.publicUrl, macKey });
 */
export async function registerAccountPortal(app: PortcullisApp, options: AccountPortalOptions): Promise<void> {
  const { deps, payloads, macKey } = options;
  const cookiePolicy = cookiePolicyOf(options.publicUrl);
  const cookieName = cookiePolicy.secure ? '__Host-pc_account' : 'pc_account';
  const ourOrigin = new URL(options.publicUrl).origin;

  await app.register(async (scope) => {
    await scope.register(formbody, { bodyLimit: PAGE_FORM_LIMIT });

    const keyOf = (cookie: string): string => createHash('sha256').update(cookie).digest('hex');
    const aad = (key: string): string => `account-portal:${key}`;
    const csrfOf = (cookie: string, tenantId: string): string => macOf(macKey, 'account-csrf', `${cookie}\0${tenantId}`);

    function setCookie(reply: FastifyReply, value: string | null): void {
      const attrs = ['Path=/', 'HttpOnly', 'SameSite=Lax', ...(cookiePolicy.secure ? ['Secure'] : []), value === null ? 'Max-Age=0' : `Max-Age=${LOGIN_SESSION_TTL_MS / 1000}`];
      void reply.header('set-cookie', `${cookieName}=${value ?? ''}; ${attrs.join('; ')}`);
    }

    /** The cookie's value when well formed, else null. */
    function cookieOf(request: FastifyRequest): string | null {
      const value = parseCookies(request.headers.cookie).get(cookieName);
      return value !== undefined && COOKIE_VALUE.test(value) ? value : null;
    }

    async function loadState(cookie: string | null, tenantId: string): Promise<PortalState | null> {
      if (cookie === null) return null;
      const key = keyOf(cookie);
      const found = await payloads.find(STATE_MODEL, key, deps.now());
      const sealed = found?.payload.sealed;
      if (typeof sealed !== 'string') return null;
      const state = JSON.parse(deps.secrets.open(sealed, aad(key)).toString('utf8')) as PortalState;
      // Bound to its tenant: another tenant's portal state is no state here.
      return state.tenantId === tenantId ? state : null;
    }

    async function saveState(cookie: string, state: PortalState): Promise<void> {
      const key = keyOf(cookie);
      await payloads.upsert(STATE_MODEL, key, { sealed: deps.secrets.seal(Buffer.from(JSON.stringify(state), 'utf8'), aad(key)) }, deps.now() + LOGIN_SESSION_TTL_MS);
    }

    /** Replaces the cookie id (at every (re)authentication): the old id's state is destroyed. */
    async function rotate(reply: FastifyReply, old: string | null, state: PortalState): Promise<string> {
      if (old !== null) await payloads.destroy(STATE_MODEL, keyOf(old));
      const fresh = generateToken('pca');
      await saveState(fresh, state);
      setCookie(reply, fresh);
      return fresh;
    }

    function send(reply: FastifyReply, html: string, status = 200): FastifyReply {
      return reply.code(status).header('content-type', 'text/html; charset=utf-8').header('content-security-policy', PAGES_CSP).header('cache-control', 'no-store').header('referrer-policy', 'no-referrer').send(html);
    }

    function render(name: string, data: Record<string, unknown>): string {
      return eta.render(`./${name}`, { ...data, t: (id: AccountMessageId | MessageId, params?: Record<string, string | number>) => t(id, params) });
    }

    function message(reply: FastifyReply, heading: string, lead: string, status: number, role: 'alert' | 'status' = 'alert'): FastifyReply {
      return send(reply, renderPage('message', { title: heading, heading, lead, role }), status);
    }

    function contextOf(request: FastifyRequest, reply: FastifyReply): RequestContext {
      const cookies = parseCookies(request.headers.cookie);
      let device = cookies.get(cookiePolicy.device);
      if (device === undefined || !/^pcd_[A-Za-z0-9_-]{20,80}$/.test(device)) {
        device = generateToken('pcd');
        const attrs = ['Path=/', 'HttpOnly', 'SameSite=Lax', `Max-Age=${400 * 24 * 3600}`, ...(cookiePolicy.secure ? ['Secure'] : [])];
        void reply.header('set-cookie', `${cookiePolicy.device}=${device}; ${attrs.join('; ')}`);
      }
      return { ip: request.ip, userAgent: request.headers['user-agent']?.slice(0, 512) ?? null, deviceId: device };
    }

    interface Ctx {
      readonly tenant: TenantRecord;
      readonly caller: Caller;
      readonly base: string;
      /** The cookie id this request carries (or was given now). */
      cookie: string;
      state: PortalState;
    }

    /** The tenant of the URL and this browser's state there; null for an unknown tenant. */
    async function contextFor(request: FastifyRequest, reply: FastifyReply): Promise<Ctx | null> {
      const slug = (request.params as { tenant: string }).tenant;
      const portal = await openAccountPortal(deps, slug);
      if (portal === null) return null;
      let cookie = cookieOf(request);
      let state: PortalState | null;
      try {
        state = await loadState(cookie, portal.tenant.id);
      } catch {
        // A state sealed under another key (or tampered with) is no state.
        state = null;
      }
      if (cookie === null) {
        cookie = generateToken('pca');
        setCookie(reply, cookie);
      }
      return { tenant: portal.tenant, caller: portal.caller, base: `${ACCOUNT_PREFIX}/${encodeURIComponent(portal.tenant.slug)}`, cookie, state: state ?? fresh(portal.tenant.id) };
    }

    const fresh = (tenantId: string): PortalState => ({ tenantId, login: null, stage: { kind: 'signin' }, pending: null, flash: null });

    function notFound(reply: FastifyReply): FastifyReply {
      return message(reply, t('account.not_found.title'), t('account.not_found.lead'), 404);
    }

    function csrfOk(request: FastifyRequest, ctx: Ctx): boolean {
      // A named foreign origin is refused outright. Our pages send no referrer, so the browser's own form posts say
      // `Origin: null`: that, like no Origin, is left to the token and the SameSite=Lax cookie.
      const origin = request.headers.origin;
      if (origin !== undefined && origin !== 'null' && origin !== ourOrigin) return false;
      const given = (request.body as Record<string, unknown> | undefined)?.csrf;
      if (typeof given !== 'string' || cookieOf(request) !== ctx.cookie) return false;
      const want = Buffer.from(csrfOf(ctx.cookie, ctx.tenant.id));
      const got = Buffer.from(given);
      return want.length === got.length && timingSafeEqual(want, got);
    }

    const signedIn = (state: PortalState): state is PortalState & { login: string } => state.login !== null && state.stage.kind !== 'signin';

    // ---- pages -------------------------------------------------------------------------------------------------

    function navOf(ctx: Ctx, current: 'overview' | 'sessions' | 'activity', email: string, flash: Flash | null): Record<string, unknown> {
      return {
        csrf: csrfOf(ctx.cookie, ctx.tenant.id),
        email,
        signoutAction: `${ctx.base}/signout`,
        nav: [
          { href: ctx.base, label: t('account.nav.overview'), current: current === 'overview' },
          { href: `${ctx.base}/sessions`, label: t('account.nav.sessions'), current: current === 'sessions' },
          { href: `${ctx.base}/activity`, label: t('account.nav.activity'), current: current === 'activity' },
        ],
        flash: flash === null ? null : { role: flash.role, text: t(flash.id), code: flash.code ?? '' },
      };
    }

    /** Takes the one-time flash out of the state. */
    async function takeFlash(ctx: Ctx): Promise<Flash | null> {
      const flash = ctx.state.flash;
      if (flash !== null) {
        ctx.state = { ...ctx.state, flash: null };
        await saveState(ctx.cookie, ctx.state);
      }
      return flash;
    }

    async function home(reply: FastifyReply, ctx: Ctx, flash: Flash | null, status = 200): Promise<FastifyReply> {
      const overview = await accountOverview(deps, ctx.caller, ctx.state.login ?? undefined);
      const factors = overview.factors.filter((f) => f.type !== 'recovery_codes');
      const { devices } = await listOwnTrustedDevices(deps, ctx.caller, ctx.state.login ?? undefined);
      return send(
        reply,
        render('account-home', {
          title: t('account.title'),
          ...navOf(ctx, 'overview', overview.user.email, flash),
          factors: factors.map((f) => ({
            id: f.id,
            label: f.label,
            typeLabel: factorKindLabel(f, factorLabel(f.type)),
            created: when(f.createdAt),
            lastUsed: when(f.lastUsedAt),
            renameHref: `${ctx.base}/factors/${f.id}/rename`,
            removeHref: `${ctx.base}/factors/${f.id}/remove`,
          })),
          addAction: `${ctx.base}/factors/totp`,
          passkeyAction: `${ctx.base}/factors/webauthn`,
          webauthn: true,
          codesAction: `${ctx.base}/recovery-codes`,
          codesRemaining: overview.recoveryCodesRemaining,
          trustedDevices: devices.map((d) => ({
            label: [d.userAgent ?? t('account.activity.unknown'), d.ip].filter((v) => v !== null).join(' · '),
            since: when(d.mfaAt),
            revokeAction: `${ctx.base}/devices/${d.id}/revoke`,
          })),
        }),
        status,
      );
    }

    /** Renders the page of a sign-in or step-up stage (the shared sign-in views). */
    async function stagePage(reply: FastifyReply, ctx: Ctx, extra: { error?: string; method?: string; identifier?: string; notice?: string } = {}, status = 200): Promise<FastifyReply> {
      const stage = ctx.state.stage;
      const csrf = csrfOf(ctx.cookie, ctx.tenant.id);
      switch (stage.kind) {
        case 'challenge': {
          const offered = [...stage.methods, ...(stage.recovery && !stage.methods.includes('recovery_codes') ? ['recovery_codes'] : [])];
          const answerable = offered.filter((m) => ANSWERABLE.has(m));
          const method = extra.method !== undefined && answerable.includes(extra.method) ? extra.method : (answerable[0] ?? 'totp');
          const label = (m: string): string => (['totp', 'recovery_codes', 'webauthn', 'email_otp', 'sms_otp'].includes(m) ? t(`challenge.method.${m}` as MessageId) : m);
          return send(
            reply,
            renderPage('challenge', {
              title: stage.stepUp ? t('challenge.stepup.title') : t('challenge.title'),
              csrf,
              action: `${ctx.base}/verify`,
              stepUp: stage.stepUp,
              method,
              methodLabel: label(method),
              methodHint: method === 'recovery_codes' ? t('challenge.method.recovery_codes.hint') : stage.stepUp ? `${t('account.stepup.notice')} ${t('challenge.method.totp.hint')}` : t('challenge.method.totp.hint'),
              methods: offered.map((type) => ({ type, label: label(type), available: ANSWERABLE.has(type), href: `${ctx.base}?method=${encodeURIComponent(type)}` })),
              error: extra.error ?? '',
              ...(method === 'webauthn' ? await portalPasskeyChallenge(deps, ctx.caller, stage.mfaSessionId, `${ctx.base}/verify/passkey`) : {}),
            }),
            status,
          );
        }
        case 'wall':
          return send(
            reply,
            renderPage('wall', {
              title: t('wall.title'),
              csrf,
              options: stage.enrollOptions.map((type) => ({ type, label: factorLabel(type), hint: type === 'totp' ? t('wall.option.totp.hint') : type === 'webauthn' ? t('wall.option.webauthn.hint') : '', available: type === 'totp' || type === 'webauthn', action: `${ctx.base}/enroll` })),
              webauthn: stage.enrollOptions.includes('webauthn'),
            }),
            status,
          );
        case 'enroll_webauthn':
          return showPortalPasskey(passkeyHooks, reply, ctx, stage, extra.error ?? '', status);
        case 'enroll_totp':
          return send(reply, renderPage('enroll-totp', { title: t('totp.title'), csrf, action: `${ctx.base}/enroll/confirm`, qrSvg: stage.qrSvg, secret: stage.secret, error: extra.error ?? '' }), status);
        default:
          return send(
            reply,
            renderPage('signin', {
              title: t('signin.title'),
              csrf,
              action: `${ctx.base}/signin`,
              client: t('account.client', { tenant: ctx.tenant.name }),
              askTenant: false,
              tenant: '',
              identifier: extra.identifier ?? '',
              notice: extra.notice ?? '',
              error: extra.error ?? '',
            }),
            status,
          );
      }
    }

    function codesPage(reply: FastifyReply, ctx: Ctx, codes: readonly string[]): FastifyReply {
      return send(reply, renderPage('recovery-codes', { title: t('codes.title'), csrf: csrfOf(ctx.cookie, ctx.tenant.id), action: `${ctx.base}/continue`, codes }));
    }

    const toHome = (reply: FastifyReply, ctx: Ctx): FastifyReply => reply.redirect(ctx.base, 303);

    async function signOutHere(reply: FastifyReply, ctx: Ctx): Promise<FastifyReply> {
      await payloads.destroy(STATE_MODEL, keyOf(ctx.cookie));
      setCookie(reply, null);
      return toHome(reply, ctx);
    }

    // ---- the sign-in flow ----------------------------------------------------------------------------------------

    /** Moves the flow on from a service's answer, as the OIDC pages do; an authenticated answer signs the portal in. */
    async function advance(request: FastifyRequest, reply: FastifyReply, ctx: Ctx, result: FlowResult, shown: { recoveryCodes?: readonly string[] | null } = {}): Promise<FastifyReply> {
      const stepping = ctx.state.stage.kind === 'challenge' && ctx.state.stage.stepUp;
      if (result.status === 'mfa_required' || result.status === 'step_up_required' || result.status === 'enrollment_required') {
        const stepUpAnswer = result.status === 'step_up_required';
        if (result.methods.length === 0 && !result.recovery) {
          if (result.status !== 'enrollment_required') {
            ctx.state = { ...ctx.state, stage: ctx.state.login === null ? { kind: 'signin' } : { kind: 'ready' }, pending: null };
            await saveState(ctx.cookie, ctx.state);
            return message(reply, t('unmet.title'), t('unmet.lead'), 403);
          }
          ctx.state = { ...ctx.state, stage: { kind: 'wall', mfaSessionId: result.mfaSessionId, enrollOptions: result.enrollOptions } };
        } else {
          ctx.state = { ...ctx.state, stage: { kind: 'challenge', mfaSessionId: result.mfaSessionId, methods: result.methods, recovery: result.recovery, stepUp: stepUpAnswer } };
        }
        await saveState(ctx.cookie, ctx.state);
        return stagePage(reply, ctx);
      }
      if (result.status !== 'authenticated') throw new PortcullisError('INTERNAL', `Unexpected flow status ${result.status}.`);
      const token = result.session.token ?? ctx.state.login;
      if (token === null) throw new PortcullisError('INTERNAL', 'An authenticated answer without a session token.');
      // A completed sign-in or step-up is a (re)authentication: a new cookie id (SECURITY rule 9).
      const pending = stepping ? ctx.state.pending : null;
      ctx.state = { tenantId: ctx.tenant.id, login: token, stage: { kind: 'ready' }, pending: null, flash: null };
      ctx.cookie = await rotate(reply, ctx.cookie, ctx.state);
      if (shown.recoveryCodes !== undefined && shown.recoveryCodes !== null && shown.recoveryCodes.length > 0) return codesPage(reply, ctx, shown.recoveryCodes);
      if (pending !== null) return act(request, reply, ctx, pending, true);
      return toHome(reply, ctx);
    }

    /** An expected refusal in the sign-in flow, mapped to its page (as on the OIDC pages); anything else rethrown. */
    async function refusedInFlow(reply: FastifyReply, ctx: Ctx, error: unknown, extra: { identifier?: string; method?: string } = {}): Promise<FastifyReply> {
      if (!(error instanceof PortcullisError)) throw error;
      switch (error.code) {
        case 'INVALID_CREDENTIALS':
          return stagePage(reply, { ...ctx, state: { ...ctx.state, stage: { kind: 'signin' } } }, { error: t('signin.error.invalid'), ...extra }, 401);
        case 'RATE_LIMITED':
          return stagePage(reply, ctx, { error: t(ctx.state.stage.kind === 'signin' ? 'signin.error.rate_limited' : 'challenge.error.locked'), ...extra }, 429);
        case 'ACCESS_DENIED_RISK':
          return message(reply, t('blocked.title'), t('blocked.lead'), 403);
        case 'MFA_CODE_INVALID':
          return stagePage(reply, ctx, { error: t('challenge.error.invalid'), ...extra }, 400);
        case 'MFA_LOCKED':
        case 'ACCOUNT_LOCKED':
          return stagePage(reply, ctx, { error: t('challenge.error.locked'), ...extra }, 423);
        case 'MFA_METHOD_NOT_ALLOWED':
        case 'MFA_FACTOR_NOT_ALLOWED':
        case 'ENROLLMENT_NOT_ALLOWED':
        case 'FACTOR_ALREADY_ACTIVE':
          return stagePage(reply, ctx, { error: t('challenge.error.not_allowed'), ...extra }, 400);
        case 'MFA_RECOVERY_CODES_EXHAUSTED':
          return stagePage(reply, ctx, { error: t('challenge.error.exhausted'), ...extra }, 403);
        case 'MFA_SESSION_EXPIRED':
        case 'MFA_SESSION_USED':
        case 'MFA_SESSION_NOT_FOUND':
        case 'SESSION_NOT_FOUND':
        case 'SESSION_REQUIRED':
        case 'FACTOR_NOT_FOUND':
          // The flow ended under it: back to where the user stands (signed in, or the sign-in page).
          ctx.state = { ...ctx.state, stage: ctx.state.login === null ? { kind: 'signin' } : { kind: 'ready' }, pending: null };
          await saveState(ctx.cookie, ctx.state);
          return message(reply, t('expired.title'), t('error.csrf'), 400);
        default:
          throw error;
      }
    }

    // ---- privileged acts -----------------------------------------------------------------------------------------

    /**
     * Runs a privileged act through its service. The service judges this portal session's freshness; when it is
     * stale, a step-up on this session is opened and the act waits, sealed in the state, for it (`afterStepUp`
     * means it has just been answered: a second refusal is not looped into another step-up).
     */
    async function act(request: FastifyRequest, reply: FastifyReply, ctx: Ctx, pending: PendingAct, afterStepUp = false): Promise<FastifyReply> {
      const sessionToken = ctx.state.login ?? undefined;
      try {
        switch (pending.kind) {
          case 'add_totp': {
            const opened = await startEnrollment(deps, ctx.caller, { sessionToken, context: contextOf(request, reply) });
            if (!opened.enrollOptions.includes('totp')) return await home(reply, ctx, { role: 'alert', id: 'account.error.not_allowed' }, 400);
            const started = await beginTotpEnrollment(deps, ctx.caller, { mfaSessionId: opened.mfaSessionId, label: pending.label });
            ctx.state = { ...ctx.state, stage: { kind: 'enroll_totp', mfaSessionId: opened.mfaSessionId, factorId: started.factorId, secret: started.secret, qrSvg: started.qrSvg, voluntary: true } };
            await saveState(ctx.cookie, ctx.state);
            return stagePage(reply, ctx);
          }
          case 'add_webauthn':
            return await beginPortalPasskey(passkeyHooks, request, reply, ctx, pending.label);
          case 'remove':
            await removeOwnFactor(deps, ctx.caller, { sessionToken, factorId: pending.factorId });
            return await flashHome(reply, ctx, { role: 'status', id: 'account.remove.done' });
          case 'regenerate': {
            const { recoveryCodes } = await regenerateRecoveryCodes(deps, ctx.caller, { sessionToken });
            return codesPage(reply, ctx, recoveryCodes);
          }
        }
      } catch (error) {
        if (!(error instanceof PortcullisError)) throw error;
        switch (error.code) {
          case 'STEP_UP_REQUIRED': {
            if (afterStepUp) return message(reply, t('unmet.title'), t('unmet.lead'), 403);
            // Max age 0: the act's own freshness rule already found this session stale; the step-up must challenge.
            const result = await stepUp(deps, ctx.caller, { sessionToken, action: MANAGE_MFA_ACTION, maxAgeSeconds: 0, context: contextOf(request, reply) });
            ctx.state = { ...ctx.state, pending };
            return advance(request, reply, ctx, result);
          }
          case 'MFA_DISABLE_BLOCKED':
            return home(reply, ctx, { role: 'alert', id: error.extra?.reason === 'min_factors' ? 'account.error.disable_blocked_min_factors' : 'account.error.disable_blocked', code: error.code }, 409);
          case 'FACTOR_NOT_FOUND':
            return home(reply, ctx, { role: 'alert', id: 'account.error.factor_not_found' }, 404);
          case 'FACTOR_ALREADY_ACTIVE':
            return home(reply, ctx, { role: 'alert', id: 'account.error.already_active' }, 409);
          case 'MFA_FACTOR_NOT_ALLOWED':
          case 'ENROLLMENT_NOT_ALLOWED':
            return home(reply, ctx, { role: 'alert', id: 'account.error.not_allowed' }, 400);
          case 'SESSION_NOT_FOUND':
          case 'SESSION_REQUIRED':
            return signOutHere(reply, ctx);
          default:
            return refusedInFlow(reply, ctx, error);
        }
      }
    }

    async function flashHome(reply: FastifyReply, ctx: Ctx, flash: Flash): Promise<FastifyReply> {
      ctx.state = { ...ctx.state, stage: { kind: 'ready' }, flash };
      await saveState(ctx.cookie, ctx.state);
      return toHome(reply, ctx);
    }

    // ---- routes --------------------------------------------------------------------------------------------------

    const routeOptions = { schema: { hide: true }, helmet: false } as const;

    /** A signed-in page: the portal session must be live, else the sign-in page. */
    const page = (path: string, handler: (request: FastifyRequest, reply: FastifyReply, ctx: Ctx & { state: PortalState & { login: string } }) => Promise<FastifyReply>): void => {
      scope.get(`${ACCOUNT_PREFIX}/:tenant${path}`, routeOptions, async (request, reply) => {
        const ctx = await contextFor(request, reply);
        if (ctx === null) return notFound(reply);
        if (!signedIn(ctx.state)) return toHome(reply, ctx);
        try {
          return await handler(request, reply, ctx as Ctx & { state: PortalState & { login: string } });
        } catch (error) {
          if (error instanceof PortcullisError && (error.code === 'SESSION_NOT_FOUND' || error.code === 'SESSION_REQUIRED')) return signOutHere(reply, ctx);
          throw error;
        }
      });
    };

    /** A form post: the tenant, the CSRF token of this cookie and tenant; then the handler. */
    const post = (path: string, handler: (request: FastifyRequest, reply: FastifyReply, ctx: Ctx, body: Record<string, unknown>) => Promise<FastifyReply>, options: { signedIn?: boolean } = {}): void => {
      scope.post(`${ACCOUNT_PREFIX}/:tenant${path}`, routeOptions, async (request, reply) => {
        const ctx = await contextFor(request, reply);
        if (ctx === null) return notFound(reply);
        if (!csrfOk(request, ctx)) return message(reply, t('error.title'), t('error.csrf'), 403);
        if (options.signedIn === true && !signedIn(ctx.state)) return toHome(reply, ctx);
        const body = (request.body ?? {}) as Record<string, unknown>;
        try {
          return await handler(request, reply, ctx, body);
        } catch (error) {
          return refusedInFlow(reply, ctx, error, { ...(typeof body.identifier === 'string' ? { identifier: body.identifier.slice(0, 320) } : {}), ...(typeof body.method === 'string' ? { method: body.method } : {}) });
        }
      });
    };

    // The overview, or the page of the stage a sign-in stands at.
    scope.get(`${ACCOUNT_PREFIX}/:tenant`, routeOptions, async (request, reply) => {
      const ctx = await contextFor(request, reply);
      if (ctx === null) return notFound(reply);
      const method = (request.query as Record<string, unknown>).method;
      const stage = ctx.state.stage;
      // A step-up left half-way (the user came back to the overview): the waiting act is dropped.
      if (signedIn(ctx.state) && (stage.kind === 'ready' || (stage.kind === 'challenge' && stage.stepUp && typeof method !== 'string') || (stage.kind === 'enroll_totp' && stage.voluntary) || stage.kind === 'enroll_webauthn')) {
        if (stage.kind !== 'ready') {
          ctx.state = { ...ctx.state, stage: { kind: 'ready' }, pending: null };
          await saveState(ctx.cookie, ctx.state);
        }
        try {
          return await home(reply, ctx, await takeFlash(ctx));
        } catch (error) {
          if (error instanceof PortcullisError && (error.code === 'SESSION_NOT_FOUND' || error.code === 'SESSION_REQUIRED')) return signOutHere(reply, ctx);
          throw error;
        }
      }
      return stagePage(reply, ctx, typeof method === 'string' ? { method } : {});
    });

    post('/signin', async (request, reply, ctx, body) => {
      const identifier = text(body.identifier, 320).trim();
      const password = text(body.password, 1024);
      ctx.state = { ...fresh(ctx.tenant.id) };
      if (identifier === '' || password === '') return stagePage(reply, ctx, { error: t('signin.error.invalid'), identifier }, 400);
      const result = await signIn(deps, ctx.caller, { tenant: ctx.tenant.id, identifier, password, context: contextOf(request, reply) });
      return advance(request, reply, ctx, result);
    });

    post('/verify', async (request, reply, ctx, body) => {
      if (ctx.state.stage.kind !== 'challenge') return toHome(reply, ctx);
      const result = await verify(deps, ctx.caller, { mfaSessionId: ctx.state.stage.mfaSessionId, method: text(body.method, 40), code: text(body.code, 128).trim() });
      return advance(request, reply, ctx, result);
    });

    post('/enroll', async (_request, reply, ctx, body) => {
      const stage = ctx.state.stage;
      if (stage.kind !== 'wall') return toHome(reply, ctx);
      if (text(body.type, 40) === 'webauthn' && stage.enrollOptions.includes('webauthn')) {
        ctx.state = { ...ctx.state, stage: { kind: 'enroll_webauthn', mfaSessionId: stage.mfaSessionId, label: '' } };
        await saveState(ctx.cookie, ctx.state);
        return stagePage(reply, ctx);
      }
      if (text(body.type, 40) !== 'totp' || !stage.enrollOptions.includes('totp')) return stagePage(reply, ctx, { error: t('challenge.error.not_allowed') }, 400);
      const started = await beginTotpEnrollment(deps, ctx.caller, { mfaSessionId: stage.mfaSessionId });
      ctx.state = { ...ctx.state, stage: { kind: 'enroll_totp', mfaSessionId: stage.mfaSessionId, factorId: started.factorId, secret: started.secret, qrSvg: started.qrSvg, voluntary: false } };
      await saveState(ctx.cookie, ctx.state);
      return stagePage(reply, ctx);
    });

    post('/enroll/confirm', async (request, reply, ctx, body) => {
      const stage = ctx.state.stage;
      if (stage.kind !== 'enroll_totp') return toHome(reply, ctx);
      const confirmed = await confirmTotpEnrollment(deps, ctx.caller, { mfaSessionId: stage.mfaSessionId, factorId: stage.factorId, code: text(body.code, 16).trim() });
      if (confirmed.status === 'enrolled') {
        // A factor added from the portal: the session stays what it was (enrolling proves the factor, not the user).
        ctx.state = { ...ctx.state, stage: { kind: 'ready' }, flash: { role: 'status', id: 'account.add.done' } };
        await saveState(ctx.cookie, ctx.state);
        if (confirmed.recoveryCodes !== null && confirmed.recoveryCodes.length > 0) return codesPage(reply, ctx, confirmed.recoveryCodes);
        return toHome(reply, ctx);
      }
      return advance(request, reply, ctx, confirmed, { recoveryCodes: confirmed.recoveryCodes });
    });

    post('/continue', async (_request, reply, ctx) => toHome(reply, ctx));

    post(
      '/factors/totp',
      async (request, reply, ctx, body) => {
        const label = text(body.label, 200).trim() || t('account.add.default');
        return act(request, reply, ctx, { kind: 'add_totp', label: label.slice(0, 64) });
      },
      { signedIn: true },
    );

    post(
      '/factors/webauthn',
      async (request, reply, ctx, body) => {
        // An empty name leaves the service's default ("Passkey — iCloud Keychain", "Security key").
        const typed = text(body.label, 200).trim();
        let label: string;
        try {
          label = typed === '' ? '' : checkFactorLabel(typed);
        } catch (error) {
          if (error instanceof PortcullisError && error.code === 'INVALID_REQUEST') return home(reply, ctx, { role: 'alert', id: 'account.rename.error' }, 400);
          throw error;
        }
        return act(request, reply, ctx, { kind: 'add_webauthn', label });
      },
      { signedIn: true },
    );

    // Passkeys (src/http/account/passkeys.ts): the registration page and its confirmation, on this portal's state.
    const passkeyHooks: PortalPasskeyHooks<Ctx> = {
      deps,
      csrf: (ctx) => csrfOf(ctx.cookie, ctx.tenant.id),
      send,
      render,
      contextOf,
      setStage: async (ctx, stage, flash) => {
        ctx.state = { ...ctx.state, stage, ...(flash === undefined ? {} : { flash }) };
        await saveState(ctx.cookie, ctx.state);
      },
      codesPage,
      toHome,
      home,
      post,
      advance: (request, reply, ctx, result, shown) => advance(request, reply, ctx, result, shown),
      challengePage: (reply, ctx, extra, status) => stagePage(reply, ctx, extra, status),
    };
    registerPortalPasskeyRoutes(passkeyHooks);

    post('/recovery-codes', async (request, reply, ctx) => act(request, reply, ctx, { kind: 'regenerate' }), { signedIn: true });

    post(
      '/factors/:factorId/remove',
      async (request, reply, ctx) => {
        const factorId = idParam(request, 'factorId');
        return act(request, reply, ctx, { kind: 'remove', factorId });
      },
      { signedIn: true },
    );

    post(
      '/factors/:factorId/rename',
      async (request, reply, ctx, body) => {
        const factorId = idParam(request, 'factorId');
        try {
          await renameOwnFactor(deps, ctx.caller, { sessionToken: ctx.state.login ?? undefined, factorId, label: body.label });
        } catch (error) {
          if (error instanceof PortcullisError && error.code === 'INVALID_REQUEST') {
            return send(reply, render('account-rename', { title: t('account.rename.title'), csrf: csrfOf(ctx.cookie, ctx.tenant.id), action: `${ctx.base}/factors/${factorId}/rename`, cancelHref: ctx.base, label: text(body.label, 200), error: t('account.rename.error') }), 400);
          }
          if (error instanceof PortcullisError && error.code === 'FACTOR_NOT_FOUND') return home(reply, ctx, { role: 'alert', id: 'account.error.factor_not_found' }, 404);
          if (error instanceof PortcullisError && (error.code === 'SESSION_NOT_FOUND' || error.code === 'SESSION_REQUIRED')) return signOutHere(reply, ctx);
          throw error;
        }
        return flashHome(reply, ctx, { role: 'status', id: 'account.rename.done' });
      },
      { signedIn: true },
    );

    post(
      '/sessions/:sessionId/revoke',
      async (request, reply, ctx) => {
        const sessionId = idParam(request, 'sessionId');
        try {
          const { current } = await revokeAccountSession(deps, ctx.caller, ctx.state.login ?? undefined, sessionId);
          if (current) return await signOutHere(reply, ctx);
        } catch (error) {
          if (error instanceof PortcullisError && error.code === 'SESSION_NOT_FOUND') {
            ctx.state = { ...ctx.state, flash: { role: 'alert', id: 'account.error.session_not_found' } };
            await saveState(ctx.cookie, ctx.state);
            return reply.redirect(`${ctx.base}/sessions`, 303);
          }
          throw error;
        }
        ctx.state = { ...ctx.state, flash: { role: 'status', id: 'account.sessions.revoked' } };
        await saveState(ctx.cookie, ctx.state);
        return reply.redirect(`${ctx.base}/sessions`, 303);
      },
      { signedIn: true },
    );

    post(
      '/devices/:deviceId/revoke',
      async (request, reply, ctx) => {
        try {
          await revokeOwnTrustedDevice(deps, ctx.caller, ctx.state.login ?? undefined, idParam(request, 'deviceId'));
        } catch (error) {
          if (error instanceof PortcullisError && error.code === 'NOT_FOUND') return flashHome(reply, ctx, { role: 'alert', id: 'account.error.device_not_found' });
          if (error instanceof PortcullisError && (error.code === 'SESSION_NOT_FOUND' || error.code === 'SESSION_REQUIRED')) return signOutHere(reply, ctx);
          throw error;
        }
        return flashHome(reply, ctx, { role: 'status', id: 'account.trusted.revoked' });
      },
      { signedIn: true },
    );

    post('/signout', async (_request, reply, ctx) => {
      if (ctx.state.login !== null) {
        try {
          const sessions = await listAccountSessions(deps, ctx.caller, ctx.state.login);
          const current = sessions.find((s) => s.current);
          if (current !== undefined) await revokeAccountSession(deps, ctx.caller, ctx.state.login, current.id);
        } catch (error) {
          // Already ended: signing out still clears this browser.
          if (!(error instanceof PortcullisError && error.code === 'SESSION_NOT_FOUND')) throw error;
        }
      }
      return signOutHere(reply, ctx);
    });

    page('/sessions', async (_request, reply, ctx) => {
      const overview = await accountOverview(deps, ctx.caller, ctx.state.login);
      const sessions = await listAccountSessions(deps, ctx.caller, ctx.state.login);
      return send(
        reply,
        render('account-sessions', {
          title: t('account.sessions.title'),
          ...navOf(ctx, 'sessions', overview.user.email, await takeFlash(ctx)),
          sessions: sessions.map((s) => ({
            application: s.application,
            current: s.current,
            createdAt: when(s.createdAt),
            lastSeenAt: when(s.lastSeenAt),
            assurance: s.amr.includes('mfa') ? t('account.assurance.mfa') : t('account.assurance.pwd'),
            device: [s.userAgent ?? t('account.activity.unknown'), s.ip].filter((v) => v !== null).join(' · '),
            revokeAction: `${ctx.base}/sessions/${s.id}/revoke`,
          })),
        }),
      );
    });

    page('/activity', async (_request, reply, ctx) => {
      const overview = await accountOverview(deps, ctx.caller, ctx.state.login);
      const activity = await listSigninActivity(deps, ctx.caller, ctx.state.login);
      return send(
        reply,
        render('account-activity', {
          title: t('account.activity.title'),
          ...navOf(ctx, 'activity', overview.user.email, await takeFlash(ctx)),
          activity: activity.map((a) => ({
            at: when(a.at),
            application: a.application,
            outcome: t(`account.outcome.${a.outcome}` as AccountMessageId),
            where: [a.thisDevice ? t('account.activity.this_device') : (a.userAgent ?? t('account.activity.unknown')), a.ip, a.country].filter((v) => v !== null).join(' · '),
          })),
        }),
      );
    });

    page('/factors/:factorId/rename', async (request, reply, ctx) => {
      const factorId = idParam(request, 'factorId');
      const overview = await accountOverview(deps, ctx.caller, ctx.state.login);
      const factor = overview.factors.find((f) => f.id === factorId && f.type !== 'recovery_codes');
      if (factor === undefined) return home(reply, ctx, { role: 'alert', id: 'account.error.factor_not_found' }, 404);
      return send(reply, render('account-rename', { title: t('account.rename.title'), csrf: csrfOf(ctx.cookie, ctx.tenant.id), action: `${ctx.base}/factors/${factor.id}/rename`, cancelHref: ctx.base, label: factor.label, error: '' }));
    });

    page('/factors/:factorId/remove', async (request, reply, ctx) => {
      const factorId = idParam(request, 'factorId');
      const overview = await accountOverview(deps, ctx.caller, ctx.state.login);
      const factor = overview.factors.find((f) => f.id === factorId && f.type !== 'recovery_codes');
      if (factor === undefined) return home(reply, ctx, { role: 'alert', id: 'account.error.factor_not_found' }, 404);
      return send(reply, render('account-remove', { title: t('account.remove.title', { label: factor.label }), csrf: csrfOf(ctx.cookie, ctx.tenant.id), action: `${ctx.base}/factors/${factor.id}/remove`, cancelHref: ctx.base, label: factor.label }));
    });
  });
}
