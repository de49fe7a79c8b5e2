/**
 * The demo relying party (config `demo`, dev profile only): a tiny "application" served by the same server at
 * `/demo` that signs in with Portcullis exactly as an outside application would — authorization code with PKCE
 * (RFC 7636, S256) against `/oidc`, the code exchanged at the token endpoint over HTTP with the client's
 * `client_secret_basic`, the ID token verified against the published keys (issuer, audience, nonce), its claims
 * shown, and RP-initiated logout. It holds no session of its own: the claims page is the end of the flow.
 *
 * The per-flow state (state, nonce, PKCE verifier) lives in one cookie scoped to `/demo`, MACed with a key derived
 * from the secret key; `state` is compared in constant time before the code is redeemed (RFC 6749 §10.12).
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { createRemoteJWKSet, jwtVerify, type JWTPayload } from 'jose';
import { DEMO_CLIENT_ID, DEMO_PATH, demoClientSecret } from '../../services/demo.ts';
import type { PortcullisApp } from '../app.ts';
import { cookiePolicyOf, macOf, OIDC_PREFIX } from '../oidc/provider.ts';
import { PAGES_CSP, renderPage } from '../pages/render.ts';
import type { ServiceDeps } from '../../services/deps.ts';
import type { OidcClientRepository } from '../../store/index.ts';
import { parseCookies } from '../cookies.ts';

export interface DemoOptions {
  readonly deps: ServiceDeps;
  readonly clients: OidcClientRepository;
  readonly publicUrl: string;
  readonly macKey: Buffer;
}

interface FlowCookie {
  readonly state: string;
  readonly nonce: string;
  readonly verifier: string;
}

const FLOW_COOKIE_TTL_S = 600;

function same(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/**
 * Registers `/demo`, `/demo/login` and `/demo/callback`.
 *
 * @example
 * await registerDemoRoutes(app, { deps, clients, publicUrl: 'http://localhost:8080', macKey });
 */
export async function registerDemoRoutes(app: PortcullisApp, options: DemoOptions): Promise<void> {
  const base = options.publicUrl.replace(/\/$/, '');
  const issuer = `${base}${OIDC_PREFIX}`;
  const redirectUri = `${base}${DEMO_PATH}/callback`;
  const secure = cookiePolicyOf(options.publicUrl).secure;
  const cookieName = secure ? '__Secure-pc_demo_flow' : 'pc_demo_flow';
  const jwks = createRemoteJWKSet(new URL(`${issuer}/jwks`));

  const sealFlow = (flow: FlowCookie): string => {
    const body = Buffer.from(JSON.stringify(flow)).toString('base64url');
    return `${body}.${macOf(options.macKey, 'demo-flow', body)}`;
  };
  const openFlow = (value: string | undefined): FlowCookie | null => {
    if (value === undefined) return null;
    const [body, mac] = value.split('.');
    if (body === undefined || mac === undefined || !same(mac, macOf(options.macKey, 'demo-flow', body))) return null;
    try {
      const flow = JSON.parse(Buffer.from(body, 'base64url').toString('utf8')) as Partial<FlowCookie>;
      return typeof flow.state === 'string' && typeof flow.nonce === 'string' && typeof flow.verifier === 'string' ? (flow as FlowCookie) : null;
    } catch {
      return null;
    }
  };
  const flowCookie = (value: string, maxAge: number): string =>
    `${cookieName}=${value}; Path=${DEMO_PATH}; HttpOnly; SameSite=Lax; Max-Age=${maxAge}${secure ? '; Secure' : ''}`;

  /** Whether the demo client exists on this database (it is made only on an empty one). */
  async function ready(): Promise<boolean> {
    const application = await options.deps.store.applications.findByClientId(DEMO_CLIENT_ID);
    return application !== null && (await options.clients.get(application.id)) !== null;
  }

  function send(reply: FastifyReply, data: Record<string, unknown>, status = 200): FastifyReply {
    return reply
      .code(status)
      .header('content-type', 'text/html; charset=utf-8')
      .header('content-security-policy', PAGES_CSP)
      .header('cache-control', 'no-store')
      .send(renderPage('demo', { title: 'Demo application', ...data }));
  }

  app.get(DEMO_PATH, { schema: { hide: true }, helmet: false }, async (_request, reply) => {
    if (!(await ready())) return send(reply, { view: 'absent' }, 404);
    return send(reply, { view: 'start', loginUrl: `${DEMO_PATH}/login` });
  });

  app.get(`${DEMO_PATH}/login`, { schema: { hide: true }, helmet: false }, async (_request, reply) => {
    if (!(await ready())) return send(reply, { view: 'absent' }, 404);
    const flow: FlowCookie = { state: randomBytes(16).toString('base64url'), nonce: randomBytes(16).toString('base64url'), verifier: randomBytes(32).toString('base64url') };
    const params = new URLSearchParams({
      client_id: DEMO_CLIENT_ID,
      response_type: 'code',
      redirect_uri: redirectUri,
      scope: 'openid email',
      state: flow.state,
      nonce: flow.nonce,
      code_challenge: createHash('sha256').update(flow.verifier).digest('base64url'),
      code_challenge_method: 'S256',
    });
    return reply.header('set-cookie', flowCookie(sealFlow(flow), FLOW_COOKIE_TTL_S)).redirect(`${issuer}/auth?${params.toString()}`, 303);
  });

  app.get(`${DEMO_PATH}/callback`, { schema: { hide: true }, helmet: false }, async (request: FastifyRequest, reply) => {
    const query = request.query as Record<string, unknown>;
    const flow = openFlow(parseCookies(request.headers.cookie).get(cookieName));
    void reply.header('set-cookie', flowCookie('', 0));
    const failed = (detail: string): FastifyReply => send(reply, { view: 'failed', detail, again: DEMO_PATH }, 400);
    if (flow === null || typeof query.state !== 'string' || !same(query.state, flow.state)) return failed('This sign-in was not started here, or it was already finished.');
    if (typeof query.error === 'string') return failed(`The provider answered ${query.error}${typeof query.error_description === 'string' ? `: ${query.error_description}` : ''}.`);
    if (typeof query.code !== 'string') return failed('The provider sent no code.');
    const tokenResponse = await fetch(`${issuer}/token`, {
      method: 'POST',
      headers: {
        authorization: `Basic ${Buffer.from(`${encodeURIComponent(DEMO_CLIENT_ID)}:${encodeURIComponent(demoClientSecret(options.macKey))}`).toString('base64')}`,
        'content-type': 'application/x-www-form-urlencoded',
      },
      body: new URLSearchParams({ grant_type: 'authorization_code', code: query.code, redirect_uri: redirectUri, code_verifier: flow.verifier }).toString(),
    });
    const tokens = (await tokenResponse.json()) as { id_token?: unknown; error?: unknown };
    if (!tokenResponse.ok || typeof tokens.id_token !== 'string') return failed(`The token endpoint answered ${tokenResponse.status}${typeof tokens.error === 'string' ? ` ${tokens.error}` : ''}.`);
    let claims: JWTPayload;
    try {
      ({ payload: claims } = await jwtVerify(tokens.id_token, jwks, { issuer, audience: DEMO_CLIENT_ID }));
    } catch {
      return failed('The ID token did not verify.');
    }
    if (claims.nonce !== flow.nonce) return failed('The ID token is not for this sign-in (nonce).');
    const authTime = typeof claims.auth_time === 'number' ? claims.auth_time : null;
    return send(reply, {
      view: 'signed-in',
      claims: [
        ['sub', String(claims.sub)],
        ['acr', typeof claims.acr === 'string' ? claims.acr : ''],
        ['amr', Array.isArray(claims.amr) ? claims.amr.join(' ') : ''],
        ['auth_time', authTime === null ? '' : `${authTime} (${new Date(authTime * 1000).toISOString()})`],
      ],
      // RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0 §2), back to this page afterwards.
      logoutAction: `${issuer}/session/end`,
      logoutFields: [
        ['id_token_hint', tokens.id_token],
        ['post_logout_redirect_uri', `${base}${DEMO_PATH}`],
        ['client_id', DEMO_CLIENT_ID],
      ],
    });
  });
}
