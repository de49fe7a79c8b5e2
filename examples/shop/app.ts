/**
 * Acme Shop: a small web application that signs its users in through Portcullis's headless API with the generated
 * TypeScript client, and asks Portcullis for a step-up before a payment.
 *
 * - Its own password form → `POST /auth/signin`; then, as Portcullis answers, a code form (`mfa_required` →
 *   `POST /auth/mfa/verify`) or the authenticator enrollment (`enrollment_required` → `POST /auth/mfa/enroll/totp`,
 *   the QR code, `…/confirm`).
 * - An `authenticated` answer is trusted only once its signed `result` verifies offline against Portcullis's
 *   `/.well-known/jwks.json` (verify-result.ts); then the shop opens its own session (a random id in an HttpOnly,
 *   SameSite=Lax cookie; the Portcullis session token stays on the server).
 * - A payment asks `POST /auth/mfa/step-up` (`action: "payment"`) with the stored session token; when Portcullis
 *   wants a fresh factor, the payment waits for a code (`POST /auth/mfa/verify`) and is made only on an
 *   `authenticated` answer whose result verifies. The code approves the payment shown with it: amount and payee are
 *   kept server-side from the moment the step-up was asked.
 * - Every signed-in page asks `POST /auth/sessions/introspect` whether the Portcullis session is still live (an
 *   administrator may have revoked it); sign-out revokes it (`DELETE /auth/sessions/{id}`).
 *
 * Every page is built with `html` (html.ts), which escapes every interpolated value. Forms carry a per-session CSRF
 * token. Shop sessions live in memory: this is an example, one process.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { createPortcullisClient, SESSION_HEADER, type paths } from '../../clients/typescript/src/index.ts';
import { errorLine, html, page } from './html.ts';
import { createResultVerifier, ResultRefused, type ResultVerifier } from './verify-result.ts';

/** The envelope every decision endpoint answers (the generated type of `POST /auth/signin`'s 200). */
type Envelope = paths['/api/v1/auth/signin']['post']['responses'][200]['content']['application/json'];

export interface ShopOptions {
  /** Where Portcullis answers, e.g. `http://localhost:8080`; also the issuer of its signed results. */
  readonly portcullisUrl: string;
  readonly clientId: string;
  readonly clientSecret: string;
  /** The tenant id the shop's users belong to (the signed result's `tenant` must be this). */
  readonly tenant: string;
  /** The clock used to check signed results (epoch ms); default `Date.now`. */
  readonly now?: () => number;
  /** The `fetch` the Portcullis client uses (default the global one). */
  readonly fetch?: (request: Request) => Promise<Response>;
  /** Fastify's logger option; default off. */
  readonly logger?: boolean;
}

/** The cookie of the shop's own session. */
export const SESSION_COOKIE = 'shop_session';
/** A long-lived random id of the browser, sent to Portcullis as `context.deviceId` (known devices, smart lockout). */
export const DEVICE_COOKIE = 'shop_device';

const IDLE_MS = 30 * 60_000;

interface SignedInUser {
  readonly id: string;
  readonly email: string;
  readonly portcullisSessionId: string;
  /** The Portcullis session token: never sent to the browser. Rotated by each step-up. */
  portcullisToken: string;
  amr: readonly string[];
  acr: string;
  readonly payments: { amount: string; payee: string; at: string }[];
}

type Pending =
  | { readonly kind: 'code'; readonly email: string; readonly mfaSessionId: string; readonly methods: readonly string[] }
  | { readonly kind: 'enroll'; readonly email: string; readonly mfaSessionId: string; readonly factorId: string; readonly otpauthUri: string; readonly qrSvg: string; readonly secret: string };

interface ShopSession {
  readonly id: string;
  readonly csrf: string;
  lastSeen: number;
  pending: Pending | null;
  user: SignedInUser | null;
  /** Recovery codes from a first enrollment, shown once on the next page. */
  recoveryCodes: readonly string[] | null;
  /** A payment waiting for its step-up code. */
  payment: { readonly amount: string; readonly payee: string; readonly mfaSessionId: string } | null;
  notice: string | null;
}

/** The code of a Portcullis error answer (`{ error, message }`), or null. */
function codeOf(error: unknown): string | null {
  return typeof error === 'object' && error !== null && typeof (error as { error?: unknown }).error === 'string' ? (error as { error: string }).error : null;
}

function cookiesOf(request: FastifyRequest): Map<string, string> {
  const jar = new Map<string, string>();
  for (const part of (request.headers.cookie ?? '').split(';')) {
    const at = part.indexOf('=');
    if (at > 0) jar.set(part.slice(0, at).trim(), part.slice(at + 1).trim());
  }
  return jar;
}

function randomId(): string {
  return randomBytes(32).toString('base64url');
}

function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** What Portcullis accepts as stored text: no control characters, bounded. */
function clean(text: string | undefined, max: number): string | undefined {
  if (text === undefined) return undefined;
  // eslint-disable-next-line no-control-regex -- removing control characters is the point (Portcullis refuses them)
  const value = text.replace(/[\u0000-\u001f\u007f]/g, '').slice(0, max);
  return value === '' ? undefined : value;
}

const AMOUNT = /^(?:0|[1-9]\d{0,5})(?:\.\d{2})?$/;

/**
 * Builds the shop (not listening).
 *
 * @example
 * const shop = await buildShop({ portcullisUrl: 'http://localhost:8080', clientId, clientSecret, tenant });
 * await shop.listen({ port: 3000 });
 */
export async function buildShop(options: ShopOptions): Promise<FastifyInstance> {
  const portcullis = createPortcullisClient({
    baseUrl: options.portcullisUrl.replace(/\/+$/, ''),
    clientId: options.clientId,
    clientSecret: options.clientSecret,
    ...(options.fetch === undefined ? {} : { fetch: options.fetch }),
  });
  const verifyResult: ResultVerifier = createResultVerifier({ portcullisUrl: options.portcullisUrl, clientId: options.clientId, tenantId: options.tenant, ...(options.now === undefined ? {} : { now: options.now }) });
  const sessions = new Map<string, ShopSession>();

  const app = Fastify({ logger: options.logger ?? false, bodyLimit: 8 * 1024 });
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_request, body, done) => {
    done(null, Object.fromEntries(new URLSearchParams(body as string)));
  });
  app.setErrorHandler(async (error, request, reply) => {
    request.log.error({ err: error }, 'request failed');
    const status = typeof (error as { statusCode?: unknown }).statusCode === 'number' && (error as { statusCode: number }).statusCode < 500 ? (error as { statusCode: number }).statusCode : 500;
    return reply.code(status).type('text/html; charset=utf-8').send(page('Something went wrong', html`<p class="error" role="alert">Something went wrong. <a href="/">Start again</a>.</p>`));
  });
  app.addHook('onSend', async (_request, reply) => {
    void reply
      .header('content-security-policy', "default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
      .header('x-content-type-options', 'nosniff')
      .header('referrer-policy', 'no-referrer')
      .header('cache-control', 'no-store');
  });

  const cookie = (request: FastifyRequest, name: string, value: string, maxAgeSeconds: number): string =>
    `${name}=${value}; Path=/; HttpOnly; SameSite=Lax; Max-Age=${maxAgeSeconds}${request.protocol === 'https' ? '; Secure' : ''}`;

  /** The visitor's shop session (a new anonymous one when absent or idle too long), and the device cookie. */
  const sessionOf = (request: FastifyRequest, reply: FastifyReply): ShopSession => {
    const jar = cookiesOf(request);
    const now = Date.now();
    const cookies: string[] = [];
    if (!jar.has(DEVICE_COOKIE)) cookies.push(cookie(request, DEVICE_COOKIE, randomId(), 400 * 86_400));
    const id = jar.get(SESSION_COOKIE);
    let session = id === undefined ? undefined : sessions.get(id);
    if (session !== undefined && now - session.lastSeen > IDLE_MS) {
      sessions.delete(session.id);
      session = undefined;
    }
    if (session === undefined) {
      session = { id: randomId(), csrf: randomId(), lastSeen: now, pending: null, user: null, recoveryCodes: null, payment: null, notice: null };
      sessions.set(session.id, session);
      cookies.push(cookie(request, SESSION_COOKIE, session.id, IDLE_MS / 1000));
    }
    session.lastSeen = now;
    if (cookies.length > 0) void reply.header('set-cookie', cookies);
    return session;
  };

  /** A new session id for a session that changes privilege (sign-in), so that a planted id is worth nothing. */
  const rotate = (old: ShopSession, request: FastifyRequest, reply: FastifyReply): ShopSession => {
    sessions.delete(old.id);
    const next: ShopSession = { ...old, id: randomId(), csrf: randomId() };
    sessions.set(next.id, next);
    void reply.header('set-cookie', cookie(request, SESSION_COOKIE, next.id, IDLE_MS / 1000));
    return next;
  };

  const context = (request: FastifyRequest): { ip: string; userAgent?: string; deviceId?: string } => {
    const userAgent = clean(request.headers['user-agent'], 1024);
    const deviceId = clean(cookiesOf(request).get(DEVICE_COOKIE), 256);
    return { ip: request.ip, ...(userAgent === undefined ? {} : { userAgent }), ...(deviceId === undefined ? {} : { deviceId }) };
  };

  const form = (request: FastifyRequest): Record<string, string> => {
    const body = request.body;
    return typeof body === 'object' && body !== null ? (body as Record<string, string>) : {};
  };

  /** The CSRF check of every POST: the form's token is the session's. */
  const checkedSession = (request: FastifyRequest, reply: FastifyReply): ShopSession | null => {
    const session = sessionOf(request, reply);
    const token = form(request).csrf;
    if (typeof token !== 'string' || !sameSecret(token, session.csrf)) {
      void reply.code(403).type('text/html; charset=utf-8').send(page('Form expired', html`<p class="error" role="alert">This form has expired. <a href="/">Start again</a>.</p>`));
      return null;
    }
    return session;
  };

  const csrfField = (session: ShopSession): ReturnType<typeof html> => html`<input type="hidden" name="csrf" value="${session.csrf}">`;
  const send = (reply: FastifyReply, status: number, title: string, body: ReturnType<typeof html>, session: ShopSession): FastifyReply =>
    reply.code(status).type('text/html; charset=utf-8').send(page(title, body, session.user?.email ?? null));
  const redirect = (reply: FastifyReply, to: string): FastifyReply => reply.code(303).header('location', to).send();

  const signinForm = (session: ShopSession, message: string | null, email = ''): ReturnType<typeof html> => html`
${session.notice === null ? '' : html`<p class="notice">${session.notice}</p>`}
${errorLine(message)}
<form method="post" action="/signin">
${csrfField(session)}
<label>Email <input type="email" name="email" autocomplete="username" required value="${email}"></label>
<label>Password <input type="password" name="password" autocomplete="current-password" required></label>
<button type="submit">Sign in</button>
</form>`;

  /** Ends the shop session locally (the Portcullis session is already gone, or is revoked by the caller). */
  const endSession = (session: ShopSession, notice: string | null): void => {
    session.user = null;
    session.pending = null;
    session.payment = null;
    session.recoveryCodes = null;
    session.notice = notice;
  };

  /**
   * Goes on from a Portcullis decision: a verified `authenticated` answer signs the user in; `mfa_required` asks
   * for a code; `enrollment_required` begins the authenticator enrollment. Returns the page to go to, or an error
   * message for the sign-in form.
   */
  const continueWith = async (request: FastifyRequest, reply: FastifyReply, session: ShopSession, email: string, answer: Envelope): Promise<FastifyReply> => {
    if (answer.status === 'authenticated') {
      if (typeof answer.result !== 'string' || answer.session === undefined || answer.session.token === undefined) {
        request.log.warn('authenticated answer without a signed result or a session token');
        return send(reply, 502, 'Sign in', signinForm(session, 'Sign-in could not be completed. Please try again.', email), session);
      }
      let verified;
      try {
        verified = await verifyResult(answer.result, { userId: answer.userId, sessionId: answer.session.id });
      } catch (error) {
        if (!(error instanceof ResultRefused)) throw error;
        request.log.warn({ reason: error.reason }, 'signed result refused');
        endSession(session, null);
        return send(reply, 502, 'Sign in', signinForm(session, 'Sign-in could not be verified. Please try again.', email), session);
      }
      const signedIn = rotate(session, request, reply);
      signedIn.pending = null;
      signedIn.notice = null;
      signedIn.user = { id: verified.userId, email, portcullisSessionId: verified.sessionId, portcullisToken: answer.session.token, amr: verified.amr, acr: verified.acr, payments: [] };
      return redirect(reply, '/');
    }
    if (answer.status === 'mfa_required' && typeof answer.mfaSessionId === 'string') {
      session.pending = { kind: 'code', email, mfaSessionId: answer.mfaSessionId, methods: answer.methods ?? [] };
      return redirect(reply, '/signin/code');
    }
    if (answer.status === 'enrollment_required' && typeof answer.mfaSessionId === 'string' && (answer.enrollOptions ?? []).includes('totp')) {
      const { data, error } = await portcullis.POST('/api/v1/auth/mfa/enroll/totp', { body: { mfaSessionId: answer.mfaSessionId, label: 'Acme Shop' } });
      if (data === undefined) {
        request.log.warn({ error: codeOf(error) }, 'TOTP enrollment could not begin');
        session.pending = null;
        return send(reply, 502, 'Sign in', signinForm(session, 'Setting up your authenticator failed. Please sign in again.', email), session);
      }
      session.pending = { kind: 'enroll', email, mfaSessionId: answer.mfaSessionId, factorId: data.factorId, otpauthUri: data.otpauthUri, qrSvg: data.qrSvg, secret: data.secret };
      return redirect(reply, '/signin/enroll');
    }
    session.pending = null;
    return send(reply, 403, 'Sign in', signinForm(session, 'Your account cannot sign in here. Please contact support.', email), session);
  };

  /** The signed-in user, after asking Portcullis whether the session is still live (else signed out here). */
  const liveUser = async (session: ShopSession): Promise<SignedInUser | null> => {
    const user = session.user;
    if (user === null) return null;
    const { data } = await portcullis.POST('/api/v1/auth/sessions/introspect', { body: { token: user.portcullisToken } });
    if (data?.active === true && data.sid === user.portcullisSessionId && data.sub === user.id) return user;
    endSession(session, 'Your session has ended. Please sign in again.');
    return null;
  };

  app.get('/', async (request, reply) => {
    const session = sessionOf(request, reply);
    const user = await liveUser(session);
    if (user === null) return redirect(reply, '/signin');
    const codes = session.recoveryCodes;
    session.recoveryCodes = null;
    const notice = session.notice;
    session.notice = null;
    return send(
      reply,
      200,
      'Welcome',
      html`
${notice === null ? '' : html`<p class="notice" role="status">${notice}</p>`}
<p>You are signed in with <span id="amr">${user.amr.join(' + ')}</span> (<span id="acr">${user.acr}</span>).</p>
${codes === null ? '' : html`<section id="recovery-codes"><h2>Your recovery codes</h2><p>Keep them somewhere safe; each works once, and they are shown only now.</p><ul>${codes.map((c) => html`<li><code>${c}</code></li>`)}</ul></section>`}
<h2>Payments</h2>
${user.payments.length === 0 ? html`<p>No payments yet.</p>` : html`<ul id="payments">${user.payments.map((p) => html`<li>${p.amount} to ${p.payee}</li>`)}</ul>`}
<p><a href="/payment">Make a payment</a></p>
<form method="post" action="/signout">${csrfField(session)}<button type="submit">Sign out</button></form>`,
      session,
    );
  });

  app.get('/signin', async (request, reply) => {
    const session = sessionOf(request, reply);
    if (session.user !== null) return redirect(reply, '/');
    const body = signinForm(session, null);
    session.notice = null;
    return send(reply, 200, 'Sign in', body, session);
  });

  app.post('/signin', async (request, reply) => {
    const session = checkedSession(request, reply);
    if (session === null) return reply;
    const { email = '', password = '' } = form(request);
    if (email === '' || password === '' || email.length > 320 || password.length > 1024) return send(reply, 400, 'Sign in', signinForm(session, 'Enter your email and password.', email.slice(0, 320)), session);
    if (session.user !== null) endSession(session, null);
    const { data, error, response } = await portcullis.POST('/api/v1/auth/signin', { body: { tenant: options.tenant, identifier: email, password, context: context(request) } });
    if (data !== undefined) return continueWith(request, reply, session, email, data);
    const code = codeOf(error);
    if (code === 'INVALID_CREDENTIALS') return send(reply, 401, 'Sign in', signinForm(session, 'Wrong email or password.', email), session);
    if (code === 'RATE_LIMITED') return send(reply, 429, 'Sign in', signinForm(session, 'Too many attempts. Please wait a few minutes.', email), session);
    if (code === 'access_denied') return send(reply, 403, 'Sign in', signinForm(session, 'Sign-in was blocked for your safety. Please try again later.', email), session);
    if (code === 'INVALID_REQUEST') return send(reply, 400, 'Sign in', signinForm(session, 'Check your email and password.', email), session);
    request.log.error({ status: response.status, error: code }, 'Portcullis refused the sign-in');
    return send(reply, 502, 'Sign in', signinForm(session, 'Sign-in is unavailable right now. Please try again.', email), session);
  });

  const codeForm = (session: ShopSession, action: string, message: string | null, hint: string): ReturnType<typeof html> => html`
${errorLine(message)}
<form method="post" action="${action}">
${csrfField(session)}
<label>${hint} <input name="code" inputmode="numeric" autocomplete="one-time-code" required maxlength="64"></label>
<button type="submit">Continue</button>
</form>`;

  app.get('/signin/code', async (request, reply) => {
    const session = sessionOf(request, reply);
    if (session.pending?.kind !== 'code') return redirect(reply, '/signin');
    return send(reply, 200, 'Enter your code', codeForm(session, '/signin/code', null, 'The 6-digit code from your authenticator app (or a recovery code)'), session);
  });

  /** A wrong-code or restart answer of a verification, as the message to show (null: not a refusal of the code). */
  const refusalOf = (error: unknown): { message: string; restart: boolean } | null => {
    const code = codeOf(error);
    if (code === 'MFA_CODE_INVALID') {
      const left = (error as { attemptsRemaining?: unknown }).attemptsRemaining;
      return { message: `That code is not right.${typeof left === 'number' ? ` ${left} attempts left.` : ''}`, restart: false };
    }
    if (code === 'INVALID_REQUEST' || code === 'MFA_METHOD_NOT_ALLOWED') return { message: 'That is not a code. Enter the 6 digits your app shows.', restart: false };
    if (code === 'MFA_LOCKED') return { message: 'Too many wrong codes. Please wait and start again.', restart: true };
    if (code === 'MFA_SESSION_EXPIRED' || code === 'MFA_SESSION_USED' || code === 'MFA_SESSION_NOT_FOUND') return { message: 'This step has expired. Please start again.', restart: true };
    return null;
  };

  app.post('/signin/code', async (request, reply) => {
    const session = checkedSession(request, reply);
    if (session === null) return reply;
    const pending = session.pending;
    if (pending?.kind !== 'code') return redirect(reply, '/signin');
    const code = (form(request).code ?? '').replace(/\s+/g, '');
    // A code with letters is a recovery code (xxxx-xxxx-…), if this sign-in offers them.
    const method = /^\d+$/.test(code) || !pending.methods.includes('recovery_codes') ? 'totp' : 'recovery_codes';
    const { data, error } = await portcullis.POST('/api/v1/auth/mfa/verify', { body: { mfaSessionId: pending.mfaSessionId, method, code } });
    if (data !== undefined) return continueWith(request, reply, session, pending.email, data);
    const refusal = refusalOf(error);
    if (refusal === null) throw new Error(`Portcullis refused the verification: ${codeOf(error) ?? 'no code'}`);
    if (refusal.restart) {
      session.pending = null;
      return send(reply, 400, 'Sign in', signinForm(session, refusal.message, pending.email), session);
    }
    return send(reply, 400, 'Enter your code', codeForm(session, '/signin/code', refusal.message, 'The 6-digit code from your authenticator app (or a recovery code)'), session);
  });

  const enrollPage = (session: ShopSession, pending: Extract<Pending, { kind: 'enroll' }>, message: string | null): ReturnType<typeof html> => html`
<p>Your account needs a second factor. Scan this QR code with an authenticator app, then enter the code it shows.</p>
<p><img class="qr" alt="QR code of your authenticator key" src="${`data:image/svg+xml;base64,${Buffer.from(pending.qrSvg, 'utf8').toString('base64')}`}"></p>
<p>Or add it by hand: <code id="otpauth-uri">${pending.otpauthUri}</code> (key <code id="totp-secret">${pending.secret}</code>)</p>
${codeForm(session, '/signin/enroll', message, 'Code from the app')}`;

  app.get('/signin/enroll', async (request, reply) => {
    const session = sessionOf(request, reply);
    const pending = session.pending;
    if (pending?.kind !== 'enroll') return redirect(reply, '/signin');
    return send(reply, 200, 'Set up your authenticator', enrollPage(session, pending, null), session);
  });

  app.post('/signin/enroll', async (request, reply) => {
    const session = checkedSession(request, reply);
    if (session === null) return reply;
    const pending = session.pending;
    if (pending?.kind !== 'enroll') return redirect(reply, '/signin');
    const code = (form(request).code ?? '').replace(/\s+/g, '');
    const { data, error } = await portcullis.POST('/api/v1/auth/mfa/enroll/totp/confirm', { body: { mfaSessionId: pending.mfaSessionId, factorId: pending.factorId, code } });
    if (data !== undefined) {
      // Inside a sign-in the confirmation answers the decision envelope; `enrolled` is only for a voluntary enrollment.
      if (data.status === 'enrolled') throw new Error('Portcullis answered a voluntary enrollment inside a sign-in');
      // Issued now and shown once, on the first signed-in page (the session carries them across the sign-in).
      const codes = data['recoveryCodes'];
      if (Array.isArray(codes)) session.recoveryCodes = codes.filter((code): code is string => typeof code === 'string');
      return continueWith(request, reply, session, pending.email, data);
    }
    const refusal = refusalOf(error);
    if (refusal === null) throw new Error(`Portcullis refused the enrollment: ${codeOf(error) ?? 'no code'}`);
    if (refusal.restart) {
      session.pending = null;
      return send(reply, 400, 'Sign in', signinForm(session, refusal.message, pending.email), session);
    }
    return send(reply, 400, 'Set up your authenticator', enrollPage(session, pending, refusal.message), session);
  });

  const paymentForm = (session: ShopSession, message: string | null, amount = '', payee = ''): ReturnType<typeof html> => html`
${errorLine(message)}
<form method="post" action="/payment">
${csrfField(session)}
<label>Amount (EUR) <input name="amount" required value="${amount}" pattern="\\d+(\\.\\d{2})?"></label>
<label>Payee <input name="payee" required maxlength="64" value="${payee}"></label>
<button type="submit">Pay</button>
</form>
<p><a href="/">Back</a></p>`;

  const confirmForm = (session: ShopSession, payment: NonNullable<ShopSession['payment']>, message: string | null): ReturnType<typeof html> => html`
<p>Confirm the payment of <strong id="pending-amount">${payment.amount} EUR</strong> to <strong id="pending-payee">${payment.payee}</strong> with a code from your authenticator app.</p>
${codeForm(session, '/payment/confirm', message, 'Code')}`;

  /** Makes the payment once Portcullis has answered `authenticated` with a result that verifies for this session. */
  const pay = async (request: FastifyRequest, reply: FastifyReply, session: ShopSession, user: SignedInUser, answer: Envelope, amount: string, payee: string): Promise<FastifyReply> => {
    if (answer.status !== 'authenticated' || typeof answer.result !== 'string') return send(reply, 502, 'Payment', paymentForm(session, 'The payment could not be authorised. Please try again.', amount, payee), session);
    try {
      const verified = await verifyResult(answer.result, { userId: user.id, sessionId: user.portcullisSessionId });
      user.amr = verified.amr;
      user.acr = verified.acr;
    } catch (error) {
      if (!(error instanceof ResultRefused)) throw error;
      request.log.warn({ reason: error.reason }, 'signed result refused at payment');
      return send(reply, 502, 'Payment', paymentForm(session, 'The payment could not be authorised. Please try again.', amount, payee), session);
    }
    // A step-up rotates the Portcullis session token: keep the new one.
    if (answer.session.token !== undefined) user.portcullisToken = answer.session.token;
    session.payment = null;
    user.payments.push({ amount, payee, at: new Date().toISOString() });
    return send(reply, 200, 'Payment made', html`<p class="notice" role="status" id="payment-done">Paid ${amount} EUR to ${payee}.</p><p><a href="/">Back</a></p>`, session);
  };

  /** Portcullis no longer knows the session (revoked, expired): sign out here too. */
  const sessionGone = (reply: FastifyReply, session: ShopSession): FastifyReply => {
    endSession(session, 'Your session has ended. Please sign in again.');
    return redirect(reply, '/signin');
  };

  app.get('/payment', async (request, reply) => {
    const session = sessionOf(request, reply);
    if ((await liveUser(session)) === null) return redirect(reply, '/signin');
    return send(reply, 200, 'Make a payment', paymentForm(session, null), session);
  });

  app.post('/payment', async (request, reply) => {
    const session = checkedSession(request, reply);
    if (session === null) return reply;
    const user = session.user;
    if (user === null) return redirect(reply, '/signin');
    const amount = (form(request).amount ?? '').trim();
    const payee = (form(request).payee ?? '').trim();
    if (!AMOUNT.test(amount) || Number(amount) <= 0 || clean(payee, 64) !== payee || payee === '') {
      return send(reply, 400, 'Make a payment', paymentForm(session, 'Enter an amount such as 12.50 and a payee.', amount.slice(0, 16), payee.slice(0, 64)), session);
    }
    const { data, error } = await portcullis.POST('/api/v1/auth/mfa/step-up', { body: { action: 'payment', context: context(request) }, headers: { [SESSION_HEADER]: user.portcullisToken } });
    if (data === undefined) {
      if (codeOf(error) === 'SESSION_NOT_FOUND') return sessionGone(reply, session);
      if (codeOf(error) === 'access_denied') return send(reply, 403, 'Make a payment', paymentForm(session, 'This payment was blocked for your safety.', amount, payee), session);
      throw new Error(`Portcullis refused the step-up: ${codeOf(error) ?? 'no code'}`);
    }
    if (data.status === 'authenticated') return pay(request, reply, session, user, data, amount, payee);
    if (data.status === 'step_up_required' && typeof data.mfaSessionId === 'string' && (data.methods ?? []).includes('totp')) {
      session.payment = { amount, payee, mfaSessionId: data.mfaSessionId };
      return send(reply, 200, 'Confirm the payment', confirmForm(session, session.payment, null), session);
    }
    return send(reply, 403, 'Make a payment', paymentForm(session, 'Payments need an authenticator app on your account.', amount, payee), session);
  });

  app.post('/payment/confirm', async (request, reply) => {
    const session = checkedSession(request, reply);
    if (session === null) return reply;
    const user = session.user;
    const payment = session.payment;
    if (user === null) return redirect(reply, '/signin');
    if (payment === null) return redirect(reply, '/payment');
    const code = (form(request).code ?? '').replace(/\s+/g, '');
    const { data, error } = await portcullis.POST('/api/v1/auth/mfa/verify', { body: { mfaSessionId: payment.mfaSessionId, method: 'totp', code } });
    if (data !== undefined) {
      if (data.status === 'authenticated') return pay(request, reply, session, user, data, payment.amount, payment.payee);
      session.payment = null;
      return send(reply, 403, 'Make a payment', paymentForm(session, 'The payment was not authorised.', payment.amount, payment.payee), session);
    }
    const refusal = refusalOf(error);
    if (refusal === null) {
      if (codeOf(error) === 'SESSION_NOT_FOUND') return sessionGone(reply, session);
      throw new Error(`Portcullis refused the step-up code: ${codeOf(error) ?? 'no code'}`);
    }
    if (refusal.restart) {
      session.payment = null;
      return send(reply, 400, 'Make a payment', paymentForm(session, refusal.message, payment.amount, payment.payee), session);
    }
    return send(reply, 400, 'Confirm the payment', confirmForm(session, payment, refusal.message), session);
  });

  app.post('/signout', async (request, reply) => {
    const session = checkedSession(request, reply);
    if (session === null) return reply;
    const user = session.user;
    if (user !== null) {
      const { error } = await portcullis.DELETE('/api/v1/auth/sessions/{sessionId}', { params: { path: { sessionId: user.portcullisSessionId } }, headers: { [SESSION_HEADER]: user.portcullisToken } });
      // Already gone at Portcullis is fine; anything else is logged, and the shop session ends regardless.
      if (error !== undefined && codeOf(error) !== 'SESSION_NOT_FOUND') request.log.error({ error: codeOf(error) }, 'revoking the Portcullis session failed');
    }
    sessions.delete(session.id);
    void reply.header('set-cookie', `${SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0`);
    return redirect(reply, '/signin');
  });

  return app;
}
