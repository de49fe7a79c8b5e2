import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const BIN = join(ROOT, 'bin', 'portcullis.js');
const CASES = join(ROOT, 'examples', 'cases');

interface Run {
  readonly status: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs the real launcher under this Node (24) in a child process, as a user would. */
function portcullis(...args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { cwd: ROOT, encoding: 'utf8' }, (error, stdout, stderr) => {
      const status = error === null ? 0 : typeof error.code === 'number' ? error.code : -1;
      resolve({ status, stdout, stderr });
    });
  });
}

/** What a case file promises; the CLI ignores `expect`, this test holds it to it. */
interface Expectation {
  readonly outcome: string;
  readonly errorCode: string | null;
  readonly methods?: readonly string[];
  readonly enrollOptions?: readonly string[];
  readonly recovery?: boolean;
  readonly exemption?: string | null;
  readonly grace?: { readonly active: boolean; readonly endsAt: string } | null;
  /** The code of the last reason (the rule that decided). */
  readonly lastReason?: string;
  /** The exact codes of the whole trace, in order. */
  readonly reasonCodes?: readonly string[];
}

interface PrintedDecision {
  readonly outcome: string;
  readonly errorCode: string | null;
  readonly methods: readonly string[];
  readonly enrollOptions: readonly string[];
  readonly recovery: boolean;
  readonly exemption: string | null;
  readonly grace: { readonly active: boolean; readonly endsAt: string } | null;
  readonly reasons: readonly { readonly code: string; readonly detail: string; readonly source: string }[];
}

/** The seed scenarios of issue 2; each must keep an example case named after its behaviour. */
const SEED_SCENARIOS = [
  'weftid-enhanced-email-only-user-challenges-email-then-enrolls',
  'weftid-enhanced-totp-user-unaffected',
  'weftid-enhanced-passkey-user-unaffected',
  'first-party-app-always-challenges',
  'zewstid-always-challenges',
  'zewstid-smart-low-risk-allows',
  'zewstid-smart-new-country-challenges',
  'zewstid-never-allows',
  'risk-29-below-challenge-threshold-allows',
  'risk-30-at-challenge-threshold-challenges',
  'risk-79-below-block-threshold-challenges',
  'risk-80-at-block-threshold-blocks',
  'risk-unavailable-under-adaptive-challenges',
  'adaptive-no-factor-optional-enrollment-allows',
  'grace-default-14-days-inside-allows',
  'grace-0-walls-immediately',
  'grace-last-second-still-allows',
  'grace-exact-end-second-walls',
  'grace-not-reset-by-policy-change',
  'force-reenroll-on-change-opens-fresh-window',
  'admin-regrant-grace-allows',
  'exempt-role-allows-with-reason',
  'exempt-role-first-party-floor-still-challenges',
  'exempt-role-risk-block-still-blocks',
  'phishing-resistant-totp-only-user-not-allowed',
  'recovery-excluded-never-offers-recovery-codes',
  'wristband-tenant-overrides-application-policy',
  'step-up-inside-max-age-allows',
  'step-up-outside-max-age-challenges',
];

const files = (await readdir(CASES)).filter((f) => f.endsWith('.json')).sort();

describe('every seed scenario of issue 2 has an example case', () => {
  for (const name of SEED_SCENARIOS) {
    test(name, () => assert.ok(files.includes(`${name}.json`), `examples/cases/${name}.json is missing`));
  }
});

describe('portcullis decide prints the expected decision for every example case', { concurrency: 4 }, () => {
  for (const file of files) {
    test(file.replace(/\.json$/, ''), async () => {
      const { expect } = JSON.parse(await readFile(join(CASES, file), 'utf8')) as { expect?: Expectation };
      assert.ok(expect !== undefined && typeof expect.outcome === 'string' && 'errorCode' in expect, `${file} needs "expect": { "outcome", "errorCode" }`);
      const run = await portcullis('decide', '--input', join('examples', 'cases', file));
      assert.equal(run.stderr, '');
      assert.equal(run.status, 0);
      const d = JSON.parse(run.stdout) as PrintedDecision;
      assert.equal(d.outcome, expect.outcome);
      assert.equal(d.errorCode, expect.errorCode);
      assert.ok(d.reasons.length > 0, 'every decision explains itself');
      if (expect.methods !== undefined) assert.deepEqual(d.methods, expect.methods);
      if (expect.enrollOptions !== undefined) assert.deepEqual(d.enrollOptions, expect.enrollOptions);
      if (expect.recovery !== undefined) assert.equal(d.recovery, expect.recovery);
      if (expect.exemption !== undefined) assert.equal(d.exemption, expect.exemption);
      if (expect.grace !== undefined) assert.deepEqual(d.grace, expect.grace);
      if (expect.lastReason !== undefined) assert.equal(d.reasons.at(-1)?.code, expect.lastReason);
      if (expect.reasonCodes !== undefined) assert.deepEqual(d.reasons.map((r) => r.code), expect.reasonCodes);
    });
  }
});

describe('portcullis decide --explain', () => {
  const weft = join('examples', 'cases', 'weftid-enhanced-email-only-user-challenges-email-then-enrolls.json');

  test('prints the outcome, then the numbered reasons trace with sources, then every policy field with its source', async () => {
    const run = await portcullis('decide', '--input', weft, '--explain');
    assert.equal(run.status, 0);
    assert.equal(run.stderr, '');
    const lines = run.stdout.split('\n');
    assert.ok(lines.includes('outcome:         enroll'), run.stdout);
    assert.ok(lines.includes('methods:         email_otp'), run.stdout);
    assert.ok(lines.includes('enroll options:  webauthn, totp, push'), run.stdout);
    assert.ok(lines.includes('grace:           ended 2025-06-15T09:00:00Z'), run.stdout);
    assert.ok(lines.includes('error code:      MFA_FACTOR_NOT_ALLOWED'), run.stdout);
    const trace = lines.filter((l) => /^ {2}\d+\. \[/.test(l));
    assert.deepEqual(trace, [
      '  1. [factor_not_acceptable] email_otp is not acceptable under strength=enhanced — tenant "weftid" v1',
      '  2. [enrollment_required] enrollment=required and the user lacks an acceptable factor (grace ended 2025-06-15T09:00:00Z) — tenant "weftid" v1',
      '  3. [challenge_before_enroll] challenge email_otp before enrollment — user',
    ]);
    assert.ok(lines.indexOf('reasons:') < lines.indexOf('policy:'), 'reasons come before the policy');
    assert.ok(lines.some((l) => /^ {2}strength: +enhanced — tenant "weftid" v1$/.test(l)), run.stdout);
    assert.ok(lines.some((l) => /^ {2}gracePeriodDays: +14 — default$/.test(l)), run.stdout);
  });

  test('names the first-party floor as the source when it raised the policy', async () => {
    const run = await portcullis('decide', '--input', join('examples', 'cases', 'first-party-app-always-challenges.json'), '--explain');
    assert.equal(run.status, 0);
    assert.match(run.stdout, /^ {2}1\. \[first_party\] MFA required: first-party application "portal" — floor "first-party"$/m);
    assert.match(run.stdout, /^ {2}challenge: +always — floor "first-party"$/m);
  });

  test('with --json prints the decision, its summary and the resolved policy with sources as JSON', async () => {
    const run = await portcullis('decide', '--input', weft, '--explain', '--json');
    assert.equal(run.status, 0);
    const out = JSON.parse(run.stdout) as { decision: PrintedDecision; summary: string; policy: { fields: Record<string, { value: unknown; source: string }> } };
    assert.equal(out.decision.outcome, 'enroll');
    assert.equal(out.summary, 'MFA enrollment required (MFA_FACTOR_NOT_ALLOWED)');
    assert.deepEqual(out.policy.fields['strength'], { value: 'enhanced', source: 'tenant "weftid" v1' });
  });
});

describe('portcullis decide refuses bad input with exit status 2 and a field-precise message, never a stack trace', () => {
  let dir = '';
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'portcullis-cli-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  async function caseFile(name: string, content: string): Promise<string> {
    const path = join(dir, name);
    await writeFile(path, content);
    return path;
  }

  function assertRefused(run: Run, ...messages: string[]): void {
    assert.equal(run.status, 2, run.stderr);
    assert.equal(run.stdout, '');
    for (const m of messages) assert.ok(run.stderr.includes(m), `expected ${JSON.stringify(m)} in:\n${run.stderr}`);
    assert.doesNotMatch(run.stderr, /^\s+at /m, 'no stack trace');
  }

  test('an invalid policy layer and a bad instant are each named by their path', async () => {
    const good = JSON.parse(await readFile(join(CASES, 'grace-default-14-days-inside-allows.json'), 'utf8')) as Record<string, unknown>;
    const bad = {
      ...good,
      now: 'yesterday',
      layers: [{ level: 'tenant', name: 'acme', versions: [{ version: 1, effectiveAt: '2025-01-01T00:00:00Z', layer: { gracePeriodDays: 31, challenge: 'sometimes' } }] }],
      user: { id: 'u1', roles: [], factors: [{ id: 'f1', type: 'sms', status: 'active' }], firstSignInAt: '2026-02-30T00:00:00Z', graceUntil: null },
    };
    const run = await portcullis('decide', '--input', await caseFile('bad.json', JSON.stringify(bad)));
    assertRefused(
      run,
      'is not a valid case:',
      'now: "yesterday" is not an ISO-8601 instant such as 2026-03-01T12:00:00Z',
      'layers[0].versions[0].layer.gracePeriodDays: 31 is above 30',
      'layers[0].versions[0].layer.challenge: "sometimes" is not one of always, adaptive, never',
      'user.factors[0].type: "sms" is not one of webauthn, totp, push, custom, email_otp, sms_otp, recovery_codes',
      'user.firstSignInAt: "2026-02-30T00:00:00Z" is not a valid date and time',
    );
  });

  test('a missing field and an unknown field are named', async () => {
    const good = JSON.parse(await readFile(join(CASES, 'zewstid-never-allows.json'), 'utf8')) as Record<string, unknown>;
    const { lastMfaAt: _dropped, ...rest } = good;
    const run = await portcullis('decide', '--input', await caseFile('missing.json', JSON.stringify({ ...rest, application: { id: 'a', name: 'b', firstParty: false, tier: 1 } })));
    assertRefused(run, 'lastMfaAt: is missing', 'application.tier: unknown field');
  });

  test('a file that is not JSON', async () => {
    assertRefused(await portcullis('decide', '--input', await caseFile('broken.json', '{ "now": ')), 'broken.json is not valid JSON');
  });

  test('a file that does not exist', async () => {
    assertRefused(await portcullis('decide', '--input', join(dir, 'absent.json')), 'absent.json: no such file');
  });

  test('no --input, an unknown option, an unknown command', async () => {
    assertRefused(await portcullis('decide'), '--input <case.json> is required');
    assertRefused(await portcullis('decide', '--input', 'x.json', '--verbose'), "Unknown option '--verbose'");
    assertRefused(await portcullis('frobnicate'), 'unknown command "frobnicate"', 'decide');
  });
});

describe('portcullis --help', () => {
  test('lists the decide command, and decide --help shows the case format', async () => {
    const top = await portcullis('--help');
    assert.equal(top.status, 0);
    assert.match(top.stdout, /^ {2}decide +evaluate and explain one MFA decision/m);
    const sub = await portcullis('decide', '--help');
    assert.equal(sub.status, 0);
    assert.match(sub.stdout, /Usage: portcullis decide --input <case\.json> \[--explain\] \[--json\]/);
  });
});
