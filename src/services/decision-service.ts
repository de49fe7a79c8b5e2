import {
  decide,
  floorsFor,
  resolvePolicy,
  summarizeDecision,
  type CompletedStep,
  type Decision,
  type DecisionInput,
  type FactorType,
  type PolicyLayer,
  type FactorClass,
  type LayerInput,
  type Purpose,
  type ResolvedPolicy,
  type ScopedLayer,
  type UserFactor,
} from '../core/index.ts';
import { flowState, type ApplicationRecord, type CatalogView, type FactorRecord, type JsonObject, type MfaFlowState, type NewAuditEvent, type RememberedDeviceRecord, type TenantStore, type UserRecord } from '../store/index.ts';
import type { ServiceDeps } from './deps.ts';
import { createRiskEngine, type RiskEngine } from '../risk/engine.ts';
import { deviceKeyOf, scoreCollection, type RequestContext, type RiskResult } from './risk.ts';
import { findRememberedDevice, rememberedDeviceId } from './device-trust.ts';

let unwired: RiskEngine | undefined;

/** The engine of deps that wire none: no GeoIP (turned off, not failed), no lists, the lenient budget. */
function engineOf(deps: ServiceDeps): RiskEngine {
  return deps.risk ?? (unwired ??= createRiskEngine({ geoip: { kind: 'off' } }));
}

const LEVEL_ORDER = { application: 0, tenant: 1, tenant_application: 2 } as const;

function orderLayers(layers: readonly ScopedLayer[]): LayerInput[] {
  return [...layers]
    .sort((a, b) => LEVEL_ORDER[a.scope.level] - LEVEL_ORDER[b.scope.level])
    .map((l) => ({ level: l.scope.level, name: l.name, versions: l.versions }));
}

/**
 * Resolves the policy for one tenant, application and (optionally) user: from storage, or from the request's
 * catalog view (validated by its version read, so a saved change applies to the very next decision on every node,
 * DESIGN §2).
 */
export async function loadPolicy(tenant: TenantStore, application: ApplicationRecord, userId: string | null, now: number, catalog?: CatalogView): Promise<ResolvedPolicy> {
  const { layers, userLayer } = catalog === undefined ? await tenant.policies.listLayersFor(application.id, userId) : await catalog.layersFor(tenant.tenantId, application.id, userId);
  const inputs = orderLayers(layers);
  if (userLayer !== null) inputs.push(userLayer);
  return resolvePolicy(inputs, floorsFor(application), now);
}

/** The live layers with the tenant layer replaced by a shadow draft (added where the tenant has none). */
function withTenantLayer(layers: readonly ScopedLayer[], draft: PolicyLayer, now: number): LayerInput[] {
  const out: LayerInput[] = [];
  let placed = false;
  for (const l of orderLayers(layers)) {
    if (!placed && LEVEL_ORDER[l.level as keyof typeof LEVEL_ORDER] > LEVEL_ORDER.tenant) {
      out.push({ level: 'tenant', name: 'shadow', versions: [{ version: 0, effectiveAt: now, layer: draft }] });
      placed = true;
    }
    if (l.level === 'tenant') {
      out.push({ level: 'tenant', name: `${l.name} (shadow)`, versions: [{ version: 0, effectiveAt: now, layer: draft }] });
      placed = true;
    } else out.push(l);
  }
  if (!placed) out.push({ level: 'tenant', name: 'shadow', versions: [{ version: 0, effectiveAt: now, layer: draft }] });
  return out;
}

/**
 * The user's active factors as `decide` sees them (recovery codes with how many remain); `known` when the request
 * read them already.
 */
export async function loadUserFactors(tenant: TenantStore, userId: string, known?: KnownFactors): Promise<UserFactor[]> {
  // One statement for the factors and the recovery codes left (issue 13), unless the request read them already.
  const { factors, recoveryRemaining } = known ?? (await tenant.factors.listActiveWithRecoveryCount(userId));
  const out: UserFactor[] = [];
  for (const f of factors) {
    if (f.type === 'recovery_codes') out.push({ id: f.id, type: f.type, status: 'active', remaining: recoveryRemaining ?? (await tenant.recoveryCodes.countRemaining(userId)) });
    else out.push({ id: f.id, type: f.type, status: 'active' });
  }
  return out;
}

/** A user's active factors as a request read them, with the recovery codes left when it counted them. */
export interface KnownFactors {
  readonly factors: readonly FactorRecord[];
  readonly recoveryRemaining?: number;
}

export interface EvaluateInput {
  readonly tenant: TenantStore;
  readonly application: ApplicationRecord;
  readonly user: UserRecord;
  readonly purpose: Purpose;
  readonly context: RequestContext;
  readonly completed: readonly CompletedStep[];
  /** Who asked (for audit): `application:<id>`. */
  readonly actor: string;
  /**
   * Leave the decision's audit events to the caller, who writes them with {@link Evaluation.writeAudit} in the
   * transaction that applies the decision (one commit instead of one per row; the record and its effects then
   * commit together). A caller that sets this must call `writeAudit` on every path, the throwing ones included.
   */
  readonly deferAudit?: boolean;
  /**
   * For step-up: when the calling application's login session last completed MFA good for the action (its sign-in
   * MFA or a grant for the action); never a user-wide time (DESIGN §1). Default null.
   */
  readonly lastMfaAt?: number | null;
  /** The request's catalog view (src/store/catalog.ts); without it the policy layers are read from storage. */
  readonly catalog?: CatalogView;
  /** The user's active factors when this request read them already (a proof's check). */
  readonly activeFactors?: KnownFactors;
  /** For step-up: the factor classes the session proved and its grant time for the action (the step-up registry). */
  readonly sessionFactorClasses?: readonly FactorClass[];
  readonly stepUpGrantAt?: number | null;
}

export interface Evaluation {
  readonly decision: Decision;
  readonly policy: ResolvedPolicy;
  readonly risk: RiskResult;
  readonly now: number;
  /** The remembered device the request's token named (this user's), or null. */
  readonly remembered: RememberedDeviceRecord | null;
  /**
   * The request's context as decided on: a valid device token replaced the caller's `deviceId` by the remembered
   * device's server-side identity, and the token itself is dropped (it is never stored).
   */
  readonly context: RequestContext;
  /**
   * Writes the decision's audit events through `tenant` (typically a transaction's store) when the evaluation was
   * made with `deferAudit`; a no-op otherwise (`evaluate` wrote them already). Call it once. With `into`, the records
   * are pushed there for the caller to append with its own (one multi-row statement) in the same transaction.
   */
  readonly writeAudit: (tenant: TenantStore, into?: NewAuditEvent[]) => Promise<void>;
}

/**
 * The flow state an MFA session keeps for a decision: its outcome, break-glass, the enrollment options shown, its
 * reasons and record, and the request context (never a token) for the decisions the flow runs again.
 */
export function flowStateOf(decision: Decision, policy: ResolvedPolicy, input: { enrollOptions: readonly FactorType[]; context: RequestContext }): MfaFlowState {
  return flowState({
    outcome: decision.outcome,
    recovery: decision.recovery,
    enrollOptions: input.enrollOptions,
    reasons: decision.reasons.map((r) => ({ code: r.code, detail: r.detail, source: r.source })),
    context: { ip: input.context.ip ?? null, userAgent: input.context.userAgent ?? null, deviceId: input.context.deviceId ?? null, ipUnparsable: input.context.ipUnparsable ?? null },
    decision: decisionRecord(decision, policy),
  });
}

/** The request context kept in a flow state, as the services read it. */
export function contextOfFlow(state: MfaFlowState): RequestContext {
  return { ...state.context };
}

/** The JSON form of a decision kept in audit records and MFA sessions (no secrets: decisions hold none). */
export function decisionRecord(decision: Decision, policy: ResolvedPolicy): JsonObject {
  return {
    outcome: decision.outcome,
    methods: [...decision.methods],
    recovery: decision.recovery,
    enrollOptions: [...decision.enrollOptions],
    grace: decision.grace === null ? null : { active: decision.grace.active, endsAt: decision.grace.endsAt },
    errorCode: decision.errorCode,
    reasons: decision.reasons.map((r) => ({ code: r.code, detail: r.detail, source: r.source })),
    riskScore: decision.riskScore,
    exemption: decision.exemption,
    policyVersions: policy.versions.map((v) => ({ level: v.level, name: v.name, version: v.version })),
  };
}

/**
 * The one decision every path goes through (SECURITY rule 1): loads the policy, the user's factors and the risk
 * signals, calls core `decide`, and writes `mfa.decision` (plus `mfa.exemption_used` / `auth.signin_blocked`) to
 * audit before returning — or, with `deferAudit`, hands that write to the caller's transaction. A storage failure
 * throws (→ 503): nothing here ever turns an error into `allow`.
 */
export async function evaluate(deps: ServiceDeps, input: EvaluateInput): Promise<Evaluation> {
  const now = deps.now();
  const { tenant, application, user } = input;
  const engine = engineOf(deps);
  // A device token is read first (one indexed read, only when one is presented): the risk engine then keys the
  // device by its server-side identity, which a caller-chosen `deviceId` cannot claim (SECURITY rule 6).
  const remembered = input.context.deviceToken == null ? null : await findRememberedDevice(tenant, user.id, input.context.deviceToken);
  const { deviceToken: _token, ...given } = input.context;
  const context: RequestContext = remembered === null ? given : { ...given, deviceId: rememberedDeviceId(remembered.id) };
  const [{ layers, userLayer }, factors, collected, shadow] = await Promise.all([
    input.catalog === undefined ? tenant.policies.listLayersFor(application.id, user.id) : input.catalog.layersFor(tenant.tenantId, application.id, user.id),
    loadUserFactors(tenant, user.id, input.activeFactors),
    engine.collect(tenant, user.id, context, now),
    tenant.shadowPolicy.get(),
  ]);
  const inputs = orderLayers(layers);
  if (userLayer !== null) inputs.push(userLayer);
  const policy = resolvePolicy(inputs, floorsFor(application), now);
  // Scoring is pure and needs the policy's per-tenant weights: it runs once both reads are back.
  const risk = scoreCollection(engine, collected, deviceKeyOf(tenant.tenantId, context.deviceId), policy, now);
  const decisionInput: DecisionInput = {
    policy,
    application: { id: application.id, name: application.name, firstParty: application.firstParty },
    user: {
      id: user.id,
      roles: user.roles,
      factors,
      firstSignInAt: user.firstSignInAt,
      graceUntil: user.graceUntil,
      hasPhone: user.phone !== null,
      exemptUntil: user.exemptUntil,
      completedMfaBefore: user.lastMfaAt !== null,
    },
    purpose: input.purpose,
    risk: risk.risk,
    device: risk.device,
    rememberedDevice: remembered === null ? null : { mfaAt: remembered.mfaAt },
    lastMfaAt: input.lastMfaAt ?? null,
    ...(input.sessionFactorClasses === undefined ? {} : { sessionFactorClasses: input.sessionFactorClasses }),
    ...(input.stepUpGrantAt === undefined ? {} : { stepUpGrantAt: input.stepUpGrantAt }),
    completed: input.completed,
    now,
  };
  const decision = decide(decisionInput);
  // Shadow mode: the same inputs under the tenant's draft layer (in place of its live tenant layer); a different
  // outcome is recorded as `mfa.shadow_diff` with the decision's audit, never enforced.
  let shadowDiff: JsonObject | null = null;
  if (shadow !== null) {
    const shadowInputs = withTenantLayer(layers, shadow.layer, now);
    if (userLayer !== null) shadowInputs.push(userLayer);
    const shadowDecision = decide({ ...decisionInput, policy: resolvePolicy(shadowInputs, floorsFor(application), now) });
    if (shadowDecision.outcome !== decision.outcome) {
      shadowDiff = {
        live: decision.outcome,
        shadow: shadowDecision.outcome,
        transition: `${decision.outcome}->${shadowDecision.outcome}`,
        reason: shadowDecision.reasons.at(-1)?.code ?? null,
        shadowReasons: shadowDecision.reasons.map((r) => ({ code: r.code, detail: r.detail, source: r.source })),
        purpose: input.purpose.kind,
        shadowSavedAt: shadow.createdAt,
      };
    }
  }
  const record = decisionRecord(decision, policy);
  const data: JsonObject = {
    ...record,
    purpose: input.purpose.kind,
    action: input.purpose.kind === 'step_up' ? input.purpose.action : null,
    completed: input.completed.map((s) => s.method),
  };
  const audit = { now, actor: input.actor, userId: user.id, applicationId: application.id, decision, data, shadowDiff };
  let writeAudit = (t: TenantStore, into?: NewAuditEvent[]): Promise<void> => writeDecisionAudit(t, audit, into);
  if (input.deferAudit !== true) {
    await writeAudit(tenant);
    writeAudit = async () => {};
  }
  const { level, message } = summarizeDecision(decision);
  deps.logger[level]({ tenantId: tenant.tenantId, userId: user.id, clientId: application.clientId, outcome: decision.outcome, riskScore: decision.riskScore, reason: decision.reasons.at(-1)?.code }, message);
  return { decision, policy, risk, now, writeAudit, remembered, context };
}

async function writeDecisionAudit(
  tenant: TenantStore,
  e: { now: number; actor: string; userId: string; applicationId: string; decision: Decision; data: JsonObject; shadowDiff: JsonObject | null },
  into?: NewAuditEvent[],
): Promise<void> {
  const base = { at: e.now, actor: e.actor, userId: e.userId, applicationId: e.applicationId };
  const records: NewAuditEvent[] = [{ ...base, event: 'mfa.decision', data: e.data }];
  if (e.shadowDiff !== null) records.push({ ...base, event: 'mfa.shadow_diff', data: e.shadowDiff });
  if (e.decision.exemption !== null) records.push({ ...base, event: 'mfa.exemption_used', data: { exemption: e.decision.exemption } });
  if (e.decision.outcome === 'block') records.push({ ...base, event: 'auth.signin_blocked', data: { riskScore: e.decision.riskScore, reasons: e.data.reasons ?? [] } });
  // The first decision that finds a user's grace over without the factor it asked for records that it expired:
  // once per grace window (a re-granted grace that runs out again is a new window, with a later end).
  const grace = e.decision.grace;
  if (e.decision.errorCode === 'MFA_GRACE_EXPIRED' && grace !== null) {
    const seen = await tenant.audit.list({ events: ['mfa.grace_expired'], userId: e.userId, from: grace.endsAt, limit: 1 });
    if (seen.items.length === 0) records.push({ ...base, event: 'mfa.grace_expired', data: { graceEndedAt: new Date(grace.endsAt).toISOString() } });
  }
  if (into !== undefined) into.push(...records);
  else if (records.length === 1) await tenant.audit.append(records[0] as NewAuditEvent);
  else await tenant.audit.appendMany(records);
}
