/**
 * Passkeys on the hosted sign-in pages: the server half of the pages' WebAuthn ceremonies. Each page asks the same
 * services as the headless API for its options — `beginPasskeySignin`, `beginWebauthnChallenge`,
 * `beginWebauthnEnrollment` — and posts the browser's credential to `signInWithPasskey`, `verify` (method
 * `webauthn`) or `confirmWebauthnEnrollment`; the flow then moves on through the interaction's own `advance`, so a
 * passkey sign-in meets the same decision, walls, blocks and floors as the password path (SECURITY rule 1).
 *
 * The browser half is assets/webauthn.js over @simplewebauthn/browser (both served from `/assets/`, allowed by the
 * pages' `script-src 'self'`): the options travel in a `data-options` attribute of the ceremony's form (escaped
 * by the template, never executed), the credential comes back in the form's hidden `response` field, with the
 * page's CSRF token. Without JavaScript the passkey controls stay hidden and the pages offer the other factors.
 *
 * The interaction's flow state and helpers stay in src/http/oidc/interactions.ts, which hands them over as
 * {@link InteractionHooks}; this file adds the `enroll_webauthn` stage (the wall's "Create a passkey" page, and the
 * "add a passkey" offer after a password + code sign-in) and five form routes.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { PortcullisError } from '../../core/index.ts';
import { accountOverview } from '../../services/account-portal.ts';
import type { ServiceDeps } from '../../services/deps.ts';
import { startEnrollment } from '../../services/enrollment-service.ts';
import type { FlowResult } from '../../services/flow-result.ts';
import { signInWithPasskey, verify, type Caller } from '../../services/flow-service.ts';
import type { RequestContext } from '../../services/risk.ts';
import { beginPasskeySignin, beginWebauthnChallenge, beginWebauthnEnrollment, confirmWebauthnEnrollment } from '../../services/webauthn-service.ts';
import { parseCookies } from '../cookies.ts';
import { translate, type MessageId } from './messages.ts';

/**
 * The largest credential JSON a form may carry: a registration with packed or TPM attestation carries certificate
 * chains (a few KiB in base64url), so the pages' form limit is above it with room for the URL encoding.
 */
const MAX_CREDENTIAL_JSON = 24 * 1024;

/** How long "Not now" on the passkey offer keeps this browser from being asked again. */
const OFFER_DECLINED_DAYS = 30;

/** The cookie that remembers "Not now" (a plain flag: it grants nothing, it only spares a question). */
const offerDeclinedCookie = (secure: boolean): string => (secure ? '__Host-pc_passkey_later' : 'pc_passkey_later');

/** The hosted pages' and the portal's form body limit (the API's JSON limit is 64 KiB). */
export const PAGE_FORM_LIMIT = 32 * 1024;

/** The stage of a passkey registration: at the wall (`voluntary: false`) or offered after a sign-in. */
export interface PasskeyEnrollStage {
  readonly kind: 'enroll_webauthn';
  readonly mfaSessionId: string;
  readonly voluntary: boolean;
  /** The wall's options, to go back to it ("Choose another way"). */
  readonly enrollOptions: readonly string[];
}

/** What a passkey control on a page needs: where its form posts and the options JSON for the browser. */
export interface PasskeyControl {
  readonly action: string;
  readonly options: string;
}

/** The interaction's state as this file reads it (src/http/oidc/interactions.ts owns the full type). */
interface StateLike {
  readonly stage: { readonly kind: string };
  readonly login: { readonly tenantId: string; readonly token: string } | null;
}

/** The interaction of a request, as src/http/oidc/interactions.ts resolves it. */
interface CtxLike {
  readonly uid: string;
  readonly caller: Caller;
  readonly details: { readonly exp: number; readonly params: Record<string, unknown> };
}

/** What src/http/oidc/interactions.ts lends the passkey pages: its state, its pages and its flow's next step. */
export interface InteractionHooks<Ctx extends CtxLike, State extends StateLike> {
  depsFor(request: FastifyRequest): ServiceDeps;
  contextOf(request: FastifyRequest, reply: FastifyReply): RequestContext;
  tenantOf(caller: Caller, params: Record<string, unknown>): Promise<string | null>;
  base(uid: string): string;
  post(path: string, handler: (request: FastifyRequest, reply: FastifyReply, ctx: Ctx, state: State, body: Record<string, unknown>) => Promise<FastifyReply>): void;
  page(reply: FastifyReply, uid: string, name: string, title: string, data: Record<string, unknown>, status?: number): FastifyReply;
  show(reply: FastifyReply, ctx: Ctx, state: State, extra?: { error?: string; method?: string }, status?: number): Promise<FastifyReply>;
  toStage(reply: FastifyReply, ctx: Ctx, state: State): Promise<FastifyReply>;
  saveState(uid: string, exp: number, state: State): Promise<void>;
  advance(request: FastifyRequest, reply: FastifyReply, ctx: Ctx, state: State, result: FlowResult, shown?: { recoveryCodes?: readonly string[] | null; stepUp?: boolean }): Promise<FastifyReply>;
  finish(reply: FastifyReply, request: FastifyRequest, ctx: Ctx, login: NonNullable<State['login']>): Promise<FastifyReply>;
  expired(reply: FastifyReply): FastifyReply;
  /** Whether the pages' cookies are `Secure` (and `__Host-` prefixed). */
  readonly cookieSecure: boolean;
  /** A state with another stage (the stage types are the interaction's). */
  withStage(state: State, stage: PasskeyEnrollStage | { readonly kind: 'signin' } | { readonly kind: 'codes' } | { readonly kind: 'wall'; readonly mfaSessionId: string; readonly enrollOptions: readonly string[] }): State;
}

/**
 * The browser's credential from a form field: a JSON object of bounded size, or null. Its shape and every claim in
 * it are checked by the services; this only turns the field into the value they take.
 *
 * @example
 * credentialOfField('{"id":"…","rawId":"…","type":"public-key","response":{…}}'); // the object
 */
export function credentialOfField(value: unknown): Record<string, unknown> | null {
  if (typeof value !== 'string' || value === '' || value.length > MAX_CREDENTIAL_JSON) return null;
  try {
    const parsed: unknown = JSON.parse(value);
    return typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed) ? (parsed as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

/** Options as the `data-options` attribute carries them (the template HTML-escapes the attribute). */
const optionsJson = (options: unknown): string => JSON.stringify(options);

/**
 * The sign-in page's passkey control (passkey-first, also started as conditional-UI autofill), for an interaction
 * whose tenant is known; null when it is not (the tenant is typed on the page) or the tenant is not served.
 *
 * @example
 * const passkey = await passkeySigninControl(deps, caller, 'acme', '/interaction/abc/passkey');
 */
export async function passkeySigninControl(deps: ServiceDeps, caller: Caller, tenant: string | null, action: string): Promise<PasskeyControl | null> {
  if (tenant === null) return null;
  try {
    const { options } = await beginPasskeySignin(deps, caller, { tenant });
    return { action, options: optionsJson(options) };
  } catch (error) {
    if (error instanceof PortcullisError) return null;
    throw error;
  }
}

/**
 * The challenge page's passkey control for an MFA session that offers `webauthn`; null when the session cannot
 * start one (it ended, or offers no passkey): the page then shows the other methods.
 *
 * @example
 * const passkey = await passkeyChallengeControl(deps, caller, mfaSessionId, '/interaction/abc/verify/passkey');
 */
export async function passkeyChallengeControl(deps: ServiceDeps, caller: Caller, mfaSessionId: string, action: string): Promise<PasskeyControl | null> {
  try {
    const { options } = await beginWebauthnChallenge(deps, caller, { mfaSessionId });
    return { action, options: optionsJson(options) };
  } catch (error) {
    if (error instanceof PortcullisError) return null;
    throw error;
  }
}

/** Maps a passkey refusal the page can explain to its message; null for the interaction's own refusal handling. */
function passkeyRefusal(error: unknown): MessageId | null {
  if (!(error instanceof PortcullisError)) return null;
  if (error.code === 'MFA_CODE_INVALID') return 'passkey.error.invalid';
  if (error.code === 'FACTOR_ALREADY_ACTIVE') return 'passkey.error.exists';
  return null;
}

/**
 * Renders the `enroll_webauthn` stage: "Create a passkey" at the wall, or the "add a passkey" offer after a sign-in.
 * Options are issued per render (a single-use challenge bound to the MFA session, valid five minutes).
 *
 * @example
 * case 'enroll_webauthn': return showPasskeyEnrollment(hooks, reply, ctx, state, stage, '', 200);
 */
export async function showPasskeyEnrollment<Ctx extends CtxLike, State extends StateLike>(
  hooks: InteractionHooks<Ctx, State>,
  reply: FastifyReply,
  ctx: Ctx,
  state: State,
  stage: PasskeyEnrollStage,
  error: string,
  status: number,
): Promise<FastifyReply> {
  const base = hooks.base(ctx.uid);
  let options: string;
  try {
    options = optionsJson((await beginWebauthnEnrollment(hooks.depsFor(reply.request), ctx.caller, { mfaSessionId: stage.mfaSessionId })).options);
  } catch (cause) {
    if (!(cause instanceof PortcullisError)) throw cause;
    // The enrollment session ended (or the user holds the maximum number of passkeys): nothing to register here.
    // An offer never costs a finished sign-in: it goes on to the client.
    if (stage.voluntary && state.login !== null) return hooks.finish(reply, reply.request, ctx, state.login);
    return hooks.expired(reply);
  }
  if (stage.voluntary) {
    return hooks.page(reply, ctx.uid, 'passkey-offer', translate('passkey.offer.title'), { webauthn: true, action: `${base}/enroll/webauthn`, options, laterAction: `${base}/passkey/later`, error }, status);
  }
  return hooks.page(reply, ctx.uid, 'enroll-webauthn', translate('passkey.create.title'), { webauthn: true, action: `${base}/enroll/webauthn`, options, otherAction: `${base}/enroll/webauthn/other`, error }, status);
}

/**
 * After a password + TOTP sign-in (the caller calls it only then), the offer to add a passkey ("Sign in faster next
 * time"): made only when the user holds no passkey, the policy lets them enroll one now (a voluntary enrollment
 * session, as the portal opens) and this browser has not answered "Not now" in the last 30 days; null otherwise,
 * and the sign-in finishes as before.
 *
 * @example
 * const offered = await offerPasskey(hooks, request, reply, ctx, { ...state, login }, result);
 * if (offered !== null) return offered;
 */
export async function offerPasskey<Ctx extends CtxLike, State extends StateLike>(
  hooks: InteractionHooks<Ctx, State>,
  request: FastifyRequest,
  reply: FastifyReply,
  ctx: Ctx,
  state: State,
  result: FlowResult,
): Promise<FastifyReply | null> {
  if (result.status !== 'authenticated' || state.login === null) return null;
  // A password and a one-time code: not a passkey sign-in, not a remembered device.
  if (!result.amr.includes('pwd') || !result.amr.includes('otp')) return null;
  if (parseCookies(request.headers.cookie).get(offerDeclinedCookie(hooks.cookieSecure)) === '1') return null;
  const deps = hooks.depsFor(request);
  try {
    const overview = await accountOverview(deps, ctx.caller, state.login.token);
    if (overview.factors.some((f) => f.type === 'webauthn')) return null;
    const opened = await startEnrollment(deps, ctx.caller, { sessionToken: state.login.token, context: hooks.contextOf(request, reply) });
    if (!opened.enrollOptions.includes('webauthn')) return null;
    return await hooks.toStage(reply, ctx, hooks.withStage(state, { kind: 'enroll_webauthn', mfaSessionId: opened.mfaSessionId, voluntary: true, enrollOptions: opened.enrollOptions }));
  } catch (error) {
    // An offer is never in the way of a finished sign-in.
    if (error instanceof PortcullisError) return null;
    throw error;
  }
}

/**
 * The passkey form routes of the interaction pages: passkey-first sign-in, the challenge's passkey answer, the
 * registration (wall or offer), going back to the wall, and declining the offer.
 *
 * @example
 * registerPasskeyInteractionRoutes(hooks);
 */
export function registerPasskeyInteractionRoutes<Ctx extends CtxLike, State extends StateLike>(hooks: InteractionHooks<Ctx, State>): void {
  hooks.post('/passkey', async (request, reply, ctx, state, body) => {
    const tenant = await hooks.tenantOf(ctx.caller, ctx.details.params);
    const next = hooks.withStage({ ...state, login: null }, { kind: 'signin' });
    const response = credentialOfField(body.response);
    if (tenant === null || response === null) return hooks.show(reply, ctx, next, { error: translate('passkey.error.failed') }, 400);
    let result: FlowResult;
    try {
      result = await signInWithPasskey(hooks.depsFor(request), ctx.caller, { tenant, response, context: hooks.contextOf(request, reply) });
    } catch (error) {
      if (error instanceof PortcullisError && error.code === 'INVALID_CREDENTIALS') return hooks.show(reply, ctx, next, { error: translate('passkey.error.unknown') }, 401);
      // A known passkey whose answer did not verify (a spent or foreign challenge, a bad signature, a counter that
      // went back): said as a passkey failure, not as a wrong code.
      if (error instanceof PortcullisError && error.code === 'MFA_CODE_INVALID') return hooks.show(reply, ctx, next, { error: translate('passkey.error.invalid') }, 401);
      throw error;
    }
    return hooks.advance(request, reply, ctx, next, result);
  });

  hooks.post('/verify/passkey', async (request, reply, ctx, state, body) => {
    const stage = state.stage as { kind: string; mfaSessionId?: string; stepUp?: boolean };
    if (stage.kind !== 'challenge' || stage.mfaSessionId === undefined) return hooks.show(reply, ctx, state);
    const response = credentialOfField(body.response);
    if (response === null) return hooks.show(reply, ctx, state, { error: translate('passkey.error.failed'), method: 'webauthn' }, 400);
    let result: FlowResult;
    try {
      result = await verify(hooks.depsFor(request), ctx.caller, { mfaSessionId: stage.mfaSessionId, method: 'webauthn', code: response });
    } catch (error) {
      const id = passkeyRefusal(error);
      if (id !== null) return hooks.show(reply, ctx, state, { error: translate(id), method: 'webauthn' }, 400);
      throw error;
    }
    return hooks.advance(request, reply, ctx, state, result, { stepUp: stage.stepUp === true });
  });

  hooks.post('/enroll/webauthn', async (request, reply, ctx, state, body) => {
    const stage = state.stage as PasskeyEnrollStage | { kind: string };
    if (stage.kind !== 'enroll_webauthn' || !('mfaSessionId' in stage)) return hooks.show(reply, ctx, state);
    const response = credentialOfField(body.response);
    if (response === null) return hooks.show(reply, ctx, state, { error: translate('passkey.error.failed') }, 400);
    let confirmed: Awaited<ReturnType<typeof confirmWebauthnEnrollment>>;
    try {
      confirmed = await confirmWebauthnEnrollment(hooks.depsFor(request), ctx.caller, { mfaSessionId: stage.mfaSessionId, response });
    } catch (error) {
      const id = passkeyRefusal(error);
      if (id !== null) return hooks.show(reply, ctx, state, { error: translate(id) }, 400);
      // The offer's enrollment session (five minutes) ran out while the page stayed open: the sign-in itself is done.
      const ended = error instanceof PortcullisError && (error.code === 'MFA_SESSION_EXPIRED' || error.code === 'MFA_SESSION_USED' || error.code === 'MFA_SESSION_NOT_FOUND');
      if (ended && stage.voluntary && state.login !== null) return hooks.finish(reply, request, ctx, state.login);
      throw error;
    }
    if (confirmed.status === 'enrolled') {
      // The offer after a sign-in: the session stays what it was (registering a passkey is not an MFA).
      if (state.login === null) return hooks.expired(reply);
      if (confirmed.recoveryCodes !== null && confirmed.recoveryCodes.length > 0) {
        await hooks.saveState(ctx.uid, ctx.details.exp, hooks.withStage(state, { kind: 'codes' }));
        return hooks.page(reply, ctx.uid, 'recovery-codes', translate('codes.title'), { action: `${hooks.base(ctx.uid)}/continue`, codes: confirmed.recoveryCodes });
      }
      return hooks.finish(reply, request, ctx, state.login);
    }
    // At the wall: the decision re-runs with the new passkey; recovery codes are shown once, as for TOTP.
    return hooks.advance(request, reply, ctx, hooks.withStage(state, { kind: 'signin' }), confirmed, { recoveryCodes: confirmed.recoveryCodes });
  });

  hooks.post('/enroll/webauthn/other', async (_request, reply, ctx, state) => {
    const stage = state.stage as PasskeyEnrollStage | { kind: string };
    if (stage.kind !== 'enroll_webauthn' || !('voluntary' in stage) || stage.voluntary) return hooks.show(reply, ctx, state);
    return hooks.toStage(reply, ctx, hooks.withStage(state, { kind: 'wall', mfaSessionId: stage.mfaSessionId, enrollOptions: stage.enrollOptions }));
  });

  hooks.post('/passkey/later', async (request, reply, ctx, state) => {
    const stage = state.stage as PasskeyEnrollStage | { kind: string };
    if (stage.kind !== 'enroll_webauthn' || !('voluntary' in stage) || !stage.voluntary || state.login === null) return hooks.show(reply, ctx, state);
    const attrs = ['Path=/', 'HttpOnly', 'SameSite=Lax', `Max-Age=${OFFER_DECLINED_DAYS * 86_400}`, ...(hooks.cookieSecure ? ['Secure'] : [])];
    void reply.header('set-cookie', `${offerDeclinedCookie(hooks.cookieSecure)}=1; ${attrs.join('; ')}`);
    return hooks.finish(reply, request, ctx, state.login);
  });
}
