import assert from 'node:assert/strict';
import { PortcullisError } from '../core/index.ts';
import { after, describe, it } from 'node:test';
import { Type } from '@sinclair/typebox';
import { buildApp, requestIdOf, type AppConfig, type AppDeps, type PortcullisApp } from './app.ts';

const config: AppConfig = { logLevel: 'silent', publicUrl: 'http://localhost:8080', trustProxy: false, rateLimitPerMinute: 0 };
const apps: PortcullisApp[] = [];
after(async () => {
  await Promise.all(apps.map((app) => app.close()));
});

async function appWith(overrides: Partial<AppDeps> = {}): Promise<PortcullisApp> {
  const app = await buildApp({ config, ping: async () => undefined, ...overrides });
  apps.push(app);
  return app;
}

describe('health probes', () => {
  it('/healthz answers 200 {status:"ok"} without calling the database', async () => {
    let pings = 0;
    const app = await appWith({ ping: async () => void (pings += 1) });
    const res = await app.inject({ method: 'GET', url: '/healthz' });
    assert.equal(res.statusCode, 200);
    assert.deepEqual(res.json(), { status: 'ok' });
    assert.equal(pings, 0);
  });

  it('/readyz answers 200 when ping resolves', async () => {
    const app = await appWith();
    const res = await app.inject({ method: 'GET', url: '/readyz' });
    assert.equal(res.statusCode, 200);
    assert.deepEqual(res.json(), { status: 'ok' });
  });

  it('/readyz answers 503 SERVICE_UNAVAILABLE when ping rejects', async () => {
    const app = await appWith({ ping: async () => Promise.reject(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' })) });
    const res = await app.inject({ method: 'GET', url: '/readyz' });
    assert.equal(res.statusCode, 503);
    assert.equal(res.json().error, 'SERVICE_UNAVAILABLE');
    assert.ok(!res.body.includes('ECONNREFUSED'));
  });

  it('/readyz answers 503 when ping takes longer than the timeout', async () => {
    const app = await appWith({ ping: () => new Promise<void>(() => undefined), readyTimeoutMs: 50 });
    const started = performance.now();
    const res = await app.inject({ method: 'GET', url: '/readyz' });
    assert.equal(res.statusCode, 503);
    assert.equal(res.json().error, 'SERVICE_UNAVAILABLE');
    assert.ok(performance.now() - started < 1000);
  });
});

describe('request ids', () => {
  it('echoes a sane x-request-id and uses it', async () => {
    const app = await appWith();
    const res = await app.inject({ method: 'GET', url: '/healthz', headers: { 'x-request-id': 'lb-7f3a.42:trace' } });
    assert.equal(res.headers['x-request-id'], 'lb-7f3a.42:trace');
  });

  it('replaces an insane one (too long, spaces, control characters) with a fresh UUID', async () => {
    const app = await appWith();
    for (const bad of ['a'.repeat(129), 'has space', 'new\u0000line', '']) {
      const res = await app.inject({ method: 'GET', url: '/healthz', headers: { 'x-request-id': bad } });
      assert.match(String(res.headers['x-request-id']), /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    }
    assert.notEqual(requestIdOf({ headers: {} }), requestIdOf({ headers: {} }));
  });

  it('is returned on error answers too', async () => {
    const app = await appWith();
    const res = await app.inject({ method: 'GET', url: '/no/such/route', headers: { 'x-request-id': 'abc-123' } });
    assert.equal(res.statusCode, 404);
    assert.equal(res.headers['x-request-id'], 'abc-123');
    assert.deepEqual(res.json(), { error: 'NOT_FOUND', message: 'No route GET /no/such/route.' });
  });
});

describe('routes, documentation and headers', () => {
  it('mounts registerRoutes under /api/v1 and documents them in OpenAPI 3.1', async () => {
    const app = await appWith({
      registerRoutes: async (api) => {
        api.get('/things/:id', { schema: { summary: 'A thing', params: Type.Object({ id: Type.String() }), response: { 200: Type.Object({ id: Type.String() }) } } }, async (request) => ({ id: request.params.id }));
      },
    });
    const thing = await app.inject({ method: 'GET', url: '/api/v1/things/t1' });
    assert.deepEqual(thing.json(), { id: 't1' });

    const spec = (await app.inject({ method: 'GET', url: '/api/openapi.json' })).json();
    assert.equal(spec.openapi, '3.1.0');
    assert.ok(spec.paths['/api/v1/things/{id}']);
    assert.ok(spec.paths['/healthz']);
    assert.deepEqual(Object.keys(spec.components.securitySchemes).sort(), ['adminToken', 'clientCredentials', 'userSession']);

    const docs = await app.inject({ method: 'GET', url: '/api/docs/' });
    assert.equal(docs.statusCode, 200);
    assert.match(String(docs.headers['content-type']), /text\/html/);
    assert.doesNotMatch(String(docs.headers['content-security-policy']), /upgrade-insecure-requests/);
  });

  it('sends security headers and no-store on API answers', async () => {
    const app = await appWith();
    const res = await app.inject({ method: 'GET', url: '/healthz' });
    assert.equal(res.headers['x-content-type-options'], 'nosniff');
    assert.equal(res.headers['x-frame-options'], 'DENY');
    assert.equal(res.headers['referrer-policy'], 'no-referrer');
    assert.equal(res.headers['cache-control'], 'no-store');
    assert.match(String(res.headers['content-security-policy']), /default-src 'none'/);
    assert.equal(res.headers['strict-transport-security'], undefined, 'no HSTS on a plain-http public URL');

    const httpsApp = await appWith({ config: { ...config, publicUrl: 'https://mfa.example.com' } });
    const secure = await httpsApp.inject({ method: 'GET', url: '/healthz' });
    assert.match(String(secure.headers['strict-transport-security']), /max-age=31536000/);
  });

  it('applies the coarse per-IP limit with 429 RATE_LIMITED, and never to the probes', async () => {
    const app = await appWith({
      config: { ...config, rateLimitPerMinute: 2 },
      registerRoutes: async (api) => {
        api.get('/ping', async () => ({ ok: true }));
      },
    });
    const codes: number[] = [];
    for (let i = 0; i < 3; i += 1) codes.push((await app.inject({ method: 'GET', url: '/api/v1/ping' })).statusCode);
    assert.deepEqual(codes, [200, 200, 429]);
    const limited = await app.inject({ method: 'GET', url: '/api/v1/ping' });
    assert.equal(limited.json().error, 'RATE_LIMITED');
    assert.ok(Number(limited.headers['retry-after']) > 0);
    for (let i = 0; i < 5; i += 1) assert.equal((await app.inject({ method: 'GET', url: '/healthz' })).statusCode, 200);
  });

  it('counts requests that a route scope refuses before its handler (e.g. bad credentials)', async () => {
    const app = await appWith({
      config: { ...config, rateLimitPerMinute: 2 },
      registerRoutes: async (api) => {
        await api.register(async (scope) => {
          scope.addHook('onRequest', async () => {
            throw new PortcullisError('UNAUTHORIZED', 'No credentials.');
          });
          scope.get('/guarded', async () => ({ ok: true }));
        });
      },
    });
    const codes: number[] = [];
    for (let i = 0; i < 3; i += 1) codes.push((await app.inject({ method: 'GET', url: '/api/v1/guarded' })).statusCode);
    assert.deepEqual(codes, [401, 401, 429]);
  });
});
