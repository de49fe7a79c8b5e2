/**
 * Issue #8 item 6: with the development clock on, `X-Portcullis-Now` (an ISO-8601 instant or epoch milliseconds)
 * is the request's "now" as `requestNow` gives it to services; a malformed value answers `400 INVALID_REQUEST`
 * naming the header; without the header the server's clock is used. With the setting off (the default, and the
 * only possibility in production) the header changes nothing, malformed or not.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { buildApp, type PortcullisApp } from './app.ts';
import { parseDevClock, requestNow } from './dev-clock.ts';

const SERVER_NOW = 1_700_000_000_000;

async function appWith(devClockHeader: boolean | undefined): Promise<PortcullisApp> {
  const app = await buildApp({
    config: { logLevel: 'silent', publicUrl: 'http://localhost', trustProxy: false, rateLimitPerMinute: 0, ...(devClockHeader === undefined ? {} : { devClockHeader }) },
    ping: async () => undefined,
    registerRoutes: async (api) => {
      api.get('/now', async (request) => {
        const now = requestNow(request, () => SERVER_NOW);
        // Read twice: the override is one fixed instant for the whole request.
        return { now: now(), again: now() };
      });
    },
  });
  await app.ready();
  return app;
}

const ask = async (app: PortcullisApp, header?: string): Promise<{ status: number; body: Record<string, unknown> }> => {
  const res = await app.inject({ method: 'GET', url: '/api/v1/now', headers: header === undefined ? {} : { 'x-portcullis-now': header } });
  return { status: res.statusCode, body: res.json() };
};

describe('X-Portcullis-Now with the dev clock on', () => {
  let app: PortcullisApp;
  before(async () => {
    app = await appWith(true);
  });
  after(() => app.close());

  it('an ISO-8601 instant or epoch milliseconds is the request\'s now', async () => {
    assert.deepEqual((await ask(app, '2030-01-31T12:00:00Z')).body, { now: Date.UTC(2030, 0, 31, 12), again: Date.UTC(2030, 0, 31, 12) });
    assert.deepEqual((await ask(app, '2030-01-31T13:00:00.250+01:00')).body, { now: Date.UTC(2030, 0, 31, 12, 0, 0, 250), again: Date.UTC(2030, 0, 31, 12, 0, 0, 250) });
    assert.deepEqual((await ask(app, '1893456000000')).body, { now: 1_893_456_000_000, again: 1_893_456_000_000 });
  });

  it('without the header, the server clock', async () => {
    assert.deepEqual((await ask(app)).body, { now: SERVER_NOW, again: SERVER_NOW });
  });

  it('a malformed value → 400 INVALID_REQUEST naming the header, never the real clock by mistake', async () => {
    for (const bad of ['tomorrow', '2030-01-31', '2030-01-31T12:00:00', '2030-02-30T00:00:00Z', '-5', '1.5', '99999999999999999', '', ' ']) {
      const res = await ask(app, bad);
      assert.equal(res.status, 400, JSON.stringify(bad));
      assert.equal(res.body['error'], 'INVALID_REQUEST');
      assert.equal(res.body['field'], 'headers.x-portcullis-now');
    }
  });

  it('a repeated header is refused too', async () => {
    const res = await app.inject({ method: 'GET', url: '/api/v1/now', headers: { 'x-portcullis-now': ['1893456000000', '1893456000001'] } });
    assert.equal(res.statusCode, 400);
  });
});

describe('X-Portcullis-Now with the dev clock off', () => {
  for (const setting of [false, undefined]) {
    it(`(devClockHeader ${String(setting)}) changes nothing, malformed or not`, async () => {
      const app = await appWith(setting);
      try {
        for (const header of ['2030-01-31T12:00:00Z', '1893456000000', 'tomorrow']) {
          assert.deepEqual(await ask(app, header), { status: 200, body: { now: SERVER_NOW, again: SERVER_NOW } });
        }
      } finally {
        await app.close();
      }
    });
  }
});

describe('parseDevClock', () => {
  it('reads both forms and refuses the rest', () => {
    assert.equal(parseDevClock('2030-01-01T00:00:00Z'), Date.UTC(2030, 0, 1));
    assert.equal(parseDevClock(' 0 '), 0);
    assert.equal(parseDevClock('8640000000000001'), null);
    assert.equal(parseDevClock('2030-01-01 00:00:00Z'), null);
  });
});
