import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { connect } from 'node:net';
import { describe, it } from 'node:test';
import { startServer, type ServerDeps } from '../server.ts';

const config: ServerDeps['config'] = { port: 0, host: '127.0.0.1', logLevel: 'silent', publicUrl: 'http://localhost', trustProxy: false, rateLimitPerMinute: 0 };

/** A controllable slow route: resolves `started` when the handler begins, answers when `release` is called. */
function slowRoute(events: string[] = []): { registerRoutes: ServerDeps['registerRoutes']; started: Promise<void>; release: () => void } {
  let markStarted = (): void => undefined;
  let release = (): void => undefined;
  const started = new Promise<void>((resolve) => (markStarted = resolve));
  const released = new Promise<void>((resolve) => (release = resolve));
  return {
    started,
    release,
    registerRoutes: async (api) => {
      // Server side: the response has been written before onClose may run.
      api.addHook('onResponse', async () => void events.push('in-flight answered'));
      api.get('/slow', async () => {
        markStarted();
        await released;
        return { done: true };
      });
    },
  };
}

/** GET over a fresh connection (no pooling), so "refused" really means the listener is gone. */
function get(url: string): Promise<{ status: number; body: string; headers: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

describe('a real listening socket', () => {
  it('serves /healthz with fetch, then shuts down on a signal: finishes in-flight work, refuses new connections, runs onClose, exits 0', async () => {
    const events: string[] = [];
    const slow = slowRoute(events);
    let exitCode: number | undefined;
    let onExit = (): void => undefined;
    const exitCalled = new Promise<void>((resolve) => (onExit = resolve));

    const listenersBefore = process.listenerCount('SIGTERM');
    const server = await startServer({
      config,
      ping: async () => undefined,
      registerRoutes: slow.registerRoutes,
      onClose: [() => void events.push('store closed')],
      signals: ['SIGTERM'],
      exit: (code) => {
        exitCode = code;
        onExit();
      },
    });
    assert.match(server.url, /^http:\/\/127\.0\.0\.1:\d+$/);

    const health = await fetch(`${server.url}/healthz`, { headers: { 'x-request-id': 'socket-1' } });
    assert.equal(health.status, 200);
    assert.deepEqual(await health.json(), { status: 'ok' });
    assert.equal(health.headers.get('x-request-id'), 'socket-1');

    const inFlight = get(`${server.url}/api/v1/slow`);
    await slow.started;

    process.emit('SIGTERM', 'SIGTERM');
    // The listener closes at once; a new connection is refused while the slow request is still running.
    await new Promise((resolve) => setTimeout(resolve, 50));
    await assert.rejects(get(`${server.url}/healthz`), (error: NodeJS.ErrnoException) => error.code === 'ECONNREFUSED');
    assert.deepEqual(events, []);

    slow.release();
    const answered = await inFlight;
    assert.equal(answered.status, 200);
    assert.deepEqual(JSON.parse(answered.body), { done: true });

    await exitCalled;
    assert.equal(exitCode, 0);
    assert.deepEqual(events, ['in-flight answered', 'store closed']);
    assert.equal(process.listenerCount('SIGTERM'), listenersBefore, 'signal handlers are removed');
  });

  it('answers a request that arrives on an open connection during the drain with 503 SERVICE_UNAVAILABLE and Connection: close', async () => {
    const slow = slowRoute();
    const server = await startServer({ config, ping: async () => undefined, registerRoutes: slow.registerRoutes, signals: [] });
    const { port } = new URL(server.url);
    const socket = connect(Number(port), '127.0.0.1');
    let received = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => (received += chunk));
    const ended = new Promise<void>((resolve) => socket.on('close', () => resolve()));
    socket.write('GET /api/v1/slow HTTP/1.1\r\nHost: localhost\r\n\r\n');
    await slow.started;
    const closing = server.shutdown('test');
    await new Promise((resolve) => setTimeout(resolve, 50));
    // A second request on the same keep-alive connection, sent after the drain began.
    socket.write('GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Request-Id: late-1\r\n\r\n');
    await new Promise((resolve) => setTimeout(resolve, 50));
    slow.release();
    await ended;
    assert.equal(await closing, 0);
    const responses = received.split(/(?=HTTP\/1\.1 )/);
    assert.match(responses[0] ?? '', /^HTTP\/1\.1 200/);
    assert.match(responses[1] ?? '', /^HTTP\/1\.1 503/);
    assert.match(responses[1] ?? '', /connection: close/i);
    assert.match(responses[1] ?? '', /x-request-id: late-1/i);
    assert.match(responses[1] ?? '', /"error":"SERVICE_UNAVAILABLE"/);
  });

  it('cuts requests that outlive the shutdown timeout, then still runs onClose', async () => {
    const slow = slowRoute();
    const events: string[] = [];
    const server = await startServer({
      config,
      ping: async () => undefined,
      registerRoutes: slow.registerRoutes,
      onClose: [() => void events.push('store closed')],
      signals: [],
      shutdownTimeoutMs: 100,
    });
    const hanging = get(`${server.url}/api/v1/slow`);
    await slow.started;
    const started = performance.now();
    assert.equal(await server.shutdown('test'), 0);
    assert.ok(performance.now() - started < 2000);
    await assert.rejects(hanging);
    assert.deepEqual(events, ['store closed']);
    assert.equal(await server.shutdown('again'), 0, 'idempotent');
    slow.release();
  });

  it('reports a failing onClose step with exit code 1 and still runs the others', async () => {
    const events: string[] = [];
    const server = await startServer({
      config,
      ping: async () => undefined,
      signals: [],
      onClose: [
        () => {
          throw new Error('close failed');
        },
        () => void events.push('second step ran'),
      ],
    });
    assert.equal(await server.shutdown(), 1);
    assert.deepEqual(events, ['second step ran']);
  });
});
