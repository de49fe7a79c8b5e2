/**
 * A typed client of the Portcullis API for applications: openapi-fetch over the types openapi-typescript generated
 * from the server's OpenAPI document (`schema.d.ts`, regenerate with `npm run client:generate`). Paths, bodies
 * and answers are the generated types; this file adds only the client credentials.
 *
 * @example
 * const portcullis = createPortcullisClient({ baseUrl: 'http://localhost:8080', clientId, clientSecret });
 * const { data, error } = await portcullis.POST('/api/v1/auth/signin', {
 *   body: { tenant: 'acme', identifier: 'ada@example.com', password, context: { ip, deviceId } },
 * });
 * if (data?.status === 'mfa_required') … // data.mfaSessionId, data.methods
 * // Session-bound routes take the user's session token in a header:
 * await portcullis.POST('/api/v1/auth/mfa/step-up', { body: { action: 'payment' }, headers: { [SESSION_HEADER]: token } });
 */
import createClient, { type Client, type Middleware } from 'openapi-fetch';
import type { components, paths } from './schema.d.ts';

export type { components, paths };

/** The header that carries the end user's login session token on session-bound routes (step-up, sessions, factors). */
export const SESSION_HEADER = 'X-Portcullis-Session';

/** A typed Portcullis client (openapi-fetch's `GET`, `POST`, `PUT`, `PATCH`, `DELETE`, `use`). */
export type PortcullisClient = Client<paths>;

export interface PortcullisClientOptions {
  /** Where Portcullis answers, e.g. `http://localhost:8080` (the paths carry `/api/v1`). */
  readonly baseUrl: string;
  /** The application's `clientId` (`pcid_…`). */
  readonly clientId: string;
  /** The application's `clientSecret` (`pcs_…`), shown once when the application was created. */
  readonly clientSecret: string;
  /** A `fetch` to use instead of the global one (tests, proxies). */
  readonly fetch?: (input: Request) => Promise<Response>;
}

/**
 * `application/x-www-form-urlencoded` encoding of one value, as RFC 6749 §2.3.1 asks of both parts of the Basic
 * credentials (URLSearchParams is the WHATWG serializer of that format).
 */
function formEncode(value: string): string {
  return new URLSearchParams({ v: value }).toString().slice('v='.length);
}

/**
 * The `Authorization: Basic …` value of a client's credentials (RFC 7617, parts form-encoded per RFC 6749 §2.3.1).
 *
 * @example
 * basicAuthorization('pcid_x', 'pcs_y'); // 'Basic cGNpZF94OnBjc195'
 */
export function basicAuthorization(clientId: string, clientSecret: string): string {
  return `Basic ${Buffer.from(`${formEncode(clientId)}:${formEncode(clientSecret)}`, 'utf8').toString('base64')}`;
}

/**
 * A client that sends the application's credentials (HTTP Basic) on every request that does not carry its own
 * `Authorization` header (the admin API takes a bearer token instead: pass it per request).
 *
 * @example
 * const portcullis = createPortcullisClient({ baseUrl: process.env.PORTCULLIS_URL, clientId, clientSecret });
 * const { data } = await portcullis.POST('/api/v1/auth/mfa/verify', { body: { mfaSessionId, method: 'totp', code } });
 */
export function createPortcullisClient(options: PortcullisClientOptions): PortcullisClient {
  const client = createClient<paths>({ baseUrl: options.baseUrl, ...(options.fetch === undefined ? {} : { fetch: options.fetch }) });
  const authorization = basicAuthorization(options.clientId, options.clientSecret);
  const credentials: Middleware = {
    onRequest({ request }) {
      if (!request.headers.has('authorization')) request.headers.set('authorization', authorization);
      return request;
    },
  };
  client.use(credentials);
  return client;
}

export { checkUserAuthentication, insufficientUserAuthentication, parseStepUpChallenge, PORTCULLIS_ACR_ORDER, type AuthenticationCheck, type AuthenticationClaims, type AuthenticationRequirement, type StepUpChallenge } from './step-up-challenge.ts';
