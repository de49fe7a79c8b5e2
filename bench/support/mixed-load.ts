/**
 * Mixed sign-in traffic against several nodes of one database, with the answers checked as they come and the
 * audit log checked against them at the end (SECURITY: "a bounded load run on loopback … on 2+ nodes → zero 5xx,
 * zero false accepts, zero lost audit events"). Used by the test suite (a short run) and `bench/soak.ts`.
 *
 * The tenant's policy challenges always, so nothing may answer `authenticated` before a code. Each round, for one
 * user, on nodes taken in turn: `status/check` (→ `mfa_required`), a wrong TOTP code (→ 400 `MFA_CODE_INVALID`),
 * the right one (→ 200 `authenticated`, `verified: true`); every `passwordEvery`-th round also a wrong password (→ 401
 * `INVALID_CREDENTIALS`) and the right one (→ `mfa_required`). A user is used at most once per TOTP step (replay
 * refusal is not what is measured here), so a worker may wait for the next step when all are used.
 */
import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import { hashPassword } from '../../src/factors/password.ts';
import { totpCode, totpStep } from '../../src/factors/totp.ts';
import type { BenchCluster, SeededTenant, TotpUser } from './bench-server.ts';
import { seedTenant, seedTotpUsers } from './bench-server.ts';

export const MIXED_PASSWORD = 'correct horse battery staple';

export interface MixedLoadOptions {
  readonly seconds: number;
  /** Requests in flight at once (one worker each). */
  readonly concurrency: number;
  /** Every n-th round adds a wrong and a right password sign-in (argon2id: costly). */
  readonly passwordEvery: number;
}

/** What a run saw: answers by kind, and every breach of the expectations. */
export interface MixedLoadReport {
  readonly seconds: number;
  readonly requests: number;
  readonly counts: Readonly<Record<string, number>>;
  readonly serverErrors: number;
  readonly falseAccepts: readonly string[];
  readonly unexpected: readonly string[];
  /** Audit events expected from the answers vs found in the database, for each event that differs. */
  readonly auditMismatches: readonly string[];
  readonly audit: Readonly<Record<string, number>>;
}

/** Seeds a challenge-always tenant with `users` TOTP users (one password hash shared) on the cluster's database. */
export async function seedMixed(cluster: BenchCluster, users: number): Promise<{ seeded: SeededTenant; users: TotpUser[] }> {
  const runtime = cluster.nodes[0]?.runtime;
  if (runtime === undefined) throw new Error('the cluster has no node');
  const seeded = await seedTenant(runtime, `mixed-${randomUUID().slice(0, 8)}`, { enrollment: 'required', gracePeriodDays: 0, challenge: 'always' });
  const passwordHash = await hashPassword(MIXED_PASSWORD);
  return { seeded, users: await seedTotpUsers(runtime, seeded.tenantId, users, 'mixed', passwordHash) };
}

interface Answer {
  readonly status: number;
  readonly body: Record<string, unknown>;
}

export async function runMixedLoad(cluster: BenchCluster, seeded: SeededTenant, users: readonly TotpUser[], options: MixedLoadOptions): Promise<MixedLoadReport> {
  const counts: Record<string, number> = {};
  const falseAccepts: string[] = [];
  const unexpected: string[] = [];
  let serverErrors = 0;
  let requests = 0;
  let nodeTurn = 0;
  const lastStep = new Int32Array(users.length).fill(-1);
  let nextUser = 0;
  let round = 0;
  const count = (key: string): void => {
    counts[key] = (counts[key] ?? 0) + 1;
  };

  async function post(path: string, body: unknown): Promise<Answer> {
    const node = cluster.nodes[nodeTurn++ % cluster.nodes.length];
    if (node === undefined) throw new Error('the cluster has no node');
    requests++;
    const res = await fetch(`${node.url}/api/v1${path}`, { method: 'POST', headers: { authorization: seeded.authorization, 'content-type': 'application/json' }, body: JSON.stringify(body) });
    const text = await res.text();
    let parsed: Record<string, unknown>;
    try {
      parsed = JSON.parse(text) as Record<string, unknown>;
    } catch {
      parsed = { text };
    }
    if (res.status >= 500) {
      serverErrors++;
      unexpected.push(`${path}: ${res.status} ${text.slice(0, 200)}`);
    }
    return { status: res.status, body: parsed };
  }

  /** The next user not yet used in the current TOTP step (waits for the next step when there is none). */
  async function pickUser(): Promise<number> {
    for (;;) {
      const step = totpStep(Date.now());
      for (let tried = 0; tried < users.length; tried++) {
        const i = nextUser++ % users.length;
        if (lastStep[i] !== step) {
          lastStep[i] = step;
          return i;
        }
      }
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }

  const context = (i: number) => ({ ip: `198.51.${(i >> 8) & 255}.${i & 255}`, userAgent: 'portcullis-mixed-load', deviceId: `mixed-device-${i}` });
  const deadline = Date.now() + options.seconds * 1000;
  const started = performance.now();

  async function worker(): Promise<void> {
    while (Date.now() < deadline) {
      const i = await pickUser();
      const user = users[i] as TotpUser;
      const r = round++;
      const check = await post('/auth/mfa/status/check', { tenant: seeded.slug, userId: user.userId, context: context(i) });
      if (check.status === 200 && check.body['mfaRequired'] === true && typeof check.body['mfaSessionId'] === 'string') count('status/check mfa_required');
      else if (check.status === 200) falseAccepts.push(`status/check without a challenge: ${JSON.stringify(check.body).slice(0, 200)}`);
      else unexpected.push(`status/check: ${check.status} ${JSON.stringify(check.body).slice(0, 200)}`);
      const session = check.body['mfaSessionId'];
      if (typeof session === 'string') {
        const step = totpStep(Date.now());
        // A wrong code: none of the codes the server accepts now (the current step ± 1).
        const accepted = new Set([step - 1, step, step + 1].map((s) => totpCode(user.secret, s)));
        let guess = (Number(totpCode(user.secret, step)) + 500_000) % 1_000_000;
        while (accepted.has(String(guess).padStart(6, '0'))) guess = (guess + 1) % 1_000_000;
        const wrong = String(guess).padStart(6, '0');
        const bad = await post('/auth/mfa/verify', { mfaSessionId: session, method: 'totp', code: wrong });
        if (bad.status === 400 && bad.body['error'] === 'MFA_CODE_INVALID') count('verify wrong → 400');
        else if (bad.status === 200 || bad.body['verified'] === true || bad.body['status'] === 'authenticated') falseAccepts.push(`wrong code accepted: ${JSON.stringify(bad.body).slice(0, 200)}`);
        else unexpected.push(`verify wrong: ${bad.status} ${JSON.stringify(bad.body).slice(0, 200)}`);
        const good = await post('/auth/mfa/verify', { mfaSessionId: session, method: 'totp', code: totpCode(user.secret, totpStep(Date.now())) });
        if (good.status === 200 && good.body['status'] === 'authenticated' && good.body['verified'] === true && good.body['userId'] === user.userId) count('verify right → verified');
        else unexpected.push(`verify right: ${good.status} ${JSON.stringify(good.body).slice(0, 200)}`);
      }
      if (options.passwordEvery > 0 && r % options.passwordEvery === 0) {
        const email = `mixed-${i}@bench.example`;
        const bad = await post('/auth/signin', { tenant: seeded.slug, identifier: email, password: 'not the password', context: context(i) });
        if (bad.status === 401 && bad.body['error'] === 'INVALID_CREDENTIALS') count('signin wrong → 401');
        else if (bad.status === 200) falseAccepts.push(`wrong password accepted: ${JSON.stringify(bad.body).slice(0, 200)}`);
        else unexpected.push(`signin wrong: ${bad.status} ${JSON.stringify(bad.body).slice(0, 200)}`);
        const good = await post('/auth/signin', { tenant: seeded.slug, identifier: email, password: MIXED_PASSWORD, context: context(i) });
        if (good.status === 200 && good.body['status'] === 'mfa_required') count('signin right → mfa_required');
        else if (good.status === 200) falseAccepts.push(`password alone passed a challenge-always policy: ${JSON.stringify(good.body).slice(0, 200)}`);
        else unexpected.push(`signin right: ${good.status} ${JSON.stringify(good.body).slice(0, 200)}`);
      }
    }
  }
  await Promise.all(Array.from({ length: options.concurrency }, () => worker()));
  const seconds = (performance.now() - started) / 1000;

  // Every answer above implies its audit events, written in the same transaction as the change it reports.
  const n = (key: string): number => counts[key] ?? 0;
  const expected: Record<string, number> = {
    'mfa.decision': n('status/check mfa_required') + n('verify right → verified') + n('signin right → mfa_required'),
    'user.mfa_failed': n('verify wrong → 400'),
    'user.mfa_succeeded': n('verify right → verified'),
    'user.signin_succeeded': n('verify right → verified'),
    'user.signin_failed': n('signin wrong → 401'),
  };
  const db = cluster.nodes[0]?.runtime.database.db;
  if (db === undefined) throw new Error('the cluster has no node');
  const rows = await sql<{ event: string; n: number | string }>`select event, count(*) as n from audit_events where tenant_id = ${seeded.tenantId} group by event`.execute(db);
  const audit: Record<string, number> = {};
  for (const row of rows.rows) audit[row.event] = Number(row.n);
  const auditMismatches = Object.entries(expected)
    .filter(([event, want]) => (audit[event] ?? 0) !== want)
    .map(([event, want]) => `${event}: ${want} expected from the answers, ${audit[event] ?? 0} in the audit log`);
  return { seconds, requests, counts, serverErrors, falseAccepts, unexpected, auditMismatches, audit };
}
