import { decide } from './decision/decide.ts';
import type { CompletedStep, Decision, DecisionApplication, DecisionUser, Outcome, RiskAssessment } from './decision/types.ts';
import type { DecisionErrorCode } from './errors.ts';
import type { FactorType } from './factors.ts';
import type { ResolvedPolicy } from './policy/resolve.ts';

/** One user as the preview sees them: who they are and, optionally, the context to assume for them. */
export interface PreviewSubject {
  readonly user: DecisionUser;
  /** Defaults to a clean, known context (score 0, no signals): the preview shows what the policy itself does. */
  readonly risk?: RiskAssessment;
  readonly device?: { readonly trustedAt: number | null } | null;
  readonly completed?: readonly CompletedStep[];
}

export interface PreviewInput {
  readonly application: DecisionApplication;
  readonly current: ResolvedPolicy;
  readonly draft: ResolvedPolicy;
  readonly population: readonly PreviewSubject[];
  readonly now: number;
  /** The factor types this deployment delivers: an enrollment wall offering none of them cannot be passed. */
  readonly deliverable: ReadonlySet<FactorType>;
}

export interface PreviewBuckets {
  readonly total: number;
  readonly outcomes: Readonly<Record<Outcome, { readonly count: number; readonly userIds: readonly string[] }>>;
  readonly errorCodes: Readonly<Partial<Record<DecisionErrorCode, { readonly count: number; readonly userIds: readonly string[] }>>>;
  /** Users inside a grace window (allowed now, walled later). */
  readonly inGrace: { readonly count: number; readonly userIds: readonly string[] };
  /** Users sent to enrollment with nothing they could enroll (no option this deployment delivers): a wall they cannot pass. */
  readonly nothingToEnroll: { readonly count: number; readonly userIds: readonly string[] };
}

export interface PreviewMove {
  readonly from: Outcome;
  readonly to: Outcome;
  readonly count: number;
  readonly userIds: readonly string[];
}

export interface PreviewResult {
  readonly current: PreviewBuckets;
  readonly draft: PreviewBuckets;
  /** Users whose outcome changes, grouped by (from, to); unchanged users are not listed. */
  readonly moves: readonly PreviewMove[];
  readonly unchanged: number;
}

const CLEAN: RiskAssessment = { status: 'ok', score: 0, signals: [] };

interface MutableBucket {
  count: number;
  userIds: string[];
}

function emptyBuckets(): {
  outcomes: Record<Outcome, MutableBucket>;
  errorCodes: Partial<Record<DecisionErrorCode, MutableBucket>>;
  inGrace: MutableBucket;
  nothingToEnroll: MutableBucket;
} {
  return {
    outcomes: { allow: { count: 0, userIds: [] }, challenge: { count: 0, userIds: [] }, enroll: { count: 0, userIds: [] }, block: { count: 0, userIds: [] } },
    errorCodes: {},
    inGrace: { count: 0, userIds: [] },
    nothingToEnroll: { count: 0, userIds: [] },
  };
}

function add(bucket: MutableBucket, id: string): void {
  bucket.count++;
  bucket.userIds.push(id);
}

function tally(buckets: ReturnType<typeof emptyBuckets>, id: string, d: Decision, deliverable: ReadonlySet<FactorType>): void {
  add(buckets.outcomes[d.outcome], id);
  if (d.errorCode !== null) add((buckets.errorCodes[d.errorCode] ??= { count: 0, userIds: [] }), id);
  if (d.grace?.active === true) add(buckets.inGrace, id);
  if (d.outcome === 'enroll' && !d.enrollOptions.some((t) => deliverable.has(t))) add(buckets.nothingToEnroll, id);
}

/**
 * Runs a draft policy and the current one over a population of user snapshots and reports what each would do —
 * counts and user ids per outcome and error code, and of users walled with nothing deliverable to enroll — and who
 * would move (e.g. from `allow` to `enroll`). Pure.
 *
 * @example
 * const result = previewPolicy({ application, current, draft, population, now, deliverable: new Set(['totp', 'recovery_codes']) });
 * result.moves; // [{ from: 'challenge', to: 'enroll', count: 12, userIds: [...] }]
 */
export function previewPolicy(input: PreviewInput): PreviewResult {
  const current = emptyBuckets();
  const draft = emptyBuckets();
  const moves = new Map<string, PreviewMove & { userIds: string[]; count: number }>();
  let unchanged = 0;
  for (const subject of input.population) {
    const base = {
      application: input.application,
      user: subject.user,
      purpose: { kind: 'signin' } as const,
      risk: subject.risk ?? CLEAN,
      device: subject.device ?? null,
      lastMfaAt: null,
      completed: subject.completed ?? [],
      now: input.now,
    };
    const before = decide({ ...base, policy: input.current });
    const after = decide({ ...base, policy: input.draft });
    tally(current, subject.user.id, before, input.deliverable);
    tally(draft, subject.user.id, after, input.deliverable);
    if (before.outcome === after.outcome) {
      unchanged++;
      continue;
    }
    const key = `${before.outcome}>${after.outcome}`;
    let move = moves.get(key);
    if (move === undefined) {
      move = { from: before.outcome, to: after.outcome, count: 0, userIds: [] };
      moves.set(key, move);
    }
    move.count++;
    move.userIds.push(subject.user.id);
  }
  const total = input.population.length;
  return {
    current: { total, ...current },
    draft: { total, ...draft },
    moves: [...moves.values()].sort((a, b) => b.count - a.count),
    unchanged,
  };
}
