/**
 * Real server processes for tests and benchmarks: `node src/cli/main.ts start` as a child, on a database the caller
 * prepared (PostgreSQL URL with a `search_path`, so each run keeps to its own schema), on a free loopback port.
 * Each child runs in its own process group; `stop()` ends that group (SIGTERM, then SIGKILL).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, type AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** A free loopback port right now (the server binds it a moment later). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** A PostgreSQL URL whose connections use `schema` (libpq `options=-c search_path=…`). */
export function urlWithSchema(url: string, schema: string): string {
  const u = new URL(url);
  u.searchParams.set('options', `-c search_path=${schema}`);
  return u.toString();
}

export interface ServerProcess {
  readonly url: string;
  readonly child: ChildProcess;
  /** What the process wrote so far (stdout and stderr). */
  output(): string;
  stop(): Promise<void>;
}

/** Starts one server process and waits until it listens (30 s at most). */
export async function startServerProcess(env: { databaseUrl: string; secretKey: string; extra?: Record<string, string> }): Promise<ServerProcess> {
  const port = await freePort();
  const base: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) if (!key.toLowerCase().startsWith('npm_')) base[key] = value;
  const child = spawn(process.execPath, [`${ROOT}src/cli/main.ts`, 'start'], {
    cwd: ROOT,
    env: { ...base, PORTCULLIS_PROFILE: 'dev', DATABASE_URL: env.databaseUrl, PORTCULLIS_SECRET_KEY: env.secretKey, HOST: '127.0.0.1', PORT: String(port), LOG_LEVEL: 'warn', ...env.extra },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const url = `http://127.0.0.1:${port}`;
  const stop = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    try {
      process.kill(-child.pid, 'SIGTERM');
    } catch {
      return;
    }
    const timer = setTimeout(() => {
      try {
        if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }, 5_000);
    await exited;
    clearTimeout(timer);
  };
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`the server exited early: ${output}`);
    try {
      const res = await fetch(`${url}/healthz`);
      if (res.ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`the server did not start: ${output}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return { url, child, output: () => output, stop };
}
