/**
 * `POST /auth/signin` does the same argon2id work whether the tenant or the user exists or not (timing tells no
 * account apart), measured through the real route: the process CPU time of one sign-in (argon2 runs on libuv's
 * threads, which `process.cpuUsage` counts, so other processes' load does not blur it). Unknown tenant, unknown
 * user and a user without a password each cost about what a known user's wrong password costs — one argon2id
 * verification — while a sign-in that runs no verification (a password too short to be one) costs a small fraction,
 * which shows the measure tells work from none. src/factors/password.argon2id-owasp-and-dummy.test.ts shows the
 * verification goes to the dummy hash.
 */
import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import type { Harness } from '../support/harness.ts';
import { api, createAuthHarness, createClient, createTenant, createUser, PASSWORD, type TestClient } from './auth-support.ts';

let h: Harness;
let client: TestClient;

before(async () => {
  h = await createAuthHarness('sqlite');
  client = await createClient(h, 'bank');
  const tenant = await createTenant(h, 'timing', { enrollment: 'optional', challenge: 'never' });
  await createUser(h, tenant.id, 'known@example.com');
  await h.store.forTenant(tenant.id).users.create({ email: 'nopassword@example.com', passwordHash: null, now: h.clock.now() });
});
after(() => h.close());

/** The median CPU milliseconds of a sign-in, over 7 (after one warm-up); each must answer 401 INVALID_CREDENTIALS. */
async function cpuOfSignin(tenant: string, identifier: string, password: string): Promise<number> {
  const samples: number[] = [];
  for (let i = 0; i < 8; i++) {
    const start = process.cpuUsage();
    const res = await api(h, client, 'POST', '/auth/signin', { tenant, identifier, password });
    const used = process.cpuUsage(start);
    assert.equal(res.body?.error, 'INVALID_CREDENTIALS', `${tenant}/${identifier}: ${res.text}`);
    if (i > 0) samples.push((used.user + used.system) / 1000);
  }
  return samples.sort((a, b) => a - b)[3] ?? 0;
}

it('unknown tenant, unknown user and a user without a password cost one argon2id verification, like a wrong password', async () => {
  const wrongPassword = await cpuOfSignin('timing', 'known@example.com', 'wrong password!');
  const none = await cpuOfSignin('timing', 'known@example.com', 'short');
  const cases = {
    'unknown tenant': await cpuOfSignin('no-such-tenant', 'known@example.com', 'wrong password!'),
    'unknown user': await cpuOfSignin('timing', 'nobody@example.com', 'wrong password!'),
    'user without a password': await cpuOfSignin('timing', 'nopassword@example.com', PASSWORD),
  };
  const shown = `wrong password ${wrongPassword.toFixed(1)} ms, no verification ${none.toFixed(1)} ms, ${Object.entries(cases).map(([k, v]) => `${k} ${v.toFixed(1)} ms`).join(', ')}`;
  assert.ok(none < wrongPassword / 4, `the measure tells one verification from none: ${shown}`);
  for (const [what, ms] of Object.entries(cases)) assert.ok(ms > wrongPassword / 2 && ms < wrongPassword * 2, `${what}: ${shown}`);
});
