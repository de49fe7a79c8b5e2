/**
 * The statement budget of the hot requests (issue 13), on SQLite and PostgreSQL: a password sign-in answered
 * `mfa_required`, the `verify` that answers it with a TOTP code (`authenticated`), and a `status/check` answered
 * `mfa_required` each run at most their budget of SQL statements and of commits. The statements are counted at the
 * drivers (src/testing/statement-log.ts: better-sqlite3's statements, pg's client queries) — what reaches the
 * database, transaction control (BEGIN/COMMIT/SAVEPOINT/RELEASE) left out of the statement count; a commit is an
 * explicit COMMIT or a write run outside a transaction. Requests are measured one at a time after a warm round
 * (the catalog cache filled), so SQLite's group commit merges nothing here.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startStatementLog, type StatementTally } from '../../src/testing/statement-log.ts';
import { forEachDialect, type Harness } from '../support/harness.ts';
import { challengeOfOptions, SoftCredential } from '../support/soft-authenticator.ts';
import { api, createAuthHarness, createClient, createTenant, createUser, enrollTotpViaSignin, expectStatus, PASSWORD, totpAt, type ApiResult, type TestClient } from './auth-support.ts';

/**
 * Statements and commits per request, per dialect. Before issue 13's work on them: sign-in 13 statements and 5
 * commits on both; verify 23 and 4 on both; status/check 9 and 1.
 */
const BUDGET = {
  signin: { statements: { sqlite: 12, postgres: 12 }, commits: { sqlite: 2, postgres: 3 } },
  verify: { statements: { sqlite: 18, postgres: 16 }, commits: { sqlite: 2, postgres: 2 } },
  check: { statements: { sqlite: 8, postgres: 8 }, commits: { sqlite: 1, postgres: 1 } },
  // Passkeys (issue 15): the options (a challenge written) and the verify (the TOTP verify's work, plus the
  // challenge read and spent in the outcome's transaction).
  passkeyOptions: { statements: { sqlite: 5, postgres: 5 }, commits: { sqlite: 1, postgres: 1 } },
  passkeyVerify: { statements: { sqlite: 19, postgres: 17 }, commits: { sqlite: 2, postgres: 2 } },
} as const;

const CONTEXT = { ip: '192.0.2.10', deviceId: 'laptop-1', userAgent: 'budget' };

async function counted(run: () => Promise<ApiResult>): Promise<{ res: ApiResult; tally: StatementTally }> {
  const log = startStatementLog();
  try {
    const res = await run();
    return { res, tally: log.stop() };
  } finally {
    log.stop();
  }
}

function describeTally(tally: StatementTally): string {
  return `${tally.statements.length} statements, ${tally.commits} commits:\n${tally.statements.map((s) => `  ${s.inTransaction ? 'tx' : '  '} ${s.sql.replace(/\s+/g, ' ').slice(0, 140)}`).join('\n')}`;
}

forEachDialect((dialect) => {
  let h: Harness;
  let client: TestClient;
  let secret: string;
  let userId: string;

  before(async () => {
    h = await createAuthHarness(dialect);
    client = await createClient(h, 'budget');
    const tenant = await createTenant(h, 'budget', { enrollment: 'required', gracePeriodDays: 0, challenge: 'always' });
    const user = await createUser(h, tenant.id, 'ada@example.com');
    userId = user.id;
    secret = (await enrollTotpViaSignin(h, client, 'budget', 'ada@example.com', CONTEXT)).secret;
  });
  after(() => h.close());

  /** One sign-in → verify → status/check round, each counted. */
  async function round(): Promise<{ signin: StatementTally; verify: StatementTally; check: StatementTally }> {
    h.clock.advance(30_000); // a fresh TOTP step: the last accepted one is spent
    const signin = await counted(() => api(h, client, 'POST', '/auth/signin', { tenant: 'budget', identifier: 'ada@example.com', password: PASSWORD, context: CONTEXT }));
    expectStatus(signin.res, 200, 'signin');
    assert.equal(signin.res.body.status, 'mfa_required', signin.res.text);
    const verify = await counted(() => api(h, client, 'POST', '/auth/mfa/verify', { mfaSessionId: signin.res.body.mfaSessionId, method: 'totp', code: totpAt(secret, h.clock.now()) }));
    expectStatus(verify.res, 200, 'verify');
    assert.equal(verify.res.body.status, 'authenticated', verify.res.text);
    const check = await counted(() => api(h, client, 'POST', '/auth/mfa/status/check', { tenant: 'budget', userId, context: CONTEXT }));
    expectStatus(check.res, 200, 'status/check');
    assert.equal(check.res.body.status, 'mfa_required', check.res.text);
    return { signin: signin.tally, verify: verify.tally, check: check.tally };
  }

  describe('statement budget per request', () => {
    it('sign-in, verify and status/check each stay within their statements and commits', async () => {
      await round(); // warm: the catalog cache, the signing key
      const measured = await round();
      for (const name of ['signin', 'verify', 'check'] as const) within(name, measured[name]);
    });

    it('a passkey challenge (options) and its verify stay within theirs', async () => {
      // A passkey for Ada (voluntary enrollment on a fresh session), then password → passkey challenge → verify.
      h.clock.advance(30_000);
      const signin = await api(h, client, 'POST', '/auth/signin', { tenant: 'budget', identifier: 'ada@example.com', password: PASSWORD, context: CONTEXT });
      const session = (await api(h, client, 'POST', '/auth/mfa/verify', { mfaSessionId: signin.body.mfaSessionId, method: 'totp', code: totpAt(secret, h.clock.now()) })).body.session.token as string;
      const opened = await api(h, client, 'POST', '/auth/mfa/enrollment', {}, { 'x-portcullis-session': session });
      const begun = await api(h, client, 'POST', '/auth/mfa/enroll/webauthn', { mfaSessionId: opened.body.mfaSessionId });
      const passkey = new SoftCredential({ seed: `budget-${dialect}`, rpId: 'localhost', origin: 'http://localhost', userHandle: userId });
      expectStatus(await api(h, client, 'POST', '/auth/mfa/enroll/webauthn/confirm', { mfaSessionId: opened.body.mfaSessionId, credential: passkey.register(challengeOfOptions(begun.body)) }), 200, 'register');
      const passkeyRound = async (): Promise<{ options: StatementTally; verify: StatementTally }> => {
        const challenged = await api(h, client, 'POST', '/auth/signin', { tenant: 'budget', identifier: 'ada@example.com', password: PASSWORD, context: CONTEXT });
        assert.equal(challenged.body.methods[0], 'webauthn', challenged.text);
        const options = await counted(() => api(h, client, 'POST', '/auth/mfa/challenge', { mfaSessionId: challenged.body.mfaSessionId, method: 'webauthn' }));
        expectStatus(options.res, 200, 'options');
        const verified = await counted(() => api(h, client, 'POST', '/auth/mfa/verify', { mfaSessionId: challenged.body.mfaSessionId, method: 'webauthn', code: passkey.assert(challengeOfOptions(options.res.body)) }));
        expectStatus(verified.res, 200, 'passkey verify');
        assert.equal(verified.res.body.status, 'authenticated', verified.res.text);
        return { options: options.tally, verify: verified.tally };
      };
      await passkeyRound(); // warm
      const measured = await passkeyRound();
      within('passkeyOptions', measured.options);
      within('passkeyVerify', measured.verify);
    });

    function within(name: keyof typeof BUDGET, tally: StatementTally): void {
      {
        const budget = BUDGET[name];
        if (process.env.PORTCULLIS_PRINT_BUDGET === '1') console.log(`${name} on ${dialect}: ${describeTally(tally)}`);
        assert.ok(tally.statements.length <= budget.statements[dialect], `${name} on ${dialect}: ${describeTally(tally)}\nbudget ${budget.statements[dialect]} statements`);
        assert.ok(tally.commits <= budget.commits[dialect], `${name} on ${dialect}: ${describeTally(tally)}\nbudget ${budget.commits[dialect]} commits`);
        assert.ok(tally.commits >= 1, `${name} on ${dialect} commits its outcome`);
      }
    }
  });
});
