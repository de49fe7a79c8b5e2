/**
 * The HTTP application: Fastify with the TypeBox type provider, request ids, JSON logs, security headers, the
 * error mapping, health probes, OpenAPI, and the caller's routes under `/api/v1`. Store-agnostic: the caller
 * passes `ping` (database reachable?) and `registerRoutes`.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import helmet from '@fastify/helmet';
import rateLimit from '@fastify/rate-limit';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import { Type } from '@sinclair/typebox';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type RawServerDefault } from 'fastify';
import packageJson from '../../package.json' with { type: 'json' };
import type { Config } from '../config.ts';
import { PortcullisError } from '../core/index.ts';
import { registerDevClock } from './dev-clock.ts';
import { ErrorResponse, handleClientError, handleError, handleNotFound } from './errors.ts';
import { createLogger } from './logger.ts';
import { strictValidatorCompiler } from './validator.ts';

/** The Fastify instance Portcullis builds: default Node HTTP server, pino logger, TypeBox type provider. */
export type PortcullisApp = FastifyInstance<RawServerDefault, IncomingMessage, ServerResponse, FastifyBaseLogger, TypeBoxTypeProvider>;

/** The parts of {@link Config} the HTTP layer reads (`devClockHeader` absent = off). */
export type AppConfig = Pick<Config, 'logLevel' | 'publicUrl' | 'trustProxy' | 'rateLimitPerMinute'> & Partial<Pick<Config, 'devClockHeader'>>;

/** What {@link buildApp} needs. */
export interface AppDeps {
  readonly config: AppConfig;
  /** A pino logger (see `createLogger`); one is created from `config.logLevel` when absent. */
  readonly logger?: FastifyBaseLogger;
  /** Resolves when the database answers; `/readyz` calls it. */
  readonly ping: () => Promise<void>;
  /** Registers the API routes; they are mounted under `/api/v1`. */
  readonly registerRoutes?: (app: PortcullisApp) => Promise<void>;
  /** Registers routes at the root, outside `/api/v1` (e.g. `/.well-known/jwks.json`). */
  readonly registerRootRoutes?: (app: PortcullisApp) => Promise<void>;
  /** `/readyz` gives up on `ping` after this long (default 2000 ms). */
  readonly readyTimeoutMs?: number;
  /** Largest accepted request body (default 64 KiB). */
  readonly bodyLimit?: number;
}

/** The route prefix of the versioned API. */
export const API_PREFIX = '/api/v1';

/** Default largest body: generous for any JSON this API takes, small enough that a flood of them is cheap. */
export const DEFAULT_BODY_LIMIT = 64 * 1024;

/** OpenAPI security scheme names, for routes' `schema.security`. */
export const SECURITY_SCHEMES = { admin: 'adminToken', application: 'clientCredentials', session: 'userSession' } as const;

// A caller's id is kept only if it cannot forge log structure or bloat lines: printable token characters, ≤ 128.
const SANE_REQUEST_ID = /^[A-Za-z0-9._:@/+=-]{1,128}$/;

/**
 * The request id: the caller's `x-request-id` when it is sane, otherwise a new UUID.
 *
 * @example
 * requestIdOf({ headers: { 'x-request-id': 'abc-123' } }) // 'abc-123'
 */
export function requestIdOf(request: Pick<IncomingMessage, 'headers'>): string {
  const given = request.headers['x-request-id'];
  return typeof given === 'string' && SANE_REQUEST_ID.test(given) ? given : randomUUID();
}

const Health = Type.Object({ status: Type.Literal('ok') });

/**
 * Builds the application (not listening). Add routes through `registerRoutes`; tests may add more routes on the
 * returned instance before the first `inject`/`listen`.
 *
 * @example
 * const app = await buildApp({ config, ping: () => store.ping(), registerRoutes: (api) => registerAuthRoutes(api, deps, authenticate) });
 * const res = await app.inject({ method: 'GET', url: '/healthz' }); // 200 {"status":"ok"}
 */
export async function buildApp(deps: AppDeps): Promise<PortcullisApp> {
  const { config } = deps;
  const readyTimeoutMs = deps.readyTimeoutMs ?? 2000;
  const logger = deps.logger ?? createLogger({ level: config.logLevel });
  const app = Fastify({
    loggerInstance: logger,
    genReqId: requestIdOf,
    logController: new LogController({ requestIdLogLabel: 'requestId' }),
    bodyLimit: deps.bodyLimit ?? DEFAULT_BODY_LIMIT,
    trustProxy: trustProxyOption(config.trustProxy),
    // Fastify's own drain answer has a body of its own; ours (below) keeps the stable error shape.
    return503OnClosing: false,
    requestTimeout: 30_000,
    // Long path parameters reach the route's schema (ids are at most 128 characters there), so an oversized one is
    // a 400 in our error shape rather than the router's own 414 body.
    routerOptions: { maxParamLength: 2048 },
    // What the router refuses before any route runs (a malformed URL, a still longer parameter) keeps our shape.
    frameworkErrors: (error, _request, reply) => {
      const tooLong = error.code === 'FST_ERR_MAX_PARAM_LENGTH';
      const body = JSON.stringify({ error: 'INVALID_REQUEST', message: tooLong ? 'A path parameter is too long.' : 'The URL is not valid.' });
      void reply.raw.writeHead(tooLong ? 414 : 400, { 'content-type': 'application/json; charset=utf-8' }).end(body);
    },
    onProtoPoisoning: 'error',
    onConstructorPoisoning: 'error',
    // What Node's HTTP parser refuses (oversized headers, smuggling-shaped framing, bad chunking) keeps our shape too.
    clientErrorHandler: (error, socket) => handleClientError(error, socket, logger),
  }).withTypeProvider<TypeBoxTypeProvider>();

  app.decorateRequest('admin', null);
  app.decorateRequest('application', null);
  app.setErrorHandler(handleError);
  // Bodies are checked exactly as declared, on every route: no type coercion (`["123456"]` is not a code), no
  // silently dropped fields.
  app.setValidatorCompiler(strictValidatorCompiler);
  app.setNotFoundHandler(handleNotFound);

  // JSON only: text/plain (Fastify's other default) answers 415. An empty JSON body is "no body", so a client
  // that always sends `Content-Type: application/json` can still POST without one; the schema decides.
  const parseJson = app.getDefaultJsonParser('error', 'error');
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    const text = typeof body === 'string' ? body : body.toString('utf8');
    if (text.trim() === '') {
      done(null, undefined);
      return;
    }
    parseJson(request, text, done);
  });

  let draining = false;
  app.addHook('preClose', async () => {
    draining = true;
  });
  app.addHook('onRequest', async (request, reply) => {
    void reply.header('x-request-id', request.id);
    if (draining) {
      void reply.header('connection', 'close');
      throw new PortcullisError('SERVICE_UNAVAILABLE', 'The server is shutting down; retry.');
    }
  });
  // After the request id and the drain check: a refused X-Portcullis-Now answer carries the id too.
  registerDevClock(app, config.devClockHeader === true);
  app.addHook('onSend', async (_request, reply, payload) => {
    // API answers carry credentials, codes and decisions: never cached by a browser or a proxy.
    if (!reply.hasHeader('cache-control')) void reply.header('cache-control', 'no-store');
    return payload;
  });

  const https = config.publicUrl.startsWith('https://');
  await app.register(helmet, {
    global: true,
    // A JSON API loads nothing; the docs page sets its own policy (staticCSP below).
    contentSecurityPolicy: { useDefaults: false, directives: { 'default-src': ["'none'"], 'frame-ancestors': ["'none'"], 'base-uri': ["'none'"], 'form-action': ["'none'"] } },
    hsts: https ? { maxAge: 31_536_000, includeSubDomains: true } : false,
    crossOriginResourcePolicy: { policy: 'same-origin' },
    frameguard: { action: 'deny' },
  });

  if (config.rateLimitPerMinute > 0) {
    // Coarse, per node, per client IP: a brake on floods. The per-user and per-factor failure limits of
    // SECURITY rule 3 are separate, atomic, and shared through the database.
    // A root onRequest hook, so it runs before the route scopes' authentication: refused credentials count too.
    await app.register(rateLimit, {
      global: false,
      max: config.rateLimitPerMinute,
      timeWindow: 60_000,
      allowList: (request) => request.url === '/healthz' || request.url === '/readyz',
      errorResponseBuilder: (_request, context) => new PortcullisError('RATE_LIMITED', `Too many requests; retry in ${context.after}.`),
    });
    app.addHook('onRequest', app.rateLimit());
  }

  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Portcullis',
        version: packageJson.version,
        description: 'Multi-tenant MFA policy engine and authentication server. Errors are `{ "error": "<CODE>", "message": "…" }`.',
      },
      servers: [{ url: config.publicUrl }],
      components: {
        securitySchemes: {
          [SECURITY_SCHEMES.admin]: { type: 'http', scheme: 'bearer', description: 'Admin token (platform-wide or tenant-scoped).' },
          [SECURITY_SCHEMES.application]: { type: 'http', scheme: 'basic', description: 'Application client_id and client_secret.' },
          [SECURITY_SCHEMES.session]: { type: 'apiKey', in: 'header', name: 'X-Portcullis-Session', description: "The end user's login session token (from an authenticated answer), with the application's client credentials." },
        },
      },
    },
  });
  await app.register(swaggerUi, {
    routePrefix: '/api/docs',
    staticCSP: true,
    // Served over plain http on a laptop too: no forced upgrade of the page's own assets.
    transformStaticCSP: (header) => header.replace(/\s*upgrade-insecure-requests;?/, ''),
  });
  app.get('/api/openapi.json', { schema: { hide: true } }, async () => app.swagger());

  app.get('/healthz', { schema: { tags: ['operations'], summary: 'Liveness: the process answers (no I/O)', response: { 200: Health } } }, async () => ({ status: 'ok' as const }));

  app.get(
    '/readyz',
    { schema: { tags: ['operations'], summary: 'Readiness: the database answers within 2 s', response: { 200: Health, 503: ErrorResponse } } },
    async (request, reply) => {
      try {
        await withTimeout(deps.ping(), readyTimeoutMs);
        return { status: 'ok' as const };
      } catch (error) {
        request.log.warn({ err: error }, 'readiness check failed');
        return reply.code(503).send({ error: 'SERVICE_UNAVAILABLE', message: 'The database is not reachable.' });
      }
    },
  );

  if (deps.registerRootRoutes !== undefined) await deps.registerRootRoutes(app);
  const registerRoutes = deps.registerRoutes;
  if (registerRoutes !== undefined) {
    await app.register(async (api) => registerRoutes(api), { prefix: API_PREFIX });
  }
  return app;
}

/** Fastify's types take a hop count as a function (`proxy-addr` semantics: trust the first n hops). */
function trustProxyOption(value: AppConfig['trustProxy']): boolean | string[] | ((address: string, hop: number) => boolean) {
  if (typeof value === 'number') return (_address, hop) => hop < value;
  return typeof value === 'boolean' ? value : [...value];
}

function withTimeout(promise: Promise<void>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
