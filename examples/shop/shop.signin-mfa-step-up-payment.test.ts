/**
 * Acme Shop end to end, on real sockets: a listening Portcullis (the composition root of `portcullis start`, a temp
 * SQLite file or a fresh PostgreSQL schema, a settable clock) and the shop listening beside it. The test sets up
 * tenant, application and user through the admin API over HTTP, then drives the shop as a browser does (forms,
 * a cookie jar, redirects): password → enrollment → TOTP confirmation → signed-in page → a payment that needs a
 * step-up → a wrong code refused → the right code → payment made → sign-out. Each step checks the page and what
 * Portcullis recorded. A tampered signed result and results the shop must not trust are refused. TOTP codes come
 * from an RFC 6238 implementation written here with node:crypto, not the product's.
 */
import assert from 'node:assert/strict';
import { createHmac, generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, it } from 'node:test';
import { SignJWT } from 'jose';
import type { FastifyInstance } from 'fastify';
import { loadConfig } from '../../src/config.ts';
import { createLogger } from '../../src/http/logger.ts';
import { bootstrapFirstAdmin, createRuntime } from '../../src/runtime.ts';
import { startServer, type RunningServer } from '../../src/server.ts';
import { forEachDialect } from '../../test/support/harness.ts';
import { createFreshSchema, dropSchema, postgresTestUrl } from '../../test/support/postgres.ts';
import { buildShop, SESSION_COOKIE } from './app.ts';
import { createResultVerifier, ResultRefused } from './verify-result.ts';
import { freePort } from '../../test/support/server-process.ts';

// ---- RFC 6238 (TOTP) over RFC 4226 (HOTP), independent of src/factors ----
function base32Decode(text: string): Buffer {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = 0;
  let value = 0;
  const out: number[] = [];
  for (const char of text.replace(/=+$/, '').toUpperCase()) {
    const index = alphabet.indexOf(char);
    if (index < 0) throw new Error(`not base32: ${char}`);
    value = (value << 5) | index;
    bits += 5;
    if (bits >= 8) {
      out.push((value >>> (bits - 8)) & 0xff);
      bits -= 8;
    }
  }
  return Buffer.from(out);
}

function totp(secret: string, atMs: number, digits = 6, periodSeconds = 30): string {
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(atMs / 1000 / periodSeconds)));
  const mac = createHmac('sha1', base32Decode(secret)).update(counter).digest();
  const offset = (mac[mac.length - 1] ?? 0) & 0x0f; // RFC 4226 §5.3 dynamic truncation
  const binary = mac.readUInt32BE(offset) & 0x7fffffff;
  return String(binary % 10 ** digits).padStart(digits, '0');
}

it('the RFC 6238 implementation of this test reproduces the RFC\'s SHA-1 vectors', () => {
  const secret = Buffer.from('12345678901234567890').toString('hex');
  const b32 = (hex: string): string => {
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
    let bits = '';
    for (const byte of Buffer.from(hex, 'hex')) bits += byte.toString(2).padStart(8, '0');
    return (bits.match(/.{1,5}/g) ?? []).map((chunk) => alphabet[parseInt(chunk.padEnd(5, '0'), 2)]).join('');
  };
  // RFC 6238 Appendix B, 8 digits.
  assert.equal(totp(b32(secret), 59_000, 8), '94287082');
  assert.equal(totp(b32(secret), 1_111_111_109_000, 8), '07081804');
  assert.equal(totp(b32(secret), 20_000_000_000_000, 8), '65353130');
});

// ---- a browser: cookies, forms, redirects ----
class Browser {
  readonly jar = new Map<string, string>();
  readonly setCookies: string[] = [];
  private readonly base: string;
  constructor(base: string) {
    this.base = base;
  }

  private remember(res: Response): void {
    for (const line of res.headers.getSetCookie()) {
      this.setCookies.push(line);
      const [pair] = line.split(';');
      const at = (pair ?? '').indexOf('=');
      const name = (pair ?? '').slice(0, at);
      const value = (pair ?? '').slice(at + 1);
      if (/max-age=0/i.test(line)) this.jar.delete(name);
      else this.jar.set(name, value);
    }
  }

  private headers(): Record<string, string> {
    return { cookie: [...this.jar].map(([k, v]) => `${k}=${v}`).join('; '), 'user-agent': 'ShopTestBrowser/1.0' };
  }

  /** Follows 303s with GET, as a browser does after a form. */
  async request(method: 'GET' | 'POST', path: string, fields?: Record<string, string>): Promise<{ status: number; url: string; html: string }> {
    let res = await fetch(`${this.base}${path}`, {
      method,
      redirect: 'manual',
      headers: { ...this.headers(), ...(fields === undefined ? {} : { 'content-type': 'application/x-www-form-urlencoded' }) },
      ...(fields === undefined ? {} : { body: new URLSearchParams(fields).toString() }),
    });
    let url = path;
    this.remember(res);
    while (res.status === 303 || res.status === 302) {
      url = res.headers.get('location') ?? '/';
      await res.arrayBuffer();
      res = await fetch(`${this.base}${url}`, { redirect: 'manual', headers: this.headers() });
      this.remember(res);
    }
    return { status: res.status, url, html: await res.text() };
  }

  get(path: string): Promise<{ status: number; url: string; html: string }> {
    return this.request('GET', path);
  }

  /** Submits a form of the current page: the CSRF token is read from the page, as the browser sends it. */
  submit(pageHtml: string, action: string, fields: Record<string, string>): Promise<{ status: number; url: string; html: string }> {
    const csrf = /name="csrf" value="([^"]+)"/.exec(pageHtml)?.[1];
    assert.ok(csrf !== undefined, 'the page has a form with a CSRF token');
    return this.request('POST', action, { ...fields, csrf });
  }
}

function decodeEntities(text: string): string {
  return text.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&amp;/g, '&');
}

function byId(pageHtml: string, id: string): string | null {
  const match = new RegExp(`id="${id}"[^>]*>([^<]*)<`).exec(pageHtml);
  return match?.[1] === undefined ? null : decodeEntities(match[1]);
}

const PASSWORD = 'correct horse battery staple';
const EMAIL = 'ada@example.com';

forEachDialect((dialect) => {
  let clock = Math.floor(Date.now() / 1000) * 1000;
  const now = (): number => clock;
  let portcullis: RunningServer;
  let shop: FastifyInstance;
  let tamperingShop: FastifyInstance;
  let shopUrl: string;
  let tamperingUrl: string;
  let admin: string;
  let tenantId: string;
  let clientId: string;
  let clientSecret: string;
  let schema: string | undefined;
  let secret = '';
  let userId = '';
  const dir = mkdtempSync(join(tmpdir(), 'acme-shop-'));

  const api = async (method: string, path: string, body?: unknown): Promise<{ status: number; body: Record<string, unknown> }> => {
    const res = await fetch(`${portcullis.url}/api/v1${path}`, {
      method,
      headers: { authorization: `Bearer ${admin}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };
  const audit = async (event: string, userId: string): Promise<Record<string, unknown>[]> => {
    const res = await api('GET', `/tenants/${tenantId}/audit?event=${event}&userId=${userId}`);
    assert.equal(res.status, 200);
    return res.body.items as Record<string, unknown>[];
  };

  before(async () => {
    const port = await freePort();
    const url = postgresTestUrl();
    if (dialect === 'postgres') {
      assert.ok(url !== undefined);
      schema = await createFreshSchema(url, 'acme_shop');
    }
    const loaded = loadConfig({
      PORTCULLIS_PROFILE: 'dev',
      PORTCULLIS_DATA_DIR: dir,
      PORTCULLIS_SECRET_KEY: randomBytes(32).toString('base64'),
      ...(dialect === 'postgres' && url !== undefined ? { DATABASE_URL: url } : {}),
      HOST: '127.0.0.1',
      PORT: String(port),
      PUBLIC_URL: `http://127.0.0.1:${port}`,
      LOG_LEVEL: 'silent',
    });
    assert.ok(loaded.ok);
    const logger = createLogger({ level: 'silent' });
    const runtime = await createRuntime(loaded.config, { logger, now, ...(schema === undefined ? {} : { schema }) });
    const token = await bootstrapFirstAdmin(runtime.store, now());
    assert.ok(token !== null);
    admin = token;
    portcullis = await startServer({
      config: loaded.config,
      logger,
      ping: () => runtime.database.ping(),
      registerRoutes: runtime.registerRoutes,
      registerRootRoutes: runtime.registerRootRoutes,
      signals: [],
      onClose: [() => runtime.close()],
    });

    // The README's set-up, over the admin API.
    const tenant = await api('POST', '/tenants', { slug: 'acme', name: 'Acme' });
    assert.equal(tenant.status, 201);
    tenantId = tenant.body.id as string;
    const application = await api('POST', '/applications', { name: 'Acme Shop', tenants: [tenantId] });
    assert.equal(application.status, 201);
    clientId = application.body.clientId as string;
    clientSecret = application.body.clientSecret as string;
    const policy = await api('PUT', `/tenants/${tenantId}/policy`, { enrollment: 'required', gracePeriodDays: 0, challenge: 'always', stepUp: { defaultMaxAgeSeconds: 300, actions: { payment: 60 } } });
    assert.ok(policy.status === 200 || policy.status === 201, JSON.stringify(policy.body));
    const user = await api('POST', `/tenants/${tenantId}/users`, { email: EMAIL, password: PASSWORD });
    assert.equal(user.status, 201);
    userId = user.body.id as string;

    shop = await buildShop({ portcullisUrl: portcullis.url, clientId, clientSecret, tenant: tenantId, now });
    await shop.listen({ port: 0, host: '127.0.0.1' });
    shopUrl = `http://127.0.0.1:${(shop.server.address() as AddressInfo).port}`;
    // The same shop behind a man in the middle that alters one byte of each signed result's signature.
    const tamper = async (request: Request): Promise<Response> => {
      const res = await fetch(request);
      const text = await res.text();
      const altered = text.replace(/"result":"([^"]+)"/, (_m, jwt: string) => `"result":"${jwt.slice(0, -2)}${jwt.endsWith('A') ? 'B' : 'A'}${jwt.slice(-1)}"`);
      return new Response(altered, { status: res.status, headers: res.headers });
    };
    tamperingShop = await buildShop({ portcullisUrl: portcullis.url, clientId, clientSecret, tenant: tenantId, now, fetch: tamper });
    await tamperingShop.listen({ port: 0, host: '127.0.0.1' });
    tamperingUrl = `http://127.0.0.1:${(tamperingShop.server.address() as AddressInfo).port}`;
  });

  after(async () => {
    await shop?.close();
    await tamperingShop?.close();
    await portcullis?.shutdown('test done');
    const url = postgresTestUrl();
    if (schema !== undefined && url !== undefined) await dropSchema(url, schema);
    rmSync(dir, { recursive: true, force: true });
  });

  it('signs in with password and a first TOTP enrollment, verifies the result, steps up before a payment, refuses a wrong code, and signs out', async () => {
    const browser = new Browser(shopUrl);

    const start = await browser.get('/');
    assert.equal(start.url, '/signin');
    assert.match(start.html, /<form method="post" action="\/signin">/);
    const sessionCookie = browser.setCookies.find((c) => c.startsWith(`${SESSION_COOKIE}=`));
    assert.ok(sessionCookie !== undefined);
    assert.match(sessionCookie, /; HttpOnly/);
    assert.match(sessionCookie, /; SameSite=Lax/);

    // A wrong password: the page says so; Portcullis recorded a failed sign-in.
    const wrong = await browser.submit(start.html, '/signin', { email: EMAIL, password: 'not the password' });
    assert.equal(wrong.status, 401);
    assert.match(wrong.html, /Wrong email or password\./);
    assert.equal((await audit('user.signin_failed', userId)).length, 1);

    // The right password meets the enrollment wall: the QR code, the otpauth URI and the key.
    const anonymousId = browser.jar.get(SESSION_COOKIE);
    const enroll = await browser.submit(wrong.html, '/signin', { email: EMAIL, password: PASSWORD });
    assert.equal(enroll.url, '/signin/enroll');
    assert.equal(enroll.status, 200);
    const uri = byId(enroll.html, 'otpauth-uri');
    const shownSecret = byId(enroll.html, 'totp-secret');
    assert.ok(uri !== null && shownSecret !== null);
    secret = shownSecret;
    const parsed = new URL(uri);
    assert.equal(parsed.protocol, 'otpauth:');
    assert.equal(parsed.searchParams.get('secret'), secret);
    assert.match(enroll.html, /<img class="qr" alt="[^"]*" src="data:image\/svg\+xml;base64,[A-Za-z0-9+/=]+">/);
    const pending = await api('GET', `/tenants/${tenantId}/users/${userId}/factors`);
    assert.ok(JSON.stringify(pending.body).includes('"pending"'), 'Portcullis holds a pending TOTP factor');

    // A wrong first code is refused; the right one signs in.
    const badCode = await browser.submit(enroll.html, '/signin/enroll', { code: totp(secret, now() + 5 * 60_000) });
    assert.equal(badCode.status, 400);
    assert.match(badCode.html, /That code is not right\./);
    const home = await browser.submit(badCode.html, '/signin/enroll', { code: totp(secret, now()) });
    assert.equal(home.url, '/');
    assert.equal(home.status, 200);
    assert.equal(byId(home.html, 'who'), EMAIL);
    assert.deepEqual(byId(home.html, 'amr')?.split(' + ').sort(), ['mfa', 'otp', 'pwd']);
    assert.match(home.html, /id="recovery-codes"/);
    assert.notEqual(browser.jar.get(SESSION_COOKIE), anonymousId, 'the shop session id changed at sign-in');
    assert.equal((await audit('mfa.factor_enrolled', userId)).length, 1);
    assert.equal((await audit('user.signin_succeeded', userId)).length, 1);
    const sessions = (await api('GET', `/tenants/${tenantId}/users/${userId}/sessions`)).body.sessions as { id: string; applicationId: string; stepUps: Record<string, string> }[];
    assert.equal(sessions.length, 1);
    const again = await browser.get('/');
    assert.doesNotMatch(again.html, /id="recovery-codes"/, 'recovery codes are shown once');

    // Within the policy's 60 s for "payment", the sign-in's MFA suffices; the payee is shown escaped.
    const form = await browser.get('/payment');
    const first = await browser.submit(form.html, '/payment', { amount: '12.50', payee: '<b>Bob & "Co"</b>' });
    assert.equal(first.status, 200);
    assert.match(first.html, /Paid 12\.50 EUR to &lt;b&gt;Bob &amp; &quot;Co&quot;&lt;\/b&gt;\./);
    assert.doesNotMatch(first.html, /<b>Bob/);
    assert.equal((await audit('mfa.step_up_requested', userId)).length, 0);

    // 61 s later the payment demands a fresh code.
    clock += 61_000;
    const form2 = await browser.get('/payment');
    const challenge = await browser.submit(form2.html, '/payment', { amount: '30.00', payee: 'Carol' });
    assert.equal(challenge.status, 200);
    assert.equal(byId(challenge.html, 'pending-amount'), '30.00 EUR');
    assert.equal(byId(challenge.html, 'pending-payee'), 'Carol');
    assert.equal((await audit('mfa.step_up_requested', userId)).length, 1);

    const refused = await browser.submit(challenge.html, '/payment/confirm', { code: totp(secret, now() + 10 * 60_000) });
    assert.equal(refused.status, 400);
    assert.match(refused.html, /That code is not right\. \d+ attempts left\./);
    assert.doesNotMatch(refused.html, /Paid 30\.00/);
    assert.equal((await audit('user.mfa_failed', userId)).length, 2, 'the enrollment and the step-up wrong codes');

    const paid = await browser.submit(refused.html, '/payment/confirm', { code: totp(secret, now()) });
    assert.equal(paid.status, 200);
    assert.match(paid.html, /Paid 30\.00 EUR to Carol\./);
    assert.equal((await audit('user.step_up_succeeded', userId)).length, 1);
    const afterStepUp = (await api('GET', `/tenants/${tenantId}/users/${userId}/sessions`)).body.sessions as { id: string; stepUps: Record<string, string> }[];
    assert.equal(afterStepUp.length, 1);
    assert.equal(afterStepUp[0]?.stepUps.payment, new Date(now()).toISOString());
    const list = await browser.get('/');
    assert.match(list.html, /<li>30\.00 to Carol<\/li>/);

    // Sign-out revokes the Portcullis session.
    const out = await browser.submit(list.html, '/signout', {});
    assert.equal(out.url, '/signin');
    assert.equal(((await api('GET', `/tenants/${tenantId}/users/${userId}/sessions`)).body.sessions as unknown[]).length, 0);
    assert.equal((await audit('session.revoked', userId)).length, 1);
    assert.equal((await browser.get('/')).url, '/signin');
  });

  it('refuses a sign-in whose signed result was tampered with, and results it must not trust', async () => {
    clock += 60_000; // a new TOTP step: the previous code is spent
    const browser = new Browser(tamperingUrl);
    const start = await browser.get('/signin');
    const code = await browser.submit(start.html, '/signin', { email: EMAIL, password: PASSWORD });
    assert.equal(code.url, '/signin/code');
    const refused = await browser.submit(code.html, '/signin/code', { code: totp(secret, now()) });
    assert.equal(refused.status, 502);
    assert.match(refused.html, /Sign-in could not be verified\./);
    assert.equal((await browser.get('/')).url, '/signin', 'no shop session after a refused result');
    // Portcullis did authenticate (a second sign-in) — the shop alone refused what reached it altered.
    assert.equal((await audit('user.signin_succeeded', userId)).length, 2);

    // Offline checks of the verifier itself: a token signed by another key with Portcullis's claims and kid.
    const verify = createResultVerifier({ portcullisUrl: portcullis.url, clientId, tenantId, now });
    const jwks = (await (await fetch(`${portcullis.url}/.well-known/jwks.json`)).json()) as { keys: { kid: string }[] };
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const seconds = Math.floor(now() / 1000);
    const forged = await new SignJWT({ tenant: tenantId, sid: 'sess', amr: ['pwd', 'otp', 'mfa'], acr: 'urn:portcullis:acr:mfa', auth_time: seconds })
      .setProtectedHeader({ alg: 'ES256', kid: jwks.keys[0]?.kid ?? 'x', typ: 'portcullis-result+jwt' })
      .setIssuer(portcullis.url)
      .setAudience(clientId)
      .setSubject(userId)
      .setIssuedAt(seconds)
      .setExpirationTime(seconds + 60)
      .sign(privateKey);
    await assert.rejects(verify(forged, { userId }), (error: unknown) => error instanceof ResultRefused && /signature/i.test(error.reason));
  });
});
