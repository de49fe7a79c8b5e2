/**
 * Passkeys in the account portal: answering the portal's sign-in or step-up challenge with one, adding one (a voluntary enrollment — `startEnrollment`, then
 * `beginWebauthnEnrollment` / `confirmWebauthnEnrollment`, the same services as the headless API), and how a
 * passkey is shown in the factor list (its label and its kind: a synced passkey or a device-bound security key).
 * Renaming and removing one are the portal's generic factor acts (`renameOwnFactor`, `removeOwnFactor`, whose
 * refusal `MFA_DISABLE_BLOCKED` the overview shows with its code).
 *
 * Adding a factor is a privileged act: {@link beginPortalPasskey} runs inside the portal's `act`, so a stale
 * session is stepped up first (the `STEP_UP_REQUIRED` refusal is the portal's to handle). The browser half is the
 * pages' assets/webauthn.js, as on the sign-in pages.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { PortcullisError } from '../../core/index.ts';
import type { AccountFactor } from '../../services/account-portal.ts';
import type { ServiceDeps } from '../../services/deps.ts';
import { startEnrollment } from '../../services/enrollment-service.ts';
import { verify, type Caller } from '../../services/flow-service.ts';
import type { FlowResult } from '../../services/flow-result.ts';
import type { RequestContext } from '../../services/risk.ts';
import { beginWebauthnEnrollment, confirmWebauthnEnrollment } from '../../services/webauthn-service.ts';
import { credentialOfField, passkeyChallengeControl } from '../pages/webauthn.ts';
import { translateAccount as t, type AccountMessageId } from './messages.ts';

/** The portal stage of a passkey registration; `label` is the name the user typed (empty: the default). */
export interface PortalPasskeyStage {
  readonly kind: 'enroll_webauthn';
  readonly mfaSessionId: string;
  readonly label: string;
}

interface CtxLike {
  readonly caller: Caller;
  readonly base: string;
  readonly state: { readonly stage: { readonly kind: string }; readonly login: string | null };
}

/** What src/http/account/portal.ts lends the passkey pages. */
export interface PortalPasskeyHooks<Ctx extends CtxLike> {
  readonly deps: ServiceDeps;
  csrf(ctx: Ctx): string;
  send(reply: FastifyReply, html: string, status?: number): FastifyReply;
  render(name: string, data: Record<string, unknown>): string;
  contextOf(request: FastifyRequest, reply: FastifyReply): RequestContext;
  /** Saves the state with this stage (and a one-time message for the overview). */
  setStage(ctx: Ctx, stage: PortalPasskeyStage | { readonly kind: 'ready' }, flash?: { readonly role: 'alert' | 'status'; readonly id: AccountMessageId }): Promise<void>;
  codesPage(reply: FastifyReply, ctx: Ctx, codes: readonly string[]): FastifyReply;
  toHome(reply: FastifyReply, ctx: Ctx): FastifyReply;
  home(reply: FastifyReply, ctx: Ctx, flash: { readonly role: 'alert' | 'status'; readonly id: AccountMessageId }, status: number): Promise<FastifyReply>;
  post(path: string, handler: (request: FastifyRequest, reply: FastifyReply, ctx: Ctx, body: Record<string, unknown>) => Promise<FastifyReply>, options?: { signedIn?: boolean }): void;
  /** The portal's next step from a flow answer (signed in, or the next challenge). */
  advance(request: FastifyRequest, reply: FastifyReply, ctx: Ctx, result: FlowResult, shown?: { recoveryCodes?: readonly string[] | null }): Promise<FastifyReply>;
  /** The challenge page again, with a message. */
  challengePage(reply: FastifyReply, ctx: Ctx, extra: { error: string; method: string }, status: number): Promise<FastifyReply>;
}

/**
 * The portal challenge page's passkey control (sign-in or step-up), as on the OIDC pages; `{}` when the MFA session
 * cannot start one, and the page shows the other methods.
 *
 * @example
 * const extra = await portalPasskeyChallenge(deps, caller, mfaSessionId, '/account/acme/verify/passkey');
 */
export async function portalPasskeyChallenge(deps: ServiceDeps, caller: Caller, mfaSessionId: string, action: string): Promise<Record<string, unknown>> {
  const passkey = await passkeyChallengeControl(deps, caller, mfaSessionId, action);
  return passkey === null ? {} : { passkey, webauthn: true };
}

/**
 * How the overview names a factor's kind: "Synced passkey" or "Security key" for WebAuthn, the type otherwise.
 *
 * @example
 * factorKindLabel({ type: 'webauthn', kind: 'synced' }, 'Passkey or security key'); // 'Synced passkey'
 */
export function factorKindLabel(factor: Pick<AccountFactor, 'type' | 'kind'>, typeLabel: string): string {
  if (factor.type !== 'webauthn' || factor.kind === null) return typeLabel;
  return t(factor.kind === 'synced' ? 'account.passkey.kind.synced' : 'account.passkey.kind.device_bound');
}

/**
 * Renders the registration page of a portal passkey stage (added from the overview, or at the portal's enrollment
 * wall) with fresh options: a new single-use challenge bound to the stage's MFA session.
 *
 * @example
 * return showPortalPasskey(hooks, reply, ctx, stage, '', 200);
 */
export async function showPortalPasskey<Ctx extends CtxLike>(hooks: PortalPasskeyHooks<Ctx>, reply: FastifyReply, ctx: Ctx, stage: PortalPasskeyStage, error: string, status = 200): Promise<FastifyReply> {
  const { options } = await beginWebauthnEnrollment(hooks.deps, ctx.caller, { mfaSessionId: stage.mfaSessionId });
  return hooks.send(
    reply,
    hooks.render('enroll-webauthn', { title: t('passkey.create.title'), webauthn: true, csrf: hooks.csrf(ctx), action: `${ctx.base}/enroll/webauthn`, options: JSON.stringify(options), cancelHref: ctx.base, error }),
    status,
  );
}

/**
 * The privileged act "add a passkey": opens a voluntary enrollment on the portal session and shows the registration
 * page. Refusals (`STEP_UP_REQUIRED`, `MFA_FACTOR_NOT_ALLOWED`, …) are thrown for the portal's `act` to map.
 *
 * @example
 * case 'add_webauthn': return await beginPortalPasskey(hooks, request, reply, ctx, pending.label);
 */
export async function beginPortalPasskey<Ctx extends CtxLike>(hooks: PortalPasskeyHooks<Ctx>, request: FastifyRequest, reply: FastifyReply, ctx: Ctx, label: string): Promise<FastifyReply> {
  const opened = await startEnrollment(hooks.deps, ctx.caller, { sessionToken: ctx.state.login ?? undefined, context: hooks.contextOf(request, reply) });
  if (!opened.enrollOptions.includes('webauthn')) throw new PortcullisError('MFA_FACTOR_NOT_ALLOWED', 'The policy does not allow adding a passkey here.');
  const stage: PortalPasskeyStage = { kind: 'enroll_webauthn', mfaSessionId: opened.mfaSessionId, label };
  await hooks.setStage(ctx, stage);
  return showPortalPasskey(hooks, reply, ctx, stage, '');
}

/**
 * The portal's passkey confirmation route: the browser's credential is verified and the passkey created; the
 * overview then says so (with recovery codes first when this was the user's first factor).
 *
 * @example
 * registerPortalPasskeyRoutes(hooks);
 */
export function registerPortalPasskeyRoutes<Ctx extends CtxLike>(hooks: PortalPasskeyHooks<Ctx>): void {
  // The challenge's passkey answer (portal sign-in, or the step-up before a privileged act).
  hooks.post('/verify/passkey', async (request, reply, ctx, body) => {
    const stage = ctx.state.stage as { kind: string; mfaSessionId?: string };
    if (stage.kind !== 'challenge' || stage.mfaSessionId === undefined) return hooks.toHome(reply, ctx);
    const response = credentialOfField(body.response);
    if (response === null) return hooks.challengePage(reply, ctx, { error: t('passkey.error.failed'), method: 'webauthn' }, 400);
    let result: FlowResult;
    try {
      result = await verify(hooks.deps, ctx.caller, { mfaSessionId: stage.mfaSessionId, method: 'webauthn', code: response });
    } catch (error) {
      if (error instanceof PortcullisError && error.code === 'MFA_CODE_INVALID') return hooks.challengePage(reply, ctx, { error: t('passkey.error.invalid'), method: 'webauthn' }, 400);
      throw error;
    }
    return hooks.advance(request, reply, ctx, result);
  });

  hooks.post(
    '/enroll/webauthn',
    async (request, reply, ctx, body) => {
      const stage = ctx.state.stage as PortalPasskeyStage | { kind: string };
      if (stage.kind !== 'enroll_webauthn' || !('mfaSessionId' in stage)) return hooks.toHome(reply, ctx);
      const response = credentialOfField(body.response);
      if (response === null) return showPortalPasskey(hooks, reply, ctx, stage, t('passkey.error.failed'), 400);
      let confirmed: Awaited<ReturnType<typeof confirmWebauthnEnrollment>>;
      try {
        confirmed = await confirmWebauthnEnrollment(hooks.deps, ctx.caller, { mfaSessionId: stage.mfaSessionId, response, ...(stage.label === '' ? {} : { label: stage.label }) });
      } catch (error) {
        if (error instanceof PortcullisError && error.code === 'MFA_CODE_INVALID') return showPortalPasskey(hooks, reply, ctx, stage, t('passkey.error.invalid'), 400);
        if (error instanceof PortcullisError && error.code === 'FACTOR_ALREADY_ACTIVE') return hooks.home(reply, ctx, { role: 'alert', id: 'account.passkey.error.exists' }, 409);
        if (error instanceof PortcullisError && error.code === 'MFA_FACTOR_NOT_ALLOWED') return hooks.home(reply, ctx, { role: 'alert', id: 'account.passkey.error.model' }, 400);
        throw error;
      }
      // At the portal's enrollment wall: the sign-in goes on (the decision re-runs; recovery codes shown once).
      if (confirmed.status !== 'enrolled') return hooks.advance(request, reply, ctx, confirmed, { recoveryCodes: confirmed.recoveryCodes });
      await hooks.setStage(ctx, { kind: 'ready' }, { role: 'status', id: 'account.passkey.done' });
      if (confirmed.recoveryCodes !== null && confirmed.recoveryCodes.length > 0) return hooks.codesPage(reply, ctx, confirmed.recoveryCodes);
      return hooks.toHome(reply, ctx);
    },
  );
}
