import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Type } from '@sinclair/typebox';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { LightMyRequestResponse } from 'fastify';
import { buildApp, type AppConfig, type PortcullisApp } from './app.ts';
import { adminOf, assertTenantAccess, requireAdmin, requireApplication, type ApplicationCredentials } from './auth.ts';
import { generateToken, hashToken, verifyHashedToken } from '../factors/tokens.ts';

const config: AppConfig = { logLevel: 'silent', publicUrl: 'http://localhost:8080', trustProxy: false, rateLimitPerMinute: 0 };

const platformToken = generateToken('pcat');
const tenantAToken = generateToken('pcat');
const adminTokens = new Map<string, { id: string; tenantId: string | null }>([
  [hashToken(platformToken), { id: 'tok-platform', tenantId: null }],
  [hashToken(tenantAToken), { id: 'tok-a', tenantId: 'tenant-a' }],
]);
const lookedUp: string[] = [];
let adminLookupFails = false;

const clientSecret = generateToken('pcs');
const application: ApplicationCredentials & { clientId: string } = { id: 'app-1', clientId: 'client one', name: 'Shop', firstParty: false, clientSecretHash: hashToken(clientSecret) };
const verified: string[] = [];
const DUMMY = hashToken('dummy');

let app: PortcullisApp;

before(async () => {
  app = await buildApp({
    config,
    ping: async () => undefined,
    registerRoutes: async (api) => {
      await api.register(async (scope) => {
        const admin = scope.withTypeProvider<TypeBoxTypeProvider>();
        admin.addHook(
          'onRequest',
          requireAdmin(async (hash) => {
            lookedUp.push(hash);
            if (adminLookupFails) throw Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
            return adminTokens.get(hash) ?? null;
          }),
        );
        admin.get('/admin/whoami', async (request) => adminOf(request));
        admin.post(
          '/admin/tenants/:tenantId/things',
          { schema: { params: Type.Object({ tenantId: Type.String() }), body: Type.Object({ name: Type.String() }) } },
          async (request) => {
            assertTenantAccess(request, request.params.tenantId);
            return { tenantId: request.params.tenantId, name: request.body.name };
          },
        );
      });
      await api.register(async (client) => {
        client.addHook(
          'onRequest',
          requireApplication(
            async (clientId) => (clientId === application.clientId ? application : null),
            (secret, hash) => {
              verified.push(hash);
              return verifyHashedToken(secret, hash);
            },
            { dummyHash: DUMMY },
          ),
        );
        client.get('/auth/whoami', async (request) => request.application);
      });
      api.get('/unguarded', async (request) => adminOf(request));
    },
  });
});
after(async () => {
  await app.close();
});

function bearer(token: string): Record<string, string> {
  return { authorization: `Bearer ${token}` };
}

function basic(id: string, secret: string): Record<string, string> {
  const encode = (s: string): string => encodeURIComponent(s).replace(/%20/g, '+');
  return { authorization: `Basic ${Buffer.from(`${encode(id)}:${encode(secret)}`).toString('base64')}` };
}

describe('tokens', () => {
  it('generateToken gives prefix_ + 43 base64url characters (256 bits), all distinct', () => {
    const tokens = new Set(Array.from({ length: 1000 }, () => generateToken('pcat')));
    assert.equal(tokens.size, 1000);
    for (const token of tokens) assert.match(token, /^pcat_[A-Za-z0-9_-]{43}$/);
    assert.throws(() => generateToken('Bad Prefix'), TypeError);
  });

  it('hashToken is SHA-256 hex (FIPS 180-2 "abc" vector) and verifyHashedToken compares it', () => {
    assert.equal(hashToken('abc'), 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    assert.equal(verifyHashedToken('abc', hashToken('abc')), true);
    assert.equal(verifyHashedToken('abd', hashToken('abc')), false);
    assert.equal(verifyHashedToken('abc', 'not-a-hash'), false);
    assert.equal(verifyHashedToken('abc', hashToken('abc').toUpperCase()), false);
  });
});

describe('requireAdmin', () => {
  it('refuses a missing token with 401 UNAUTHORIZED and a Bearer challenge', async () => {
    const res = await app.inject({ method: 'GET', url: '/api/v1/admin/whoami' });
    assert.equal(res.statusCode, 401);
    assert.equal(res.json().error, 'UNAUTHORIZED');
    assert.match(String(res.headers['www-authenticate']), /^Bearer /);
  });

  it('refuses a malformed header without a database lookup', async () => {
    const before = lookedUp.length;
    for (const authorization of ['Bearer', 'Bearer short', `Basic ${platformToken}`, `Bearer ${platformToken} extra`, `Bearer ${'a'.repeat(600)}`]) {
      const res = await app.inject({ method: 'GET', url: '/api/v1/admin/whoami', headers: { authorization } });
      assert.equal(res.statusCode, 401, authorization.slice(0, 30));
      assert.equal(res.json().error, 'UNAUTHORIZED');
    }
    assert.equal(lookedUp.length, before);
  });

  it('refuses an unknown token with the same 401, looking up only its hash', async () => {
    const wrong = generateToken('pcat');
    const res = await app.inject({ method: 'GET', url: '/api/v1/admin/whoami', headers: bearer(wrong) });
    assert.equal(res.statusCode, 401);
    assert.equal(res.json().error, 'UNAUTHORIZED');
    assert.equal(lookedUp.at(-1), hashToken(wrong));
    assert.ok(!lookedUp.includes(wrong));
  });

  it('accepts a valid token (scheme case-insensitive) and attaches the admin', async () => {
    const res = await app.inject({ method: 'GET', url: '/api/v1/admin/whoami', headers: { authorization: `bearer ${tenantAToken}` } });
    assert.equal(res.statusCode, 200);
    assert.deepEqual(res.json(), { tokenId: 'tok-a', tenantId: 'tenant-a' });
  });

  it('authenticates before parsing: an unauthenticated bad body gets 401, not a validation answer', async () => {
    const res = await app.inject({ method: 'POST', url: '/api/v1/admin/tenants/tenant-a/things', payload: '{not json', headers: { 'content-type': 'application/json' } });
    assert.equal(res.statusCode, 401);
  });

  it('fails closed with 503 when the token store is unreachable', async () => {
    adminLookupFails = true;
    try {
      const res = await app.inject({ method: 'GET', url: '/api/v1/admin/whoami', headers: bearer(platformToken) });
      assert.equal(res.statusCode, 503);
      assert.equal(res.json().error, 'SERVICE_UNAVAILABLE');
    } finally {
      adminLookupFails = false;
    }
  });

  it('a route that forgot the hook fails closed with 401', async () => {
    const res = await app.inject({ method: 'GET', url: '/api/v1/unguarded' });
    assert.equal(res.statusCode, 401);
  });
});

describe('assertTenantAccess (SECURITY rule 8)', () => {
  const post = (token: string, tenantId: string): Promise<LightMyRequestResponse> =>
    app.inject({ method: 'POST', url: `/api/v1/admin/tenants/${tenantId}/things`, headers: bearer(token), payload: { name: 'x' } });

  it('lets a tenant admin reach its own tenant', async () => {
    const res = await post(tenantAToken, 'tenant-a');
    assert.equal(res.statusCode, 200);
    assert.deepEqual(res.json(), { tenantId: 'tenant-a', name: 'x' });
  });

  it('answers 404 NOT_FOUND, not 403, for another tenant: the same answer as a tenant that does not exist', async () => {
    const res = await post(tenantAToken, 'tenant-b');
    assert.equal(res.statusCode, 404);
    assert.deepEqual(res.json(), { error: 'NOT_FOUND', message: 'No such tenant.' });
  });

  it('lets a platform admin reach every tenant', async () => {
    for (const tenantId of ['tenant-a', 'tenant-b']) assert.equal((await post(platformToken, tenantId)).statusCode, 200);
  });
});

describe('requireApplication', () => {
  it('refuses missing or malformed credentials with 401 and a Basic challenge', async () => {
    for (const headers of [{}, { authorization: 'Basic !!!' }, { authorization: `Basic ${Buffer.from('no-colon').toString('base64')}` }, { authorization: `Basic ${Buffer.from(':secret').toString('base64')}` }, bearer(clientSecret)]) {
      const res = await app.inject({ method: 'GET', url: '/api/v1/auth/whoami', headers });
      assert.equal(res.statusCode, 401, JSON.stringify(headers));
      assert.equal(res.json().error, 'UNAUTHORIZED');
      assert.match(String(res.headers['www-authenticate']), /^Basic /);
    }
  });

  it('answers a wrong secret and an unknown client the same way, verifying a dummy hash for the unknown one', async () => {
    const wrong = await app.inject({ method: 'GET', url: '/api/v1/auth/whoami', headers: basic(application.clientId, 'wrong') });
    verified.length = 0;
    const unknown = await app.inject({ method: 'GET', url: '/api/v1/auth/whoami', headers: basic('nobody', clientSecret) });
    assert.equal(wrong.statusCode, 401);
    assert.equal(unknown.statusCode, 401);
    assert.deepEqual(wrong.json(), unknown.json());
    assert.deepEqual(verified, [DUMMY]);
  });

  it('accepts valid form-urlencoded credentials and attaches the application without its secret hash', async () => {
    const res = await app.inject({ method: 'GET', url: '/api/v1/auth/whoami', headers: basic(application.clientId, clientSecret) });
    assert.equal(res.statusCode, 200);
    assert.deepEqual(res.json(), { id: 'app-1', name: 'Shop', firstParty: false });
  });
});
