/**
 * Shared pieces of the application-API (headless) tests: the harness with the `/auth/*` routes mounted exactly as
 * `createRuntime` mounts them, test data created straight in the store (tenants, applications with a known client
 * secret, users, policy versions), HTTP Basic client credentials, and a small caller over `app.inject()`.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type { PolicyLayer } from '../../src/core/index.ts';
import { hashPassword } from '../../src/factors/password.ts';
import { base32Decode, totpCode, totpStep } from '../../src/factors/totp.ts';
import { clientCredentialsAuthenticator, registerAuthRoutes } from '../../src/http/routes/auth/index.ts';
import { generateToken, hashToken } from '../../src/factors/tokens.ts';
import type { ApplicationRecord, AuditRecord, TenantRecord, UserRecord } from '../../src/store/index.ts';
import { createHarness, parseBody, type Dialect, type Harness, type HarnessOptions, type RouteRegistrar } from '../support/harness.ts';

/** The application API, wired as in `src/runtime.ts` (same authenticator, same dummy hash for unknown ids). */
export const authRoutes: RouteRegistrar = async (api, deps) => {
  await registerAuthRoutes(api, deps, clientCredentialsAuthenticator());
};

/** A harness with the admin API and the application API. */
export async function createAuthHarness(dialect: Dialect, options: Pick<HarnessOptions, 'logDestination' | 'openDatabase' | 'trustProxy' | 'risk' | 'devClockHeader' | 'webauthn'> = {}): Promise<Harness> {
  return createHarness({ dialect, extraRoutes: [authRoutes], ...options });
}

/** An application with its clear client secret and the `Authorization` header that presents it. */
export interface TestClient {
  readonly application: ApplicationRecord;
  readonly clientId: string;
  readonly secret: string;
  readonly authorization: string;
}

/** RFC 6749 §2.3.1: each part form-urlencoded, joined by a colon, base64. */
export function basicAuthorization(clientId: string, secret: string): string {
  const enc = (s: string): string => encodeURIComponent(s).replace(/%20/g, '+');
  return `Basic ${Buffer.from(`${enc(clientId)}:${enc(secret)}`, 'utf8').toString('base64')}`;
}

/** Creates an application in the store with a fresh client secret (stored hashed, as the admin API does). */
export async function createClient(h: Harness, name: string, options: { firstParty?: boolean; allTenants?: boolean } = {}): Promise<TestClient> {
  const clientId = `pcc_${randomBytes(8).toString('hex')}`;
  const secret = generateToken('pcs');
  // Most suites are about something else than tenant binding: their clients serve every tenant unless told not to.
  const application = await h.store.applications.create({ name, firstParty: options.firstParty ?? false, allTenants: options.allTenants ?? true, clientId, clientSecretHash: hashToken(secret), now: h.clock.now() });
  return { application, clientId, secret, authorization: basicAuthorization(clientId, secret) };
}

/** Creates a tenant and, when given, its first tenant-level policy version. */
export async function createTenant(h: Harness, slug: string, layer?: PolicyLayer): Promise<TenantRecord> {
  const tenant = await h.store.tenants.create({ slug, name: slug[0]?.toUpperCase() + slug.slice(1), now: h.clock.now() });
  if (layer !== undefined) await savePolicy(h, tenant.id, layer);
  return tenant;
}

/** Saves a new version of the tenant-level policy, in force now; returns its version number. */
export async function savePolicy(h: Harness, tenantId: string, layer: PolicyLayer): Promise<number> {
  const now = h.clock.now();
  return h.store.forTenant(tenantId).policies.saveVersion({ level: 'tenant' }, { layer, effectiveAt: now, createdBy: 'test', now });
}

export const PASSWORD = 'correct horse battery staple';
let passwordHash: Promise<string> | undefined;

/** Creates a user whose password is {@link PASSWORD} (argon2id, hashed once per test process). */
export async function createUser(h: Harness, tenantId: string, email: string, extra: { externalId?: string; roles?: string[] } = {}): Promise<UserRecord> {
  passwordHash ??= hashPassword(PASSWORD);
  return h.store.forTenant(tenantId).users.create({ email, passwordHash: await passwordHash, now: h.clock.now(), ...extra });
}

/** An answer of the API: status, parsed JSON body (or the raw text) and the raw text. */
export interface ApiResult {
  readonly status: number;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- tests read arbitrary JSON answers
  readonly body: any;
  readonly text: string;
  readonly headers: Record<string, unknown>;
}

type Method = 'GET' | 'POST' | 'DELETE';

/** Calls `/api/v1<path>` with a client's credentials (or a raw `Authorization` value, or none) and a JSON body. */
export async function api(h: Harness, who: TestClient | string | null, method: Method, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<ApiResult> {
  const authorization = who === null ? undefined : typeof who === 'string' ? who : who.authorization;
  const res = await h.app.inject({
    method,
    url: `/api/v1${path}`,
    headers: { ...headers, ...(authorization === undefined ? {} : { authorization }), ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { payload: JSON.stringify(body) }),
  });
  return toResult(res);
}

/** Sends a raw payload with a chosen content type. */
export async function apiRaw(h: Harness, who: TestClient | null, method: Method, path: string, payload: string | Buffer, contentType: string | null): Promise<ApiResult> {
  const res = await h.app.inject({
    method,
    url: `/api/v1${path}`,
    headers: { ...(who === null ? {} : { authorization: who.authorization }), ...(contentType === null ? {} : { 'content-type': contentType }) },
    payload,
  });
  return toResult(res);
}

function toResult(res: { statusCode: number; body: string; headers: Record<string, unknown> }): ApiResult {
  return { status: res.statusCode, body: parseBody(res.body), text: res.body, headers: res.headers };
}

/** Asserts a status, showing the body when it differs. */
export function expectStatus(res: ApiResult, status: number, what = ''): void {
  assert.equal(res.status, status, `${what} expected ${status}, got ${res.status}: ${res.text.slice(0, 500)}`);
}

/** Asserts an error answer: status and stable code. */
export function expectError(res: ApiResult, status: number, code: string, what = ''): void {
  expectStatus(res, status, what);
  assert.equal(res.body?.error, code, `${what} error code: ${res.text.slice(0, 500)}`);
  assert.equal(typeof res.body?.message, 'string');
}

/** The TOTP code of a base32 secret at `now`. */
export function totpAt(secretBase32: string, now: number): string {
  const secret = base32Decode(secretBase32);
  assert.ok(secret !== null, 'the secret is valid base32');
  return totpCode(secret, totpStep(now));
}

/** A six-digit code that is not valid at `now` (±1 step) for the secret. */
export function wrongTotpAt(secretBase32: string, now: number): string {
  const secret = base32Decode(secretBase32);
  assert.ok(secret !== null);
  const step = totpStep(now);
  const valid = new Set([-1, 0, 1].map((d) => totpCode(secret, step + d)));
  for (let n = 0; ; n++) {
    const candidate = String(n).padStart(6, '0');
    if (!valid.has(candidate)) return candidate;
  }
}

/** What a user enrolled through the API holds. */
export interface Enrolled {
  readonly userId: string;
  readonly factorId: string;
  /** base32, as shown at enrollment. */
  readonly secret: string;
  readonly recoveryCodes: readonly string[];
  /** The login session token the confirmation opened, when it ended authenticated (else null). */
  readonly session: string | null;
}

/**
 * Signs in (password) a user whose policy walls them, enrolls TOTP in that MFA session and confirms it with the
 * current code. The factor's last accepted step is then the current one: advance the clock a step before the
 * next code.
 */
export async function enrollTotpViaSignin(h: Harness, client: TestClient, tenant: string, email: string, context: Record<string, string> = { ip: '192.0.2.10', deviceId: 'device-1', userAgent: 'test' }): Promise<Enrolled> {
  const signin = await api(h, client, 'POST', '/auth/signin', { tenant, identifier: email, password: PASSWORD, context });
  expectStatus(signin, 200, 'signin');
  assert.equal(signin.body.status, 'enrollment_required', signin.text);
  const begun = await api(h, client, 'POST', '/auth/mfa/enroll/totp', { mfaSessionId: signin.body.mfaSessionId });
  expectStatus(begun, 200, 'begin totp');
  const confirmed = await api(h, client, 'POST', '/auth/mfa/enroll/totp/confirm', { mfaSessionId: signin.body.mfaSessionId, factorId: begun.body.factorId, code: totpAt(begun.body.secret, h.clock.now()) });
  expectStatus(confirmed, 200, 'confirm totp');
  const session = confirmed.body.status === 'authenticated' ? (confirmed.body.session?.token as string) : null;
  return { userId: signin.body.userId, factorId: begun.body.factorId, secret: begun.body.secret, recoveryCodes: confirmed.body.recoveryCodes ?? [], session };
}

/** A password sign-in with {@link PASSWORD} that must answer 200 (whatever its status). */
export async function passwordSignin(h: Harness, client: TestClient, tenant: string, email: string, context: Record<string, string>): Promise<ApiResult> {
  const res = await api(h, client, 'POST', '/auth/signin', { tenant, identifier: email, password: PASSWORD, context });
  expectStatus(res, 200, 'signin');
  return res;
}

/** Opens `n` MFA sessions of one user through `status/check` (no password hashing, so it is cheap). */
export async function openSessions(h: Harness, client: TestClient, tenant: string, userId: string, n: number): Promise<string[]> {
  const sessions: string[] = [];
  for (let i = 0; i < n; i++) {
    const res = await api(h, client, 'POST', '/auth/mfa/status/check', { tenant, userId, context: { ip: '192.0.2.10', deviceId: 'device-1' } });
    expectStatus(res, 200, 'status/check');
    assert.equal(res.body.mfaRequired, true);
    assert.equal(typeof res.body.mfaSessionId, 'string');
    sessions.push(res.body.mfaSessionId);
  }
  return sessions;
}

/** Every audit event of a tenant, oldest first. */
export async function auditOf(h: Harness, tenantId: string): Promise<AuditRecord[]> {
  const all: AuditRecord[] = [];
  let cursor: string | null = null;
  do {
    const page = await h.store.forTenant(tenantId).audit.list({ limit: 1000, cursor });
    all.push(...page.items);
    cursor = page.nextCursor;
  } while (cursor !== null);
  return all.reverse();
}

/** Counts by event name. */
export function countEvents(events: readonly AuditRecord[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const e of events) out[e.event] = (out[e.event] ?? 0) + 1;
  return out;
}
