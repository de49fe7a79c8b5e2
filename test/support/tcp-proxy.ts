/**
 * A TCP proxy on 127.0.0.1 that a test can cut: `down()` destroys every open connection and refuses new ones (what
 * clients see when a database server stops), `silence()` keeps every connection open and accepts new ones but
 * forwards nothing either way (a black-holed database: no reset, no answer — what a dropped route or a frozen host
 * looks like), `up()` forwards again. Used to take PostgreSQL away from a running server without touching the
 * machine's PostgreSQL, which other test files share.
 */
import { createServer, connect, type Server, type Socket } from 'node:net';

export interface TcpProxy {
  readonly port: number;
  down(): void;
  silence(): void;
  up(): void;
  close(): Promise<void>;
}

export async function startTcpProxy(target: { host: string; port: number }): Promise<TcpProxy> {
  let open = true;
  let silent = false;
  const sockets = new Set<Socket>();
  const track = (socket: Socket): void => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
  };
  const server: Server = createServer((client) => {
    track(client);
    if (!open) {
      client.destroy();
      return;
    }
    const upstream = connect(target.port, target.host);
    track(upstream);
    // Byte by byte rather than pipe(): a silenced proxy drops what it would have forwarded.
    client.on('data', (chunk: Buffer) => {
      if (!silent) upstream.write(chunk);
    });
    upstream.on('data', (chunk: Buffer) => {
      if (!silent) client.write(chunk);
    });
    client.once('close', () => upstream.destroy());
    upstream.once('close', () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('the proxy has no TCP port');
  return {
    port: address.port,
    down: () => {
      open = false;
      for (const s of sockets) s.destroy();
    },
    silence: () => {
      silent = true;
    },
    up: () => {
      open = true;
      silent = false;
    },
    close: async () => {
      open = false;
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
