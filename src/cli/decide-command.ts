import { parseArgs } from 'node:util';
import {
  POLICY_FIELDS,
  decide,
  describeSource,
  floorsFor,
  formatInstant,
  resolvePolicy,
  summarizeDecision,
  type Decision,
  type ResolvedPolicy,
} from '../core/index.ts';
import { EXIT_OK, EXIT_USAGE, type CliCommand, type CliIo } from './command.ts';
import { readDecisionCase, type DecisionCase } from './decision-case.ts';

const USAGE = `Usage: portcullis decide --input <case.json> [--explain] [--json]

Evaluates one decision offline: resolves the case's policy layers (with the first-party floor when the
application is first-party), runs decide(), and prints the decision.

Options:
  -i, --input <file>  the case file (JSON)
  -e, --explain       print a readable explanation: outcome, methods, enroll options, grace, error code,
                      the numbered reasons trace and every policy field with the layer it came from
      --json          print JSON (the default); with --explain, the decision plus the resolved policy
  -h, --help          show this help

A case file holds what decide() takes, with times as ISO-8601 instants (2026-03-01T12:00:00Z):
  { "now": "...", "application": { "id", "name", "firstParty" },
    "layers": [ { "level": "application|tenant|tenant_application|user", "name",
                  "versions": [ { "version", "effectiveAt", "expiresAt"?, "layer": { ...policy fields } } ] } ],
    "user": { "id", "roles", "factors": [ { "id", "type", "status", "remaining"? } ],
              "firstSignInAt", "graceUntil", "hasPhone"?, "exemptUntil"? },
    "purpose": { "kind": "signin" } | { "kind": "step_up", "action", "maxAgeSeconds"? },
    "risk": { "status": "ok", "score", "signals": [ { "code", "weight" } ] } | { "status": "unavailable", "reason" },
    "device"?: { "trustedAt" }, "lastMfaAt", "completed"?: [ { "method", "userVerified"? } ] }
"description" and "expect" are ignored. Layers apply least specific first whatever their order in the file.

Exit status: 0 when a decision was printed (whatever its outcome), 2 when the arguments or the case are invalid.
See examples/cases/ for one case per documented behaviour.
`;

/** Resolves the case's policy and decides it: the whole evaluation, with no I/O. */
export function evaluateCase(c: DecisionCase): { readonly policy: ResolvedPolicy; readonly decision: Decision } {
  const policy = resolvePolicy(c.layers, floorsFor(c.application), c.now);
  const decision = decide({
    policy,
    application: c.application,
    user: c.user,
    purpose: c.purpose,
    risk: c.risk,
    device: c.device,
    lastMfaAt: c.lastMfaAt,
    completed: c.completed,
    now: c.now,
  });
  return { policy, decision };
}

function isoOf(ms: number): string {
  return new Date(ms).toISOString();
}

/** The decision as printed: times back as ISO-8601, as the case file spelled them. */
function decisionJson(decision: Decision): unknown {
  return { ...decision, grace: decision.grace === null ? null : { active: decision.grace.active, endsAt: isoOf(decision.grace.endsAt) } };
}

function policyJson(policy: ResolvedPolicy): unknown {
  return {
    fields: Object.fromEntries(POLICY_FIELDS.map((f) => [f, { value: policy.values[f], source: describeSource(policy.sources[f]) }])),
    versions: policy.versions.map(describeSource),
    floors: policy.floors,
    changedAt: policy.changedAt === null ? null : isoOf(policy.changedAt),
  };
}

function showValue(value: unknown): string {
  if (typeof value === 'string') return value;
  if (Array.isArray(value)) return value.length === 0 ? '(none)' : value.join(', ');
  return JSON.stringify(value);
}

function list(values: readonly string[]): string {
  return values.length === 0 ? '(none)' : values.join(', ');
}

/**
 * The decision as text for a person: the outcome and what goes with it, the ordered reasons
 * (`1. [code] detail — source`), then every policy field with the layer it came from.
 *
 * @example
 * io.stdout(explainDecision(policy, decision));
 */
export function explainDecision(policy: ResolvedPolicy, decision: Decision): string {
  const grace = decision.grace === null
    ? 'none'
    : decision.grace.active
      ? `active until ${formatInstant(decision.grace.endsAt)}`
      : `ended ${formatInstant(decision.grace.endsAt)}`;
  const head: [string, string][] = [
    ['outcome', decision.outcome],
    ['summary', summarizeDecision(decision).message],
    ['methods', list(decision.methods)],
    ['recovery codes', decision.recovery ? 'may complete the challenge as break-glass' : 'not offered'],
    ['enroll options', list(decision.enrollOptions)],
    ['grace', grace],
    ['error code', decision.errorCode ?? 'none'],
    ['risk score', decision.riskScore === null ? 'unavailable' : String(decision.riskScore)],
    ['exemption', decision.exemption ?? 'none'],
    ['policy versions', list(policy.versions.map(describeSource))],
    ['floors', list(policy.floors)],
  ];
  const lines: string[] = head.map(([k, v]) => `${`${k}:`.padEnd(17)}${v}`);
  lines.push('', 'reasons:');
  decision.reasons.forEach((r, i) => lines.push(`  ${i + 1}. [${r.code}] ${r.detail} — ${r.source}`));
  lines.push('', 'policy:');
  const width = Math.max(...POLICY_FIELDS.map((f) => f.length)) + 2;
  for (const field of POLICY_FIELDS) {
    lines.push(`  ${`${field}:`.padEnd(width)} ${showValue(policy.values[field])} — ${describeSource(policy.sources[field])}`);
  }
  return `${lines.join('\n')}\n`;
}

async function runDecide(args: readonly string[], io: CliIo): Promise<number> {
  let values: { input?: string | undefined; explain?: boolean | undefined; json?: boolean | undefined; help?: boolean | undefined };
  try {
    ({ values } = parseArgs({
      args: [...args],
      options: {
        input: { type: 'string', short: 'i' },
        explain: { type: 'boolean', short: 'e' },
        json: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (error) {
    io.stderr(`portcullis decide: ${error instanceof Error ? error.message : String(error)}\n\n${USAGE}`);
    return EXIT_USAGE;
  }
  if (values.help === true) {
    io.stdout(USAGE);
    return EXIT_OK;
  }
  if (values.input === undefined || values.input === '') {
    io.stderr(`portcullis decide: --input <case.json> is required\n\n${USAGE}`);
    return EXIT_USAGE;
  }
  const file = values.input;

  let text: string;
  try {
    text = await io.readFile(file);
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'it is a directory' : typeof code === 'string' ? code : 'unreadable';
    io.stderr(`portcullis decide: cannot read ${file}: ${why}\n`);
    return EXIT_USAGE;
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    io.stderr(`portcullis decide: ${file} is not valid JSON: ${error instanceof Error ? error.message : String(error)}\n`);
    return EXIT_USAGE;
  }
  const read = readDecisionCase(json);
  if (!read.ok) {
    io.stderr(`portcullis decide: ${file} is not a valid case:\n${read.errors.map((e) => `  ${e}\n`).join('')}`);
    return EXIT_USAGE;
  }

  const { policy, decision } = evaluateCase(read.value);
  if (values.explain === true && values.json !== true) {
    io.stdout(explainDecision(policy, decision));
  } else if (values.explain === true) {
    io.stdout(`${JSON.stringify({ decision: decisionJson(decision), summary: summarizeDecision(decision).message, policy: policyJson(policy) }, null, 2)}\n`);
  } else {
    io.stdout(`${JSON.stringify(decisionJson(decision), null, 2)}\n`);
  }
  return EXIT_OK;
}

/**
 * `portcullis decide --input case.json [--explain] [--json]`: evaluate and explain one decision offline, the way
 * Authelia's `access-control check-policy` is used.
 *
 * @example
 * const status = await DECIDE_COMMAND.run(['--input', 'examples/cases/first-party-app-always-challenges.json', '--explain'], io);
 */
export const DECIDE_COMMAND: CliCommand = {
  summary: 'evaluate and explain one MFA decision from a case file, offline',
  usage: USAGE,
  run: runDecide,
};
