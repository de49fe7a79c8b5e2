import { FACTOR_TYPES, isFactorType, type FactorType } from '../factors.ts';
import { POLICY_FIELDS, type PolicyField, type PolicyLayer } from './model.ts';
import { RISK_SIGNAL_CODES } from '../risk/score.ts';

export interface FieldError {
  /** Dotted path of the offending field, e.g. `risk.blockAt`. */
  readonly field: string;
  /** A sentence naming the field and what is wrong, e.g. `gracePeriodDays: 31 is above 30`. */
  readonly message: string;
}

export type ValidationResult =
  | { readonly ok: true; readonly layer: PolicyLayer }
  | { readonly ok: false; readonly errors: readonly FieldError[] };

type Check = (value: unknown, field: string, errors: FieldError[]) => void;

function show(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (value === null || typeof value !== 'object') return String(value);
  return Array.isArray(value) ? 'an array' : 'an object';
}

function oneOf(values: readonly string[]): Check {
  return (value, field, errors) => {
    if (typeof value !== 'string' || !values.includes(value)) {
      errors.push({ field, message: `${field}: ${show(value)} is not one of ${values.join(', ')}` });
    }
  };
}

function integer(min: number, max: number): Check {
  return (value, field, errors) => {
    if (typeof value !== 'number' || !Number.isInteger(value)) {
      errors.push({ field, message: `${field}: ${show(value)} is not a whole number` });
    } else if (value < min) {
      errors.push({ field, message: `${field}: ${value} is below ${min}` });
    } else if (value > max) {
      errors.push({ field, message: `${field}: ${value} is above ${max}` });
    }
  };
}

const boolean: Check = (value, field, errors) => {
  if (typeof value !== 'boolean') errors.push({ field, message: `${field}: ${show(value)} is not true or false` });
};

function factorList(allowEmpty: boolean): Check {
  return (value, field, errors) => {
    if (!Array.isArray(value)) {
      errors.push({ field, message: `${field}: ${show(value)} is not a list of factor types` });
      return;
    }
    if (!allowEmpty && value.length === 0) errors.push({ field, message: `${field}: the list is empty` });
    const seen = new Set<FactorType>();
    value.forEach((item: unknown, i) => {
      if (!isFactorType(item)) {
        errors.push({ field: `${field}[${i}]`, message: `${field}[${i}]: ${show(item)} is not one of ${FACTOR_TYPES.join(', ')}` });
      } else if (seen.has(item)) {
        errors.push({ field: `${field}[${i}]`, message: `${field}[${i}]: ${item} is listed twice` });
      } else {
        seen.add(item);
      }
    });
  };
}

function object(shape: Readonly<Record<string, Check>>): Check {
  return (value, field, errors) => {
    if (value === null || typeof value !== 'object' || Array.isArray(value)) {
      errors.push({ field, message: `${field}: ${show(value)} is not an object` });
      return;
    }
    const record = value as Record<string, unknown>;
    for (const key of Object.keys(record)) {
      if (!(key in shape)) errors.push({ field: `${field}.${key}`, message: `${field}.${key}: unknown field` });
    }
    for (const [key, check] of Object.entries(shape)) {
      if (!(key in record)) errors.push({ field: `${field}.${key}`, message: `${field}.${key}: is missing` });
      else check(record[key], `${field}.${key}`, errors);
    }
  };
}

const ROLE_NAME = /^[A-Za-z0-9_.:-]{1,64}$/;
const ACTION_NAME = /^[a-z0-9][a-z0-9_.:-]{0,63}$/;

const riskWeights: Check = (weights, f, errs) => {
  if (weights === null || typeof weights !== 'object' || Array.isArray(weights)) {
    errs.push({ field: f, message: `${f}: ${show(weights)} is not an object of risk signal names to points` });
    return;
  }
  for (const [name, points] of Object.entries(weights)) {
    if (!(RISK_SIGNAL_CODES as readonly string[]).includes(name)) errs.push({ field: `${f}.${name}`, message: `${f}.${name}: not a risk signal (known: ${RISK_SIGNAL_CODES.join(', ')})` });
    else integer(0, 100)(points, `${f}.${name}`, errs);
  }
};

const FACTOR_CLASSES = ['phishing_resistant', 'possession', 'channel', 'recovery'];

const stepUpClasses: Check = (classes, f, errs) => {
  if (classes === null || typeof classes !== 'object' || Array.isArray(classes)) {
    errs.push({ field: f, message: `${f}: ${show(classes)} is not an object of action names to factor classes` });
    return;
  }
  for (const [name, cls] of Object.entries(classes)) {
    if (!ACTION_NAME.test(name)) errs.push({ field: `${f}.${name}`, message: `${f}.${name}: not an action name (lower-case, 1-64 characters)` });
    else if (typeof cls !== 'string' || !FACTOR_CLASSES.includes(cls)) errs.push({ field: `${f}.${name}`, message: `${f}.${name}: ${show(cls)} is not a factor class (${FACTOR_CLASSES.join(', ')})` });
  }
};

const CHECKS: Readonly<Record<PolicyField, Check>> = {
  enrollment: oneOf(['optional', 'required']),
  challenge: oneOf(['always', 'adaptive', 'never']),
  acceptableFactors: (value, field, errors) => {
    if (Array.isArray(value)) factorList(false)(value, field, errors);
    else oneOf(['any', 'phishing_resistant', 'totp_webauthn', 'recovery_excluded'])(value, field, errors);
  },
  strength: oneOf(['baseline', 'enhanced']),
  allowedFactors: factorList(true),
  gracePeriodDays: integer(0, 30),
  exemptRoles: (value, field, errors) => {
    if (!Array.isArray(value)) {
      errors.push({ field, message: `${field}: ${show(value)} is not a list of role names` });
      return;
    }
    value.forEach((role: unknown, i) => {
      if (typeof role !== 'string' || !ROLE_NAME.test(role)) {
        errors.push({ field: `${field}[${i}]`, message: `${field}[${i}]: ${show(role)} is not a role name (1-64 of A-Z a-z 0-9 _ . : -)` });
      }
    });
  },
  forceReenrollOnChange: boolean,
  recoveryCodes: object({ enabled: boolean, count: integer(1, 20) }),
  trustedDeviceDays: integer(0, 365),
  risk: (value, field, errors) => {
    const before = errors.length;
    // `weights` is optional: per-signal points on top of the built-in ones.
    const hasWeights = value !== null && typeof value === 'object' && 'weights' in value;
    object({
      challengeAt: integer(0, 100),
      blockAt: integer(0, 101),
      ...(hasWeights ? { weights: riskWeights } : {}),
    })(value, field, errors);
    if (errors.length === before) {
      const { challengeAt, blockAt } = value as { challengeAt: number; blockAt: number };
      if (challengeAt > blockAt) {
        errors.push({ field: `${field}.challengeAt`, message: `${field}.challengeAt: ${challengeAt} is above blockAt ${blockAt}` });
      }
    }
  },
  stepUp: (value, field, errors) => {
    const hasClasses = value !== null && typeof value === 'object' && 'factorClasses' in value;
    object({
      ...(hasClasses ? { factorClasses: stepUpClasses } : {}),
      defaultMaxAgeSeconds: integer(0, 86_400),
      actions: (actions, f, errs) => {
        if (actions === null || typeof actions !== 'object' || Array.isArray(actions)) {
          errs.push({ field: f, message: `${f}: ${show(actions)} is not an object of action names to seconds` });
          return;
        }
        for (const [name, seconds] of Object.entries(actions)) {
          if (!ACTION_NAME.test(name)) errs.push({ field: `${f}.${name}`, message: `${f}.${name}: not an action name (lower-case, 1-64 characters)` });
          else integer(0, 86_400)(seconds, `${f}.${name}`, errs);
        }
      },
    })(value, field, errors);
  },
  totpIssuer: (value, field, errors) => {
    if (value === null) return;
    // No colon (the key-uri label's separator) and no control character (one rule for stored text on both databases).
    if (typeof value !== 'string' || value.length === 0 || value.length > 64 || value.includes(':') || [...value].some((c) => c < ' ' || c === '\x7f')) {
      errors.push({ field, message: `${field}: ${show(value)} is not an issuer (1-64 characters, no colon or control character) or null` });
    }
  },
  minFactors: integer(1, 3),
  downgradeProtection: boolean,
};

/**
 * Checks a policy layer: every field optional, every value in range, unknown fields refused. Errors name the
 * field and the problem so an admin can fix the request without guessing.
 *
 * @example
 * validatePolicyLayer({ gracePeriodDays: 31 })
 * // { ok: false, errors: [{ field: 'gracePeriodDays', message: 'gracePeriodDays: 31 is above 30' }] }
 */
export function validatePolicyLayer(input: unknown): ValidationResult {
  if (input === null || typeof input !== 'object' || Array.isArray(input)) {
    return { ok: false, errors: [{ field: '', message: `policy: ${show(input)} is not an object` }] };
  }
  const record = input as Record<string, unknown>;
  const errors: FieldError[] = [];
  for (const key of Object.keys(record)) {
    const check = (CHECKS as Record<string, Check | undefined>)[key];
    if (check === undefined || !Object.hasOwn(CHECKS, key)) {
      errors.push({ field: key, message: `${key}: unknown field (known: ${POLICY_FIELDS.join(', ')})` });
    } else if (record[key] !== undefined) {
      check(record[key], key, errors);
    }
  }
  if (errors.length > 0) return { ok: false, errors };
  return { ok: true, layer: record as PolicyLayer };
}
