/**
 * A resource server that asks for a step-up the standard way (RFC 9470): `GET /api/transfers` needs an
 * authentication at `urn:portcullis:loa:2` (multi-factor) no older than five minutes. The bearer token is verified
 * (signature against Portcullis' published keys, issuer, audience, expiry) and its `acr`/`auth_time` claims are
 * judged by `checkUserAuthentication` from clients/typescript; when they fall short, the answer is 401 with
 * `WWW-Authenticate: Bearer error="insufficient_user_authentication", …, acr_values="…", max_age=…`, and the client
 * runs a new authorization request with those parameters (Portcullis then challenges the user's second factor).
 *
 * Which token: Portcullis' access tokens are opaque today, so this API accepts the ID token issued to its own
 * client (audience = its client id) — the set-up of an application's own backend. A resource server of another
 * audience needs JWT access tokens carrying `acr`/`auth_time`, which Portcullis does not issue yet.
 *
 *   ISSUER=http://localhost:8080/oidc CLIENT_ID=pcid_… PORT=3001 npx node examples/step-up-api/server.ts
 */
import { createServer, type Server } from 'node:http';
import { createRemoteJWKSet, jwtVerify, type JWTPayload } from 'jose';
import { checkUserAuthentication, type AuthenticationRequirement } from '../../clients/typescript/src/step-up-challenge.ts';

export interface StepUpApiOptions {
  /** Portcullis' OIDC issuer, e.g. `http://localhost:8080/oidc`. */
  readonly issuer: string;
  /** The client whose ID tokens this API accepts. */
  readonly clientId: string;
  /** What `/api/transfers` needs (default: loa:2 within 300 s). */
  readonly requirement?: AuthenticationRequirement;
}

export const TRANSFERS_REQUIREMENT: AuthenticationRequirement = { acrValues: ['urn:portcullis:loa:2'], maxAge: 300 };

/**
 * The API as a node:http server (not yet listening).
 *
 * @example
 * createStepUpApi({ issuer: 'http://localhost:8080/oidc', clientId }).listen(3001);
 */
export function createStepUpApi(options: StepUpApiOptions): Server {
  const jwks = createRemoteJWKSet(new URL(`${options.issuer}/jwks`));
  const requirement = options.requirement ?? TRANSFERS_REQUIREMENT;
  return createServer((req, res) => {
    void (async (): Promise<void> => {
      const json = (status: number, body: unknown, headers: Record<string, string> = {}): void => {
        res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store', ...headers }).end(JSON.stringify(body));
      };
      if (req.method !== 'GET' || req.url !== '/api/transfers') return json(404, { error: 'not_found' });
      const bearer = /^Bearer ([A-Za-z0-9._~+/-]+=*)$/.exec(req.headers.authorization ?? '')?.[1];
      // RFC 6750 §3: no token → a bare challenge; a bad one → invalid_token.
      if (bearer === undefined) return json(401, { error: 'invalid_request' }, { 'www-authenticate': 'Bearer' });
      let claims: JWTPayload;
      try {
        ({ payload: claims } = await jwtVerify(bearer, jwks, { issuer: options.issuer, audience: options.clientId }));
      } catch {
        return json(401, { error: 'invalid_token' }, { 'www-authenticate': 'Bearer error="invalid_token"' });
      }
      const check = checkUserAuthentication(claims, requirement, { now: Date.now() });
      if (!check.ok) return json(401, { error: 'insufficient_user_authentication', reason: check.reason }, { 'www-authenticate': check.challenge });
      return json(200, { transfers: [], sub: claims.sub, acr: claims.acr });
    })().catch(() => {
      if (!res.headersSent) res.writeHead(500).end();
    });
  });
}

if (import.meta.main) {
  const issuer = process.env.ISSUER ?? 'http://localhost:8080/oidc';
  const clientId = process.env.CLIENT_ID ?? '';
  if (clientId === '') throw new Error('CLIENT_ID is required');
  const port = Number(process.env.PORT ?? '3001');
  createStepUpApi({ issuer, clientId }).listen(port, '127.0.0.1', () => console.log(`step-up API on http://127.0.0.1:${port}/api/transfers`));
}
