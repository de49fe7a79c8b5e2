/**
 * Signed sign-in results, checked the way an application checks them: offline, against `/.well-known/jwks.json`,
 * with an independent JOSE implementation — node:crypto over `header.payload`, not jose and not our code path.
 * - a result verifies and carries exactly the claims given; it lives at most 5 minutes;
 * - after a rotation, a token signed before still verifies until it expires, new tokens carry the new kid, and a
 *   node that has not seen the rotation yet signs only with a key that stays published for the token's life;
 * - the private key is sealed at rest (no column holds the JWK's `d`) and bound to its row;
 * - a row written without the secret key is never published and never signs;
 * - nodes calling ensureKey together on one empty database leave exactly one active key (PostgreSQL: one pool
 *   each, as separate nodes); concurrent rotations each land and leave one active key.
 */
import assert from 'node:assert/strict';
import { createPublicKey, generateKeyPairSync, randomBytes, verify, type JsonWebKey } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { isPortcullisError } from '../../src/core/index.ts';
import { createSecretBox } from '../../src/factors/secret-box.ts';
import { buildApp, type PortcullisApp } from '../../src/http/app.ts';
import { JWKS_MAX_AGE_SECONDS, registerWellKnownRoutes } from '../../src/http/routes/well-known.ts';
import type { SecretSealer } from '../../src/services/deps.ts';
import {
  CLOCK_SKEW_MS,
  createResultSigner,
  KEY_CACHE_MS,
  MAX_RESULT_LIFETIME_MS,
  RESULT_TOKEN_TYPE,
  signingKeyAad,
  type ResultClaims,
  type ResultSigner,
} from '../../src/services/signing-keys.ts';
import { createStore, migrateToLatest, openDatabase, type Database, type Store } from '../../src/store/index.ts';
import { forEachDialect, openTestDatabase, type Dialect } from '../support/harness.ts';
import { createFreshSchema, dropSchema, postgresTestUrl } from '../support/postgres.ts';

const ISSUER = 'https://mfa.example.test';
const T0 = Date.UTC(2026, 2, 1, 12, 0, 0);
const MIN = 60_000;
const silent = { info: (): void => {}, warn: (): void => {}, error: (): void => {} };

const CLAIMS: ResultClaims = {
  subject: 'user-1',
  audience: 'client-abc',
  tenantId: 'tenant-1',
  sessionId: 'sess_public_1',
  amr: ['pwd', 'otp', 'mfa'],
  acr: 'urn:portcullis:acr:mfa',
  authTime: T0 - 30_000,
};

interface JwkSet {
  readonly keys: ReadonlyArray<JsonWebKey & { kid: string }>;
}

function decodePart(part: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(part, 'base64url').toString('utf8')) as Record<string, unknown>;
}

/**
 * RFC 7515 §5.2 by hand: split the compact JWS, pick the JWK by `kid`, and check the ES256 signature (R || S,
 * 64 bytes: RFC 7518 §3.4 — hence `ieee-p1363`) over the ASCII of `header.payload` with node:crypto.
 */
function verifyIndependently(token: string, jwks: JwkSet): { header: Record<string, unknown>; payload: Record<string, unknown> } {
  const parts = token.split('.');
  assert.equal(parts.length, 3, 'a compact JWS has three parts');
  const [h = '', p = '', s = ''] = parts;
  const header = decodePart(h);
  assert.equal(header.alg, 'ES256');
  const jwk = jwks.keys.find((k) => k.kid === header.kid);
  assert.ok(jwk !== undefined, `kid ${String(header.kid)} is not in the published key set`);
  const key = createPublicKey({ key: jwk, format: 'jwk' });
  const signature = Buffer.from(s, 'base64url');
  assert.equal(signature.length, 64);
  assert.ok(verify('sha256', Buffer.from(`${h}.${p}`, 'ascii'), { key, dsaEncoding: 'ieee-p1363' }, signature), 'the signature verifies');
  return { header, payload: decodePart(p) };
}

async function fetchJwks(app: PortcullisApp): Promise<{ set: JwkSet; headers: Record<string, unknown> }> {
  const res = await app.inject({ method: 'GET', url: '/.well-known/jwks.json' });
  assert.equal(res.statusCode, 200);
  return { set: JSON.parse(res.body) as JwkSet, headers: res.headers };
}

/** A signer (one node) with its JWKS route, over a store; the app's clock is `clock.now`. */
async function nodeOf(store: Store, secrets: SecretSealer, clock: { now: () => number }, cacheMs?: number): Promise<{ signer: ResultSigner; app: PortcullisApp }> {
  const signer = createResultSigner({ store, secrets, logger: silent }, { issuer: ISSUER, ...(cacheMs === undefined ? {} : { cacheMs }) });
  const app = await buildApp({
    config: { logLevel: 'silent', publicUrl: 'http://localhost', trustProxy: false, rateLimitPerMinute: 0 },
    ping: async () => {},
    registerRootRoutes: (root) => registerWellKnownRoutes(root, signer, clock.now),
  });
  await app.ready();
  return { signer, app };
}

function rejectsWithCode(promise: Promise<unknown>, code: string): Promise<void> {
  return assert.rejects(promise, (error: unknown) => isPortcullisError(error) && error.code === code);
}

forEachDialect((dialect: Dialect) => {
  describe('one node', () => {
    let database: Database;
    let dispose: () => Promise<void>;
    let store: Store;
    const secrets = createSecretBox(randomBytes(32));
    let now = T0;
    const clock = { now: (): number => now };
    let node: { signer: ResultSigner; app: PortcullisApp };

    before(async () => {
      ({ database, dispose } = await openTestDatabase(dialect));
      await migrateToLatest(database);
      store = createStore(database);
      node = await nodeOf(store, secrets, clock);
    });
    after(async () => {
      await node.app.close();
      await dispose();
    });

    it('a result JWT verifies with node:crypto against the JWKS route, and its claims are exactly those given', async () => {
      now = T0;
      const first = await node.signer.ensureKey(now);
      assert.equal(first.state, 'active');
      assert.equal((await node.signer.ensureKey(now)).kid, first.kid, 'ensureKey is idempotent');

      const token = await node.signer.signResult(CLAIMS, now);
      const { set, headers } = await fetchJwks(node.app);
      assert.match(String(headers['content-type']), /^application\/jwk-set\+json/);
      assert.equal(headers['cache-control'], `public, max-age=${JWKS_MAX_AGE_SECONDS}`);
      assert.deepEqual(set.keys.map((k) => Object.keys(k).sort()), [['alg', 'crv', 'kid', 'kty', 'use', 'x', 'y']], 'public parts only');

      const { header, payload } = verifyIndependently(token, set);
      assert.deepEqual(header, { alg: 'ES256', kid: first.kid, typ: RESULT_TOKEN_TYPE });
      assert.equal(typeof payload.jti, 'string');
      assert.equal(Buffer.from(String(payload.jti), 'base64url').length, 16);
      assert.deepEqual(
        { ...payload, jti: undefined },
        {
          iss: ISSUER,
          sub: 'user-1',
          aud: 'client-abc',
          tenant: 'tenant-1',
          sid: 'sess_public_1',
          amr: ['pwd', 'otp', 'mfa'],
          acr: 'urn:portcullis:acr:mfa',
          auth_time: (T0 - 30_000) / 1000,
          iat: T0 / 1000,
          exp: (T0 + MAX_RESULT_LIFETIME_MS) / 1000,
          jti: undefined,
        },
      );
      assert.notEqual(verifyIndependently(await node.signer.signResult(CLAIMS, now), set).payload.jti, payload.jti, 'every token has its own jti');
    });

    it('exp is at most 5 minutes after iat: a shorter lifetime is kept, a longer one refused', async () => {
      now = T0 + 1234;
      const { set } = await fetchJwks(node.app);
      const short = verifyIndependently(await node.signer.signResult(CLAIMS, now, { lifetimeMs: 60_000 }), set).payload;
      assert.equal(short.exp, Math.floor((now + 60_000) / 1000));
      const full = verifyIndependently(await node.signer.signResult(CLAIMS, now), set).payload;
      assert.ok(Number(full.exp) * 1000 <= now + MAX_RESULT_LIFETIME_MS, 'exp never passes now + 5 min');
      assert.ok(Number(full.exp) - Number(full.iat) <= 300);
      await rejectsWithCode(node.signer.signResult(CLAIMS, now, { lifetimeMs: MAX_RESULT_LIFETIME_MS + 1 }), 'INTERNAL');
      await rejectsWithCode(node.signer.signResult({ ...CLAIMS, amr: [] }, now), 'INTERNAL');
      await rejectsWithCode(node.signer.signResult({ ...CLAIMS, audience: '' }, now), 'INTERNAL');
    });

    it('after rotate, a token signed before verifies against the JWKS until its expiry; new tokens carry the new kid', async () => {
      now = T0 + 2 * MIN;
      const before = await node.signer.ensureKey(now);
      const oldToken = await node.signer.signResult(CLAIMS, now);
      const oldExp = Number(verifyIndependently(oldToken, (await fetchJwks(node.app)).set).payload.exp) * 1000;

      now += 1000;
      const report = await node.signer.rotate(now, 'test');
      assert.equal(report.retiredKid, before.kid);
      assert.notEqual(report.active.kid, before.kid);
      assert.ok(report.retiredUntil !== null && report.retiredUntil >= oldExp + CLOCK_SKEW_MS, 'published past the expiry of everything it signed');

      const newToken = await node.signer.signResult(CLAIMS, now);
      const afterRotation = (await fetchJwks(node.app)).set;
      assert.equal(verifyIndependently(newToken, afterRotation).header.kid, report.active.kid);
      assert.deepEqual(afterRotation.keys.map((k) => k.kid), [report.active.kid, before.kid], 'active first, then the retiring key');
      assert.equal(verifyIndependently(oldToken, afterRotation).header.kid, before.kid);

      // At the old token's last second, its key is still published.
      now = oldExp;
      assert.equal(verifyIndependently(oldToken, (await fetchJwks(node.app)).set).header.kid, before.kid);
      // Once retireAfter has passed, the old key is gone from the set; the new one stays.
      now = (report.retiredUntil ?? 0) + 1;
      assert.deepEqual((await fetchJwks(node.app)).set.keys.map((k) => k.kid), [report.active.kid]);
      assert.throws(() => verifyIndependently(oldToken, { keys: [] }));
      const listed = await node.signer.listKeys(now);
      assert.deepEqual(listed.map((k) => [k.kid, k.state, k.published]), [[report.active.kid, 'active', true], [before.kid, 'retiring', false]]);

      // The next rotation deletes keys whose publication has ended.
      const next = await node.signer.rotate(now, 'test');
      assert.equal(next.deleted, 1);
      assert.equal(await store.signingKeys.get(before.kid), null);
      const audit = await store.audit.list({ tenantId: null, events: ['signing_key.rotated'] });
      assert.deepEqual(audit.items.map((e) => e.subject), [next.active.kid, report.active.kid]);
      assert.equal(audit.items[1]?.data.retiredKid, before.kid);
    });

    it('a node that has not seen a rotation yet signs with its cached key only while that key stays published for the token’s life', async () => {
      now = T0 + 60 * MIN;
      const other = await nodeOf(store, secrets, clock, KEY_CACHE_MS);
      try {
        const k1 = (await other.signer.ensureKey(now)).kid;
        await other.signer.signResult(CLAIMS, now); // caches k1 as active
        const rotation = await node.signer.rotate(now + 1, 'test');
        assert.equal(rotation.retiredKid, k1);

        // Within its cache time the other node still signs with k1 …
        const staleAt = now + KEY_CACHE_MS - 1;
        const stale = await other.signer.signResult(CLAIMS, staleAt);
        const setThen = (await fetchJwks(node.app)).set;
        const { header, payload } = verifyIndependently(stale, setThen);
        assert.equal(header.kid, k1);
        // … and k1 is published until after that token expires (with the clock skew to spare).
        assert.ok((rotation.retiredUntil ?? 0) >= Number(payload.exp) * 1000 + CLOCK_SKEW_MS);
        // Past its cache time it picks up the new key.
        const freshToken = await other.signer.signResult(CLAIMS, now + KEY_CACHE_MS);
        assert.equal(verifyIndependently(freshToken, (await fetchJwks(node.app)).set).header.kid, rotation.active.kid);
      } finally {
        await other.app.close();
      }
    });

    it('the private key is sealed at rest: no column holds the JWK’s d, and the sealed value opens only for its own kid', async () => {
      now = T0 + 120 * MIN;
      const active = await node.signer.ensureKey(now);
      const privateSet = await node.signer.signingJwks(now);
      const privateJwk = privateSet.keys.find((k) => k.kid === active.kid);
      assert.ok(typeof privateJwk?.d === 'string' && privateJwk.d.length > 20);
      const d = privateJwk.d;

      const rows = await database.db.selectFrom('signing_keys').selectAll().execute();
      assert.ok(rows.length >= 1);
      for (const row of rows) {
        for (const [column, value] of Object.entries(row)) {
          assert.ok(!String(value).includes(d), `column ${column} holds the private key`);
          assert.ok(!String(value).includes('"d"'), `column ${column} holds a JWK with d`);
        }
      }
      const row = rows.find((r) => r.kid === active.kid);
      assert.ok(row !== undefined);
      assert.match(row.private_jwk_sealed, /^v1\./);
      const opened = JSON.parse(secrets.open(row.private_jwk_sealed, signingKeyAad(active.kid)).toString('utf8')) as { d: string };
      assert.equal(opened.d, d);
      assert.throws(() => secrets.open(row.private_jwk_sealed, signingKeyAad('another-kid')), 'bound to its row');
    });

    it('a row changed without the secret key is never published and never signs', async () => {
      now = T0 + 180 * MIN;
      // A fresh signer: nothing of the genuine key cached.
      const victim = await nodeOf(store, secrets, clock, 0);
      try {
        const active = await victim.signer.ensureKey(now);
        const genuine = (await fetchJwks(victim.app)).set.keys.find((k) => k.kid === active.kid);
        assert.ok(genuine !== undefined);
        // Someone with write access to the database, but not the secret key, swaps in their own public key.
        const attacker = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ format: 'jwk' });
        await database.db
          .updateTable('signing_keys')
          .set({ public_jwk: JSON.stringify({ ...genuine, x: attacker.x, y: attacker.y }) })
          .where('kid', '=', active.kid)
          .execute();
        const fresh = await nodeOf(store, secrets, clock, 0);
        try {
          assert.deepEqual((await fetchJwks(fresh.app)).set.keys.filter((k) => k.kid === active.kid), [], 'the tampered key is not published');
          await rejectsWithCode(fresh.signer.signResult(CLAIMS, now), 'INTERNAL');
        } finally {
          await fresh.app.close();
        }
        // Repaired, the key opens again; a rotation run with another secret key is refused and changes nothing.
        await database.db.updateTable('signing_keys').set({ public_jwk: JSON.stringify(genuine) }).where('kid', '=', active.kid).execute();
        const another = createSecretBox(randomBytes(32));
        const wrongSecret = createResultSigner({ store, secrets: another, logger: silent }, { issuer: ISSUER, cacheMs: 0 });
        await rejectsWithCode(wrongSecret.rotate(now, 'test'), 'INTERNAL');
        assert.equal((await store.signingKeys.getActive())?.kid, active.kid);
      } finally {
        await victim.app.close();
      }
    });
  });

  describe('several nodes on one database', () => {
    const NODES = 6;
    let stores: Store[];
    let close: () => Promise<void>;

    before(async () => {
      if (dialect === 'sqlite') {
        const opened = await openTestDatabase('sqlite');
        await migrateToLatest(opened.database);
        const store = createStore(opened.database);
        stores = Array.from({ length: NODES }, () => store);
        close = opened.dispose;
        return;
      }
      const url = postgresTestUrl();
      if (url === undefined) throw new Error('PORTCULLIS_TEST_DATABASE_URL is not set');
      const schema = await createFreshSchema(url, 'portcullis_keys');
      const databases: Database[] = [];
      for (let i = 0; i < NODES; i++) databases.push(await openDatabase({ url, schema, poolSize: 2 }));
      await migrateToLatest(databases[0] as Database);
      stores = databases.map((d) => createStore(d));
      close = async () => {
        for (const d of databases) await d.close();
        await dropSchema(url, schema);
      };
    });
    after(() => close());

    it('nodes calling ensureKey together on an empty database leave exactly one active key, and all of them report it', async () => {
      const secrets = createSecretBox(randomBytes(32));
      const signers = stores.map((store) => createResultSigner({ store, secrets, logger: silent }, { issuer: ISSUER }));
      const results = await Promise.all(signers.map((s) => s.ensureKey(T0)));
      const store = stores[0] as Store;
      const keys = await store.signingKeys.list();
      assert.equal(keys.length, 1, `keys stored: ${keys.length}`);
      assert.equal(keys[0]?.state, 'active');
      assert.deepEqual(new Set(results.map((r) => r.kid)), new Set([keys[0]?.kid]));
      assert.equal((await store.audit.list({ tenantId: null, events: ['signing_key.created'] })).items.length, 1, 'one creation audited');

      // Concurrent rotations each land (a loser retries from the winner's key) and leave one active key.
      const reports = await Promise.all(signers.slice(0, 4).map((s, i) => s.rotate(T0 + 1000 + i, `node-${i}`)));
      const after = await store.signingKeys.list();
      assert.equal(after.filter((k) => k.state === 'active').length, 1);
      assert.equal(after.length, 5);
      assert.equal(new Set(reports.map((r) => r.active.kid)).size, 4);
      assert.equal((await signers[5]?.jwks(T0 + 2000))?.keys.length, 5, 'every key is published');
    });
  });
});

