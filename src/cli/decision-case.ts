import {
  FACTOR_TYPES,
  isFactorType,
  validatePolicyLayer,
  type CompletedStep,
  type DecisionApplication,
  type DecisionUser,
  type LayerInput,
  type PolicyVersion,
  type Purpose,
  type RiskAssessment,
  type RiskSignal,
  type UserFactor,
} from '../core/index.ts';

/**
 * A decision to evaluate offline, read from a case file: everything `decide` needs except the resolved policy,
 * which comes from `layers`. Times are epoch ms here; the file spells them as ISO-8601 instants.
 */
export interface DecisionCase {
  readonly now: number;
  readonly application: DecisionApplication;
  /** Least specific first (application → tenant → tenant×application → user), whatever order the file used. */
  readonly layers: readonly LayerInput[];
  readonly user: DecisionUser;
  readonly purpose: Purpose;
  readonly risk: RiskAssessment;
  readonly device: { readonly trustedAt: number | null } | null;
  readonly lastMfaAt: number | null;
  readonly completed: readonly CompletedStep[];
}

export type CaseResult = { readonly ok: true; readonly value: DecisionCase } | { readonly ok: false; readonly errors: readonly string[] };

type Obj = Readonly<Record<string, unknown>>;

const LEVEL_ORDER = ['application', 'tenant', 'tenant_application', 'user'] as const;
const COMPLETED_METHODS: readonly string[] = [...FACTOR_TYPES, 'password', 'email_link', 'sms_link'];
const MISSING: unique symbol = Symbol('missing');
const ISO_INSTANT = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d{1,3})?(Z|[+-]\d{2}:\d{2})$/;
/** Fields a case file may carry that the CLI does not read (the example tests keep their expectations there). */
const IGNORED_TOP_LEVEL = ['description', 'expect'];

function show(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (typeof value === 'string') return JSON.stringify(value);
  if (value === null || typeof value !== 'object') return String(value);
  return Array.isArray(value) ? 'an array' : 'an object';
}

/** Collects every problem of a case with the dotted path of the field at fault, instead of stopping at the first. */
class Reader {
  readonly errors: string[] = [];

  fail(path: string, problem: string): null {
    this.errors.push(`${path}: ${problem}`);
    return null;
  }

  object(value: unknown, path: string, known: readonly string[], ignored: readonly string[] = []): Obj | null {
    if (value === MISSING) return null;
    if (value === null || typeof value !== 'object' || Array.isArray(value)) return this.fail(path, `${show(value)} is not an object`);
    const record = value as Obj;
    for (const key of Object.keys(record)) {
      if (!known.includes(key) && !ignored.includes(key)) this.fail(join(path, key), `unknown field (known: ${known.join(', ')})`);
    }
    return record;
  }

  /** The value at `key`, or `MISSING` after recording that it is missing (the readers below then add nothing). */
  field(obj: Obj, key: string, path: string): unknown {
    if (!Object.hasOwn(obj, key) || obj[key] === undefined) {
      this.fail(join(path, key), 'is missing');
      return MISSING;
    }
    return obj[key];
  }

  string(value: unknown, path: string): string | null {
    if (value === MISSING) return null;
    if (typeof value !== 'string' || value.length === 0) return this.fail(path, `${show(value)} is not a non-empty string`);
    return value;
  }

  boolean(value: unknown, path: string): boolean | null {
    if (value === MISSING) return null;
    if (typeof value !== 'boolean') return this.fail(path, `${show(value)} is not true or false`);
    return value;
  }

  integer(value: unknown, path: string, min: number, max: number): number | null {
    if (value === MISSING) return null;
    if (typeof value !== 'number' || !Number.isInteger(value)) return this.fail(path, `${show(value)} is not a whole number`);
    if (value < min) return this.fail(path, `${value} is below ${min}`);
    if (value > max) return this.fail(path, `${value} is above ${max}`);
    return value;
  }

  oneOf<T extends string>(value: unknown, path: string, values: readonly T[]): T | null {
    if (value === MISSING) return null;
    if (typeof value !== 'string' || !(values as readonly string[]).includes(value)) {
      return this.fail(path, `${show(value)} is not one of ${values.join(', ')}`);
    }
    return value as T;
  }

  array(value: unknown, path: string): readonly unknown[] | null {
    if (value === MISSING) return null;
    if (!Array.isArray(value)) return this.fail(path, `${show(value)} is not a list`);
    return value;
  }

  /** An ISO-8601 instant with a zone (`2026-03-01T12:00:00Z`) as epoch ms. */
  instant(value: unknown, path: string): number | null {
    if (value === MISSING) return null;
    const match = typeof value === 'string' ? ISO_INSTANT.exec(value) : null;
    if (match === null) return this.fail(path, `${show(value)} is not an ISO-8601 instant such as 2026-03-01T12:00:00Z`);
    const [, y, mo, d, h, mi, s] = match.map(Number) as [number, number, number, number, number, number, number];
    const daysInMonth = new Date(Date.UTC(y, mo, 0)).getUTCDate();
    const ms = Date.parse(value as string);
    if (mo < 1 || mo > 12 || d < 1 || d > daysInMonth || h > 23 || mi > 59 || s > 59 || Number.isNaN(ms)) {
      return this.fail(path, `${show(value)} is not a valid date and time`);
    }
    return ms;
  }

  /** An instant or `null`; `undefined` when the value is neither. */
  instantOrNull(value: unknown, path: string): number | null | undefined {
    if (value === null) return null;
    return this.instant(value, path) ?? undefined;
  }
}

function join(path: string, key: string): string {
  return path === '' ? key : `${path}.${key}`;
}

function readApplication(r: Reader, value: unknown): DecisionApplication | null {
  const o = r.object(value, 'application', ['id', 'name', 'firstParty']);
  if (o === null) return null;
  const id = r.string(r.field(o, 'id', 'application'), 'application.id');
  const name = r.string(r.field(o, 'name', 'application'), 'application.name');
  const firstParty = r.boolean(r.field(o, 'firstParty', 'application'), 'application.firstParty');
  return id === null || name === null || firstParty === null ? null : { id, name, firstParty };
}

function readVersion(r: Reader, value: unknown, path: string): PolicyVersion | null {
  const o = r.object(value, path, ['version', 'effectiveAt', 'expiresAt', 'layer']);
  if (o === null) return null;
  const version = r.integer(r.field(o, 'version', path), `${path}.version`, 0, Number.MAX_SAFE_INTEGER);
  const effectiveAt = r.instant(r.field(o, 'effectiveAt', path), `${path}.effectiveAt`);
  const expiresAt = o['expiresAt'] === undefined ? null : r.instantOrNull(o['expiresAt'], `${path}.expiresAt`);
  const raw = r.field(o, 'layer', path);
  let layer = null;
  if (raw !== MISSING) {
    const checked = validatePolicyLayer(raw);
    if (checked.ok) layer = checked.layer;
    else if (checked.errors.length === 1 && checked.errors[0]?.field === '') r.fail(`${path}.layer`, `${show(raw)} is not an object`);
    // The validator's messages start with the field's own path (`gracePeriodDays: 31 is above 30`).
    else for (const e of checked.errors) r.errors.push(`${path}.layer.${e.message}`);
  }
  if (version === null || effectiveAt === null || expiresAt === undefined || layer === null) return null;
  return expiresAt === null ? { version, effectiveAt, layer } : { version, effectiveAt, expiresAt, layer };
}

function readLayers(r: Reader, value: unknown): LayerInput[] | null {
  const list = r.array(value, 'layers');
  if (list === null) return null;
  const layers: LayerInput[] = [];
  let ok = true;
  list.forEach((item, i) => {
    const path = `layers[${i}]`;
    const o = r.object(item, path, ['level', 'name', 'versions']);
    if (o === null) {
      ok = false;
      return;
    }
    const level = r.oneOf(r.field(o, 'level', path), `${path}.level`, LEVEL_ORDER);
    const name = r.string(r.field(o, 'name', path), `${path}.name`);
    const versionList = r.array(r.field(o, 'versions', path), `${path}.versions`);
    const versions = (versionList ?? []).map((v, j) => readVersion(r, v, `${path}.versions[${j}]`));
    if (versionList !== null && versionList.length === 0) r.fail(`${path}.versions`, 'the list is empty');
    const numbers = new Set<number>();
    versions.forEach((v, j) => {
      if (v === null) return;
      if (numbers.has(v.version)) r.fail(`${path}.versions[${j}].version`, `${v.version} is listed twice`);
      numbers.add(v.version);
    });
    if (level === null || name === null || versionList === null || versionList.length === 0 || versions.some((v) => v === null)) {
      ok = false;
      return;
    }
    layers.push({ level, name, versions: versions as PolicyVersion[] });
  });
  if (!ok) return null;
  // Resolution applies layers in order, most specific last; sorting here means a file cannot invert precedence.
  return layers.sort((a, b) => LEVEL_ORDER.indexOf(a.level) - LEVEL_ORDER.indexOf(b.level));
}

function readFactor(r: Reader, value: unknown, path: string): UserFactor | null {
  const o = r.object(value, path, ['id', 'type', 'status', 'remaining']);
  if (o === null) return null;
  const id = r.string(r.field(o, 'id', path), `${path}.id`);
  const rawType = r.field(o, 'type', path);
  const type = isFactorType(rawType) ? rawType : r.oneOf(rawType, `${path}.type`, FACTOR_TYPES);
  const status = r.oneOf(r.field(o, 'status', path), `${path}.status`, ['pending', 'active'] as const);
  const remaining = o['remaining'] === undefined ? undefined : r.integer(o['remaining'], `${path}.remaining`, 0, 1000);
  if (id === null || type === null || status === null || remaining === null) return null;
  return remaining === undefined ? { id, type, status } : { id, type, status, remaining };
}

function readUser(r: Reader, value: unknown): DecisionUser | null {
  const known = ['id', 'roles', 'factors', 'firstSignInAt', 'graceUntil', 'hasPhone', 'exemptUntil'];
  const o = r.object(value, 'user', known);
  if (o === null) return null;
  const id = r.string(r.field(o, 'id', 'user'), 'user.id');
  const roleList = r.array(r.field(o, 'roles', 'user'), 'user.roles');
  const roles = (roleList ?? []).map((role, i) => r.string(role, `user.roles[${i}]`));
  const factorList = r.array(r.field(o, 'factors', 'user'), 'user.factors');
  const factors = (factorList ?? []).map((f, i) => readFactor(r, f, `user.factors[${i}]`));
  const firstSignInAt = r.instantOrNull(r.field(o, 'firstSignInAt', 'user'), 'user.firstSignInAt');
  const graceUntil = r.instantOrNull(r.field(o, 'graceUntil', 'user'), 'user.graceUntil');
  const hasPhone = o['hasPhone'] === undefined ? undefined : r.boolean(o['hasPhone'], 'user.hasPhone');
  const exemptUntil = o['exemptUntil'] === undefined ? undefined : r.instantOrNull(o['exemptUntil'], 'user.exemptUntil');
  if (
    id === null || roleList === null || roles.includes(null) || factorList === null || factors.includes(null) ||
    firstSignInAt === undefined || graceUntil === undefined || hasPhone === null || (o['exemptUntil'] !== undefined && exemptUntil === undefined)
  ) {
    return null;
  }
  return {
    id,
    roles: roles as string[],
    factors: factors as UserFactor[],
    firstSignInAt,
    graceUntil,
    ...(hasPhone === undefined ? {} : { hasPhone }),
    ...(exemptUntil === undefined ? {} : { exemptUntil }),
  };
}

function readPurpose(r: Reader, value: unknown): Purpose | null {
  const o = r.object(value, 'purpose', ['kind', 'action', 'maxAgeSeconds']);
  if (o === null) return null;
  const kind = r.oneOf(r.field(o, 'kind', 'purpose'), 'purpose.kind', ['signin', 'step_up'] as const);
  if (kind === 'signin') {
    if (o['action'] !== undefined) r.fail('purpose.action', 'only a step_up has an action');
    if (o['maxAgeSeconds'] !== undefined) r.fail('purpose.maxAgeSeconds', 'only a step_up has a max age');
    return { kind };
  }
  if (kind === null) return null;
  const action = r.string(r.field(o, 'action', 'purpose'), 'purpose.action');
  const maxAge = o['maxAgeSeconds'] === undefined ? undefined : r.integer(o['maxAgeSeconds'], 'purpose.maxAgeSeconds', 0, 86_400);
  if (action === null || maxAge === null) return null;
  return maxAge === undefined ? { kind, action } : { kind, action, maxAgeSeconds: maxAge };
}

function readRisk(r: Reader, value: unknown): RiskAssessment | null {
  const o = r.object(value, 'risk', ['status', 'score', 'signals', 'reason']);
  if (o === null) return null;
  const status = r.oneOf(r.field(o, 'status', 'risk'), 'risk.status', ['ok', 'unavailable'] as const);
  if (status === 'unavailable') {
    if (o['score'] !== undefined) r.fail('risk.score', 'an unavailable assessment has no score');
    if (o['signals'] !== undefined) r.fail('risk.signals', 'an unavailable assessment has no signals');
    const reason = r.string(r.field(o, 'reason', 'risk'), 'risk.reason');
    return reason === null ? null : { status, reason };
  }
  if (status === null) return null;
  if (o['reason'] !== undefined) r.fail('risk.reason', 'only an unavailable assessment has a reason');
  const score = r.integer(r.field(o, 'score', 'risk'), 'risk.score', 0, 100);
  const list = r.array(r.field(o, 'signals', 'risk'), 'risk.signals');
  const signals = (list ?? []).map((s, i): RiskSignal | null => {
    const path = `risk.signals[${i}]`;
    const so = r.object(s, path, ['code', 'weight']);
    if (so === null) return null;
    const code = r.string(r.field(so, 'code', path), `${path}.code`);
    const weight = r.integer(r.field(so, 'weight', path), `${path}.weight`, 0, 100);
    return code === null || weight === null ? null : { code, weight };
  });
  if (score === null || list === null || signals.includes(null)) return null;
  return { status, score, signals: signals as RiskSignal[] };
}

function readDevice(r: Reader, value: unknown): { trustedAt: number | null } | null | undefined {
  if (value === undefined || value === null) return null;
  const o = r.object(value, 'device', ['trustedAt']);
  if (o === null) return undefined;
  const trustedAt = r.instantOrNull(r.field(o, 'trustedAt', 'device'), 'device.trustedAt');
  return trustedAt === undefined ? undefined : { trustedAt };
}

function readCompleted(r: Reader, value: unknown): CompletedStep[] | null {
  if (value === undefined) return [];
  const list = r.array(value, 'completed');
  if (list === null) return null;
  const steps = list.map((s, i): CompletedStep | null => {
    const path = `completed[${i}]`;
    const o = r.object(s, path, ['method', 'userVerified']);
    if (o === null) return null;
    const method = r.oneOf(r.field(o, 'method', path), `${path}.method`, COMPLETED_METHODS) as CompletedStep['method'] | null;
    const uv = o['userVerified'] === undefined ? undefined : r.boolean(o['userVerified'], `${path}.userVerified`);
    if (method === null || uv === null) return null;
    return uv === undefined ? { method } : { method, userVerified: uv };
  });
  return steps.includes(null) ? null : (steps as CompletedStep[]);
}

/**
 * Reads a parsed case file: every field checked, every problem reported with its path
 * (`layers[0].versions[0].layer.gracePeriodDays: 31 is above 30`), ISO instants converted to epoch ms.
 * Each policy layer goes through `validatePolicyLayer`, exactly as a saved layer would.
 *
 * @example
 * const result = readDecisionCase(JSON.parse(text));
 * if (!result.ok) console.error(result.errors.join('\n'));
 */
export function readDecisionCase(json: unknown): CaseResult {
  const r = new Reader();
  const known = ['now', 'application', 'layers', 'user', 'purpose', 'risk', 'device', 'lastMfaAt', 'completed'];
  const o = r.object(json, 'case', known, IGNORED_TOP_LEVEL);
  if (o === null) return { ok: false, errors: r.errors };
  const now = r.instant(r.field(o, 'now', ''), 'now');
  const application = readApplication(r, r.field(o, 'application', ''));
  const layers = readLayers(r, r.field(o, 'layers', ''));
  const user = readUser(r, r.field(o, 'user', ''));
  const purpose = readPurpose(r, r.field(o, 'purpose', ''));
  const risk = readRisk(r, r.field(o, 'risk', ''));
  const device = readDevice(r, o['device']);
  const lastMfaAt = r.instantOrNull(r.field(o, 'lastMfaAt', ''), 'lastMfaAt');
  const completed = readCompleted(r, o['completed']);
  if (
    r.errors.length > 0 || now === null || application === null || layers === null || user === null || purpose === null ||
    risk === null || device === undefined || lastMfaAt === undefined || completed === null
  ) {
    return { ok: false, errors: r.errors };
  }
  return { ok: true, value: { now, application, layers, user, purpose, risk, device, lastMfaAt, completed } };
}
