/**
 * SECURITY issue #7: what Node's HTTP parser refuses before Fastify sees the request — oversized headers, a repeated
 * Content-Length, Content-Length with Transfer-Encoding, bad chunking, a NUL in a header, not HTTP at all — is
 * answered in the stable `{ "error", "message" }` shape with a code from the table (`REQUEST_HEADER_TOO_LARGE` for
 * 431, `INVALID_REQUEST` for 400), and the connection is closed. Raw bytes over a real socket.
 */
import assert from 'node:assert/strict';
import { connect, type AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { buildApp, type PortcullisApp } from './app.ts';
import { clientErrorAnswer, HTTP_STATUS_BY_CODE } from './errors.ts';

interface RawAnswer {
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly body: unknown;
  /** The server closed the connection after answering. */
  readonly closed: boolean;
}

let app: PortcullisApp;
let port = 0;

before(async () => {
  app = await buildApp({ config: { logLevel: 'silent', publicUrl: 'http://localhost', trustProxy: false, rateLimitPerMinute: 0 }, ping: async () => undefined });
  app.post('/echo', async (request) => ({ got: request.body ?? null }));
  await app.listen({ port: 0, host: '127.0.0.1' });
  port = (app.server.address() as AddressInfo).port;
});
after(() => app.close());

/** Sends `raw` as is and reads the answer until the server closes (or 3 s pass). */
function send(raw: string | Buffer): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => socket.write(raw));
    const chunks: Buffer[] = [];
    let closed = false;
    const timer = setTimeout(() => socket.destroy(), 3000);
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('end', () => (closed = true));
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearTimeout(timer);
      const text = Buffer.concat(chunks).toString('utf8');
      const split = text.indexOf('\r\n\r\n');
      if (split < 0) return reject(new Error(`no HTTP answer: ${JSON.stringify(text)}`));
      const [statusLine = '', ...lines] = text.slice(0, split).split('\r\n');
      const headers: Record<string, string> = {};
      for (const line of lines) headers[line.slice(0, line.indexOf(':')).toLowerCase()] = line.slice(line.indexOf(':') + 1).trim();
      resolve({ status: Number(statusLine.split(' ')[1]), headers, body: JSON.parse(text.slice(split + 4)) as unknown, closed });
    });
  });
}

const CASES: readonly { name: string; raw: string; status: number; error: string }[] = [
  { name: 'headers larger than the limit', raw: `GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(70_000)}\r\n\r\n`, status: 431, error: 'REQUEST_HEADER_TOO_LARGE' },
  { name: 'a repeated Content-Length', raw: 'POST /echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}', status: 400, error: 'INVALID_REQUEST' },
  { name: 'Content-Length together with Transfer-Encoding', raw: 'POST /echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n', status: 400, error: 'INVALID_REQUEST' },
  { name: 'a chunk size that is not hexadecimal', raw: 'POST /echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n', status: 400, error: 'INVALID_REQUEST' },
  { name: 'a NUL in a header value', raw: 'GET /healthz HTTP/1.1\r\nHost: x\r\nX-Name: a\u0000b\r\n\r\n', status: 400, error: 'INVALID_REQUEST' },
  { name: 'a request line that is not HTTP', raw: 'HELLO THERE\r\n\r\n', status: 400, error: 'INVALID_REQUEST' },
];

describe("Node's own refusals keep the error shape (real socket, raw bytes)", () => {
  for (const c of CASES) {
    it(`${c.name} → ${c.status} ${c.error} as JSON, connection closed`, async () => {
      const answer = await send(c.raw);
      assert.equal(answer.status, c.status);
      assert.equal(answer.headers['content-type'], 'application/json; charset=utf-8');
      assert.equal(answer.headers['connection'], 'close');
      assert.deepEqual(Object.keys(answer.body as object).sort(), ['error', 'message']);
      assert.equal((answer.body as { error: string }).error, c.error);
      assert.equal(HTTP_STATUS_BY_CODE[c.error as keyof typeof HTTP_STATUS_BY_CODE], c.status, 'the code is in the status table');
      assert.ok(answer.closed, 'the server closed the connection');
    });
  }

  it('the message never repeats the request bytes', async () => {
    const answer = await send('GET /healthz HTTP/1.1\r\nHost: x\r\nX-Secret: pat_topsecret\u0000\r\n\r\n');
    assert.ok(!JSON.stringify(answer.body).includes('topsecret'));
  });

  it('a well-formed request on the same server still answers normally', async () => {
    const answer = await send('GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    assert.equal(answer.status, 200);
    assert.deepEqual(answer.body, { status: 'ok' });
  });

  it('a request that took too long answers 408 REQUEST_TIMEOUT; a reset connection gets nothing', () => {
    assert.deepEqual(clientErrorAnswer({ code: 'ERR_HTTP_REQUEST_TIMEOUT' }), { status: 408, body: { error: 'REQUEST_TIMEOUT', message: 'The request did not arrive in time.' } });
    assert.equal(clientErrorAnswer({ code: 'ECONNRESET' }), null);
  });
});
