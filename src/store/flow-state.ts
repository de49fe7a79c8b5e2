/** An MFA session's flow state to and from its JSON column: parsed once on load, never read as an untyped bag. */
import { isFactorType, type FactorType } from '../core/index.ts';
import type { FlowContext, JsonObject, JsonValue, MfaFlowState } from './types.ts';

const OUTCOMES = new Set(['allow', 'challenge', 'enroll', 'block']);

function text(value: JsonValue | undefined): string | null {
  return typeof value === 'string' ? value : null;
}

function isObject(value: JsonValue | undefined): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function contextOf(value: JsonValue | undefined): FlowContext {
  const c = isObject(value) ? value : {};
  return { ip: text(c.ip), userAgent: text(c.userAgent), deviceId: text(c.deviceId), ipUnparsable: text(c.ipUnparsable) };
}

/** The flow state in a session's stored JSON (an older or partial row gets the empty values). */
export function parseFlowState(json: JsonObject | null): MfaFlowState {
  const j = json ?? {};
  const outcome = text(j.outcome);
  const options = Array.isArray(j.enrollOptions) ? j.enrollOptions.filter((t): t is FactorType => isFactorType(t)) : [];
  const reasons = Array.isArray(j.reasons)
    ? j.reasons.flatMap((r) => (isObject(r) && typeof r.code === 'string' ? [{ code: r.code, detail: text(r.detail) ?? '', source: text(r.source) ?? '' }] : []))
    : [];
  const { context: _context, pendingFactorId: _pending, ...decision } = j;
  return {
    outcome: outcome !== null && OUTCOMES.has(outcome) ? (outcome as MfaFlowState['outcome']) : null,
    recovery: j.recovery === true,
    enrollOptions: options,
    reasons,
    context: contextOf(j.context),
    pendingFactorId: text(j.pendingFactorId),
    decision,
  };
}

/** The JSON stored for a flow state (the decision record with the flow's own fields beside it). */
export function flowStateJson(state: MfaFlowState): string {
  return JSON.stringify({
    ...state.decision,
    outcome: state.outcome,
    recovery: state.recovery,
    enrollOptions: [...state.enrollOptions],
    reasons: state.reasons.map((r) => ({ code: r.code, detail: r.detail, source: r.source })),
    context: { ...state.context },
    ...(state.pendingFactorId === null ? {} : { pendingFactorId: state.pendingFactorId }),
  });
}

/** A flow state from the fields given, the rest empty (a voluntary enrollment's session, tests). */
export function flowState(fields: Partial<MfaFlowState> = {}): MfaFlowState {
  return {
    outcome: null,
    recovery: false,
    enrollOptions: [],
    reasons: [],
    context: { ip: null, userAgent: null, deviceId: null, ipUnparsable: null },
    pendingFactorId: null,
    decision: {},
    ...fields,
  };
}
