/**
 * SECURITY issue #7: a client that drops its connection mid-request was logged as "service unavailable" at `warn`
 * (Node reports it as ECONNRESET, which the outage check took for a database socket) — noise in outage alerting.
 * It is logged as a client abort at `info`. A database that is really unreachable is still a 503 at `warn`.
 * Real socket, real log lines.
 */
import assert from 'node:assert/strict';
import { connect, type AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { buildApp, type PortcullisApp } from './app.ts';
import { isClientAbort, toHttpError } from './errors.ts';
import { createLogger } from './logger.ts';

const lines: Record<string, unknown>[] = [];
const destination = new Writable({
  write(chunk: Buffer, _encoding, done): void {
    for (const line of chunk.toString('utf8').split('\n')) if (line.trim() !== '') lines.push(JSON.parse(line) as Record<string, unknown>);
    done();
  },
});

let app: PortcullisApp;
let port = 0;

before(async () => {
  app = await buildApp({
    config: { logLevel: 'info', publicUrl: 'http://localhost', trustProxy: false, rateLimitPerMinute: 0 },
    logger: createLogger({ level: 'info', destination }),
    ping: async () => undefined,
  });
  app.post('/echo', async (request) => ({ got: request.body ?? null }));
  await app.listen({ port: 0, host: '127.0.0.1' });
  port = (app.server.address() as AddressInfo).port;
});
after(() => app.close());

async function waitFor(predicate: () => boolean, ms = 3000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out; log: ${JSON.stringify(lines)}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe('a client that hangs up mid-request', () => {
  it('is logged as a client abort at info, never as "service unavailable"', async () => {
    const requestId = 'abort-test-1';
    const socket = connect(port, '127.0.0.1', () => {
      // Half of the announced body, then the connection is cut.
      socket.write(`POST /echo HTTP/1.1\r\nHost: x\r\nX-Request-Id: ${requestId}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"a":`);
      setTimeout(() => socket.destroy(), 100);
    });
    socket.on('error', () => undefined);
    const mine = (): Record<string, unknown>[] => lines.filter((line) => line['requestId'] === requestId);
    await waitFor(() => mine().some((line) => String(line['msg']).startsWith('client aborted the request')));
    await new Promise((resolve) => setTimeout(resolve, 200)); // anything logged after it
    const abort = mine().find((line) => String(line['msg']).startsWith('client aborted the request'));
    assert.ok(abort !== undefined, JSON.stringify(mine()));
    assert.equal(abort['level'], 'info');
    assert.ok(!mine().some((line) => line['msg'] === 'service unavailable' || line['level'] === 'warn' || line['level'] === 'error'), JSON.stringify(mine()));
    // Node's parser sees the cut too (the connection ended inside the request): not a refusal to log at info.
    assert.ok(!lines.some((line) => line['msg'] === 'request refused by the HTTP parser'), JSON.stringify(lines));
  });

  it("only Node's request abort counts as one; a database socket reset is still an outage (503, warn)", () => {
    const abort = Object.assign(new Error('aborted'), { code: 'ECONNRESET' });
    const database = Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' });
    assert.equal(isClientAbort(abort), true);
    assert.equal(isClientAbort(database), false);
    assert.deepEqual([toHttpError(abort).status, toHttpError(abort).level], [400, 'info']);
    assert.deepEqual([toHttpError(database).status, toHttpError(database).level], [503, 'warn']);
  });
});
