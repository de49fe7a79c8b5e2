/**
 * Benchmark of one sign-in decision as a server makes it: find the tenant's layers in an index of every layer
 * (`selectLayers`), resolve them (`resolvePolicy`, with floors) and decide (`decide`).
 *
 * Measured for an index holding the layers of 1 tenant and of 10,000 tenants (each with a tenant layer and a
 * tenant×application layer, plus the application's own layer); the target of issue 2 is ≤ 10,000 instructions
 * per decision, flat in the number of tenants.
 *
 *   npm run bench:decide                     decisions per second, then instructions per decision (callgrind)
 *   npx node bench/decide.ts --no-callgrind  decisions per second only
 *   npx node bench/decide.ts --inner N --tenants T
 *                                            the callgrind child: build, warm up, then exactly N decisions
 *
 * Instructions come from `valgrind --tool=callgrind <node> --predictable bench/decide.ts --inner N`: the run with
 * N = 0 builds the index and warms up exactly as the run with N > 0 does, so (total(N) − total(0)) / N is the cost
 * of one decision with start-up, index building, warm-up and JIT compilation of the warm-up subtracted.
 */
import { execFile } from 'node:child_process';
import { readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import {
  DAY_MS,
  decide,
  floorsFor,
  indexPolicyLayers,
  resolvePolicy,
  selectLayers,
  type DecisionApplication,
  type DecisionUser,
  type PolicyIndex,
  type RiskAssessment,
  type ScopedLayer,
} from '../src/core/index.ts';

const NOW = Date.parse('2026-03-01T12:00:00Z');
const APPLICATION: DecisionApplication = { id: 'app_bank', name: 'bank', firstParty: false };
const USER: DecisionUser = {
  id: 'u_alice',
  roles: ['staff'],
  factors: [
    { id: 'f1', type: 'totp', status: 'active' },
    { id: 'f2', type: 'email_otp', status: 'active' },
    { id: 'f3', type: 'recovery_codes', status: 'active', remaining: 8 },
  ],
  firstSignInAt: NOW - 90 * DAY_MS,
  graceUntil: null,
};
/** Adaptive challenge on a new device: the trace carries a risk signal and the deciding rule. */
const RISK: RiskAssessment = { status: 'ok', score: 12, signals: [{ code: 'new_device', weight: 12 }] };
const DEVICE = { trustedAt: null };
const WARM_UP = 20_000;

/** An index of every layer of `tenants` tenants; the decision is made for the one in the middle. */
function buildIndex(tenants: number): { index: PolicyIndex; tenantId: string } {
  const layers: ScopedLayer[] = [
    { scope: { level: 'application', applicationId: APPLICATION.id }, name: 'bank', versions: [{ version: 1, effectiveAt: 0, layer: { challenge: 'adaptive', allowedFactors: ['webauthn', 'totp', 'email_otp', 'recovery_codes'] } }] },
  ];
  for (let i = 0; i < tenants; i++) {
    const tenantId = `t_${i}`;
    layers.push({
      scope: { level: 'tenant', tenantId },
      name: `tenant-${i}`,
      versions: [
        { version: 1, effectiveAt: NOW - 400 * DAY_MS, layer: { enrollment: 'optional' } },
        { version: 2, effectiveAt: NOW - 200 * DAY_MS, layer: { enrollment: 'required', strength: 'enhanced', exemptRoles: ['break-glass'] } },
      ],
    });
    layers.push({
      scope: { level: 'tenant_application', tenantId, applicationId: APPLICATION.id },
      name: `tenant-${i} × bank`,
      versions: [{ version: 1, effectiveAt: NOW - 100 * DAY_MS, layer: { risk: { challengeAt: 30, blockAt: 80 }, gracePeriodDays: 7 } }],
    });
  }
  return { index: indexPolicyLayers(layers), tenantId: `t_${Math.floor(tenants / 2)}` };
}

/** One decision; returns a number derived from it so the loop cannot be optimised away. */
function decideOnce(index: PolicyIndex, tenantId: string): number {
  const layers = selectLayers(index, tenantId, APPLICATION.id);
  const policy = resolvePolicy(layers, floorsFor(APPLICATION), NOW);
  const decision = decide({ policy, application: APPLICATION, user: USER, purpose: { kind: 'signin' }, risk: RISK, device: DEVICE, lastMfaAt: null, now: NOW });
  return decision.outcome.length + decision.reasons.length;
}

function run(index: PolicyIndex, tenantId: string, n: number): number {
  let sink = 0;
  for (let i = 0; i < n; i++) sink += decideOnce(index, tenantId);
  return sink;
}

function checkDecision(index: PolicyIndex, tenantId: string): void {
  const policy = resolvePolicy(selectLayers(index, tenantId, APPLICATION.id), floorsFor(APPLICATION), NOW);
  const d = decide({ policy, application: APPLICATION, user: USER, purpose: { kind: 'signin' }, risk: RISK, device: DEVICE, lastMfaAt: null, now: NOW });
  if (d.outcome !== 'challenge' || d.methods.join() !== 'totp,recovery_codes' || d.reasons.length !== 3) {
    throw new Error(`the benchmark decision changed: ${d.outcome} [${d.methods.join()}] ${d.reasons.map((r) => r.code).join()}`);
  }
}

/** The callgrind child: the same work in every run except the last N decisions. */
function inner(n: number, tenants: number): void {
  const { index, tenantId } = buildIndex(tenants);
  checkDecision(index, tenantId);
  const sink = run(index, tenantId, WARM_UP) + run(index, tenantId, n);
  if (sink < 0) console.log(sink);
}

function throughput(tenants: number, seconds: number): number {
  const { index, tenantId } = buildIndex(tenants);
  checkDecision(index, tenantId);
  run(index, tenantId, WARM_UP);
  let done = 0;
  let sink = 0;
  const start = process.hrtime.bigint();
  const budget = BigInt(Math.round(seconds * 1e9));
  let elapsed = 0n;
  while (elapsed < budget) {
    sink += run(index, tenantId, 1000);
    done += 1000;
    elapsed = process.hrtime.bigint() - start;
  }
  if (sink < 0) console.log(sink);
  return done / (Number(elapsed) / 1e9);
}

function exec(file: string, args: readonly string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(file, [...args], { maxBuffer: 16 * 1024 * 1024 }, (error, _stdout, stderr) => {
      if (error === null) resolve();
      else reject(new Error(`${file} ${args.join(' ')} failed: ${error.message}\n${stderr.split('\n').slice(-20).join('\n')}`));
    });
  });
}

/** Total instructions (Ir) of one callgrind run of the child. */
async function instructions(n: number, tenants: number): Promise<number> {
  const out = join(tmpdir(), `portcullis-callgrind-${process.pid}-${tenants}-${n}.out`);
  const script = fileURLToPath(import.meta.url);
  await exec('valgrind', ['--tool=callgrind', `--callgrind-out-file=${out}`, process.execPath, '--predictable', script, '--inner', String(n), '--tenants', String(tenants)]);
  try {
    const text = await readFile(out, 'utf8');
    const line = /^(?:summary|totals):\s*(\d+)/m.exec(text);
    if (line?.[1] === undefined) throw new Error(`no summary: or totals: line in ${out}`);
    return Number(line[1]);
  } finally {
    await rm(out, { force: true });
  }
}

function fmt(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      inner: { type: 'string' },
      tenants: { type: 'string', default: '1' },
      n: { type: 'string', default: '50000' },
      seconds: { type: 'string', default: '2' },
      'no-callgrind': { type: 'boolean', default: false },
    },
  });
  if (values.inner !== undefined) {
    inner(Number(values.inner), Number(values.tenants));
    return;
  }

  const sizes = [1, 10_000];
  console.log(`decide benchmark (Node ${process.version}): selectLayers + resolvePolicy + decide, one sign-in`);
  console.log('\ndecisions per second');
  for (const tenants of sizes) {
    console.log(`  ${fmt(tenants).padStart(6)} tenant(s): ${fmt(throughput(tenants, Number(values.seconds))).padStart(10)} decisions/s`);
  }
  if (values['no-callgrind']) return;

  const n = Number(values.n);
  console.log(`\ninstructions per decision (callgrind, node --predictable; (total(N=${fmt(n)}) − total(N=0)) / N)`);
  const perDecision: number[] = [];
  for (const tenants of sizes) {
    const [base, full] = await Promise.all([instructions(0, tenants), instructions(n, tenants)]);
    const per = (full - base) / n;
    perDecision.push(per);
    console.log(`  ${fmt(tenants).padStart(6)} tenant(s): ${fmt(per).padStart(10)} instructions/decision   (baseline ${fmt(base)}, with N ${fmt(full)})`);
  }
  const [one, many] = perDecision as [number, number];
  console.log(`  ratio 10,000 : 1 tenants = ${(many / one).toFixed(3)}   target: ≤ 10,000 instructions/decision, flat in tenants — ${many <= 10_000 && one <= 10_000 ? 'met' : 'NOT met'}`);
}

await main();
