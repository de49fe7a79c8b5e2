/**
 * Issue #8's proofs: login sessions belong to the application that earned them, applications reach only their
 * tenants, the signed result verifies with an independent implementation (node:crypto, not our signing path) and
 * says the truth, step-up freshness is that session's for that action, and removing a factor lowers the sessions
 * that used it. Both databases.
 */
import assert from 'node:assert/strict';
import { createPublicKey, verify as verifySignature, type JsonWebKey } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { ResultSigner } from '../../src/services/signing-keys.ts';
import { forEachDialect, type Harness } from '../support/harness.ts';
import { api, createAuthHarness, createClient, createTenant, createUser, enrollTotpViaSignin, expectError, expectStatus, PASSWORD, totpAt, type TestClient } from './auth-support.ts';

const REQUIRED = { enrollment: 'required', gracePeriodDays: 0, challenge: 'always' } as const;

/** Verifies an ES256 JWT against a JWKS with node:crypto alone, and returns its payload. */
function verifyJwt(jwt: string, keys: readonly JsonWebKey[]): Record<string, unknown> {
  const [h, p, sig] = jwt.split('.');
  assert.ok(h !== undefined && p !== undefined && sig !== undefined, 'three parts');
  const header = JSON.parse(Buffer.from(h, 'base64url').toString('utf8')) as { alg: string; kid: string };
  assert.equal(header.alg, 'ES256');
  const jwk = keys.find((k) => (k as { kid?: string }).kid === header.kid);
  assert.ok(jwk !== undefined, 'the kid is published');
  const ok = verifySignature('sha256', Buffer.from(`${h}.${p}`), { key: createPublicKey({ key: jwk, format: 'jwk' }), dsaEncoding: 'ieee-p1363' }, Buffer.from(sig, 'base64url'));
  assert.ok(ok, 'the signature verifies');
  return JSON.parse(Buffer.from(p, 'base64url').toString('utf8')) as Record<string, unknown>;
}

forEachDialect((dialect) => {
  let h: Harness;
  let a: TestClient;
  let b: TestClient;
  let tenantId: string;
  let keys: JsonWebKey[];

  before(async () => {
    h = await createAuthHarness(dialect);
    const tenant = await createTenant(h, 'sessions', REQUIRED);
    tenantId = tenant.id;
    a = await createClient(h, 'App A', { allTenants: false });
    b = await createClient(h, 'App B', { allTenants: false });
    await h.store.applications.assignTenant(a.application.id, tenantId, h.clock.now());
    await h.store.applications.assignTenant(b.application.id, tenantId, h.clock.now());
    keys = (await (h.deps.results as ResultSigner).jwks(h.clock.now())).keys as unknown as JsonWebKey[];
  });
  after(() => h.close());

  /** Enrolls a user at A and signs in again with password + TOTP: the authenticated answer. */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- tests read arbitrary JSON answers
  async function signedInAtA(email: string): Promise<{ body: Record<string, any>; secret: string; factorId: string; userId: string }> {
    await createUser(h, tenantId, email);
    const enrolled = await enrollTotpViaSignin(h, a, 'sessions', email);
    h.clock.advance(31_000);
    const signin = await api(h, a, 'POST', '/auth/signin', { tenant: 'sessions', identifier: email, password: PASSWORD, context: { ip: '192.0.2.1', deviceId: 'd1' } });
    assert.equal(signin.body.status, 'mfa_required', signin.text);
    const verified = await api(h, a, 'POST', '/auth/mfa/verify', { mfaSessionId: signin.body.mfaSessionId, method: 'totp', code: totpAt(enrolled.secret, h.clock.now()) });
    expectStatus(verified, 200, 'verify');
    assert.equal(verified.body.status, 'authenticated', verified.text);
    return { body: verified.body, secret: enrolled.secret, factorId: enrolled.factorId, userId: enrolled.userId };
  }

  describe(`login sessions and signed results (${dialect})`, () => {
    it('the signed result verifies with node:crypto against the key set and its claims are truthful', async () => {
      const { body, userId } = await signedInAtA('truth@example.com');
      assert.deepEqual(body.amr, ['pwd', 'otp', 'mfa']);
      assert.equal(body.acr, 'urn:portcullis:acr:mfa');
      const claims = verifyJwt(body.result, keys);
      assert.equal(claims.sub, userId);
      assert.equal(claims.aud, a.clientId);
      assert.equal(claims.tenant, tenantId);
      assert.equal(claims.sid, body.session.id);
      assert.deepEqual(claims.amr, ['pwd', 'otp', 'mfa']);
      assert.equal(claims.acr, 'urn:portcullis:acr:mfa');
      assert.ok((claims.exp as number) - (claims.iat as number) <= 300, 'exp ≤ 5 min');
      const live = await api(h, a, 'POST', '/auth/sessions/introspect', { token: body.session.token });
      assert.equal(live.body.active, true);
      assert.equal(live.body.sid, body.session.id);
    });

    it("application B can neither use, read, step up nor act on application A's session", async () => {
      const { body, factorId } = await signedInAtA('bound@example.com');
      const header = { 'x-portcullis-session': body.session.token as string };
      expectError(await api(h, b, 'POST', '/auth/mfa/step-up', { action: 'payment' }, header), 404, 'SESSION_NOT_FOUND');
      expectError(await api(h, b, 'POST', '/auth/mfa/recovery-codes', undefined, header), 404, 'SESSION_NOT_FOUND');
      expectError(await api(h, b, 'DELETE', `/auth/mfa/factors/${factorId}`, undefined, header), 404, 'SESSION_NOT_FOUND');
      expectError(await api(h, b, 'POST', '/auth/mfa/enrollment', {}, header), 404, 'SESSION_NOT_FOUND');
      expectError(await api(h, b, 'GET', '/auth/sessions', undefined, header), 404, 'SESSION_NOT_FOUND');
      assert.equal((await api(h, b, 'POST', '/auth/sessions/introspect', { token: body.session.token })).body.active, false);
      assert.equal((await api(h, b, 'POST', '/auth/sessions/introspect', { sid: body.session.id, tenant: tenantId })).body.active, false);
      // At A the same session is fresh: the step-up is not needed.
      const own = await api(h, a, 'POST', '/auth/mfa/step-up', { action: 'payment' }, header);
      expectStatus(own, 200);
      assert.equal(own.body.stepUpRequired, false, own.text);
    });

    it('an application reaches no tenant it is not assigned to, exactly like a tenant that does not exist', async () => {
      const other = await createTenant(h, 'elsewhere', REQUIRED);
      const user = await createUser(h, other.id, 'far@example.com');
      const unknown = await api(h, a, 'POST', '/auth/signin', { tenant: 'no-such-tenant', identifier: 'far@example.com', password: PASSWORD });
      const unassigned = await api(h, a, 'POST', '/auth/signin', { tenant: 'elsewhere', identifier: 'far@example.com', password: PASSWORD });
      expectError(unassigned, 401, 'INVALID_CREDENTIALS');
      assert.deepEqual(unassigned.body, unknown.body);
      expectError(await api(h, a, 'POST', '/auth/mfa/status/check', { tenant: 'elsewhere', userId: user.id }), 404, 'NOT_FOUND');
      expectError(await api(h, a, 'GET', `/auth/factors?tenant=elsewhere&userId=${user.id}`), 404, 'NOT_FOUND');
    });

    it('a step-up grant is bound to its action and session; six minutes after the MFA a step-up is required', async () => {
      const { body, secret } = await signedInAtA('stepup@example.com');
      let header = { 'x-portcullis-session': body.session.token as string };
      h.clock.advance(6 * 60_000);
      const needed = await api(h, a, 'POST', '/auth/mfa/step-up', { action: 'payment' }, header);
      expectStatus(needed, 200);
      assert.equal(needed.body.status, 'step_up_required', needed.text);
      const done = await api(h, a, 'POST', '/auth/mfa/verify', { mfaSessionId: needed.body.mfaSessionId, method: 'totp', code: totpAt(secret, h.clock.now()) });
      assert.equal(done.body.status, 'authenticated', done.text);
      assert.ok(done.body.session.token !== body.session.token, 'the session token is rotated');
      expectError(await api(h, a, 'POST', '/auth/mfa/step-up', { action: 'payment' }, header), 404, 'SESSION_NOT_FOUND');
      header = { 'x-portcullis-session': done.body.session.token as string };
      assert.equal((await api(h, a, 'POST', '/auth/mfa/step-up', { action: 'payment' }, header)).body.stepUpRequired, false);
      // The grant for "payment" does not cover "delete-account".
      assert.equal((await api(h, a, 'POST', '/auth/mfa/step-up', { action: 'delete-account' }, header)).body.stepUpRequired, true);
    });

    it('removing a factor lowers every session that used it, and revocation ends introspection', async () => {
      const { body, factorId, userId } = await signedInAtA('lower@example.com');
      // A second factor so that the policy lets the TOTP go: recovery codes do not count, so make enrollment optional for this user.
      await h.store.forTenant(tenantId).policies.saveVersion({ level: 'user', userId }, { layer: { enrollment: 'optional' }, effectiveAt: h.clock.now(), createdBy: 'test', now: h.clock.now() });
      const header = { 'x-portcullis-session': body.session.token as string };
      expectStatus(await api(h, a, 'DELETE', `/auth/mfa/factors/${factorId}`, undefined, header), 200, 'remove');
      const after = await api(h, a, 'POST', '/auth/sessions/introspect', { token: body.session.token });
      assert.equal(after.body.active, true);
      assert.deepEqual(after.body.amr, ['pwd']);
      assert.equal(after.body.acr, 'urn:portcullis:acr:pwd');
      const revoked = await api(h, a, 'DELETE', `/auth/sessions/${body.session.id}`, undefined, header);
      expectStatus(revoked, 200);
      assert.equal((await api(h, a, 'POST', '/auth/sessions/introspect', { token: body.session.token })).body.active, false);
    });
  });
});
