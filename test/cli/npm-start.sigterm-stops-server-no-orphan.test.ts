/**
 * Issue #8 item 7: `npm start` stopped with SIGTERM stops the server. npm forwards the signal to the shell it runs
 * the script in; without `exec` that shell died and left Node listening, reparented. Proved on the real thing:
 * `npm start` with a temporary data folder and port, SIGTERM to npm's process only, then the port is closed and no
 * process npm started is left, within a few seconds. A launcher that does not pass signals on at all (the shell
 * `npx` uses) is covered by the parent watch: the server notices it was orphaned and shuts down.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { freePort } from '../support/server-process.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const cleanups: (() => void)[] = [];
after(() => {
  for (const cleanup of cleanups) cleanup();
});

function environment(port: number, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-npm-start-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  // A fresh environment as a terminal or a supervisor would give, not the one of the npm running these tests.
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) if (!key.toLowerCase().startsWith('npm_')) env[key] = value;
  return {
    ...env,
    PORTCULLIS_PROFILE: 'dev',
    PORTCULLIS_DATA_DIR: dir,
    PORTCULLIS_SECRET_KEY: randomBytes(32).toString('base64'),
    DATABASE_URL: '',
    HOST: '127.0.0.1',
    PORT: String(port),
    LOG_LEVEL: 'warn',
    ...extra,
  };
}

/** Live (not zombie) processes whose ancestry leads to `root`, by reading /proc. */
function descendants(root: number): number[] {
  const parents = new Map<number, number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const fields = stat(Number(entry));
    if (fields !== null && fields.state !== 'Z') parents.set(Number(entry), fields.ppid);
  }
  const found: number[] = [];
  const queue = [root];
  while (queue.length > 0) {
    const parent = queue.shift();
    for (const [pid, ppid] of parents) {
      if (ppid === parent && !found.includes(pid)) {
        found.push(pid);
        queue.push(pid);
      }
    }
  }
  return found;
}

function stat(pid: number): { state: string; ppid: number } | null {
  try {
    // "pid (comm) state ppid …": comm may hold spaces and parentheses, so split after its last ')'.
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const [state, ppid] = text.slice(text.lastIndexOf(')') + 2).split(' ');
    return { state: state ?? '?', ppid: Number(ppid) };
  } catch {
    return null;
  }
}

const alive = (pid: number): boolean => {
  const s = stat(pid);
  return s !== null && s.state !== 'Z';
};

function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

async function waitUntilListening(child: ChildProcess, port: number): Promise<void> {
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) assert.fail(`the launcher exited early: ${output}`);
    if (output.includes('Portcullis is listening on') && (await portOpen(port))) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  assert.fail(`the server did not start: ${output}`);
}

async function waitFor(condition: () => Promise<boolean> | boolean, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await condition()) return true;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return condition();
}

/** Starts `command`, SIGTERMs its process only, and checks that the server and every process it started are gone. */
async function startAndTerminate(command: string, args: readonly string[], env: NodeJS.ProcessEnv, port: number): Promise<void> {
  // Its own process group, so that the cleanup can reach whatever a failure leaves behind.
  const child = spawn(command, args, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  const pid = child.pid ?? assert.fail('not started');
  cleanups.push(() => {
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      // already gone
    }
  });
  await waitUntilListening(child, port);
  const started = descendants(pid);
  assert.ok(started.length > 0, 'the launcher started the server as a child');

  process.kill(pid, 'SIGTERM');

  assert.ok(await waitFor(async () => !(await portOpen(port)), 5_000), 'the server port is closed within 5 s');
  const left = (): number[] => started.filter(alive);
  assert.ok(await waitFor(() => left().length === 0, 5_000), `no process is left within 5 s (still alive: ${left().join(', ')})`);
  assert.ok(await waitFor(() => !alive(pid), 5_000), 'the launcher itself exits');
}

describe('SIGTERM to the launcher stops the server (real processes)', { skip: process.platform !== 'linux' }, () => {
  it('`npm start`: SIGTERM to npm closes the port and leaves no child process', async () => {
    const port = await freePort();
    await startAndTerminate('npm', ['start'], environment(port), port);
  });

  it('a launcher shell that does not pass SIGTERM on (as npx runs a bin): the orphaned server shuts itself down', async () => {
    const port = await freePort();
    // `; true` keeps the shell from exec'ing node; npm_command marks an npm launch, as npx sets it.
    const main = join(ROOT, 'src/cli/main.ts');
    await startAndTerminate('sh', ['-c', `"${process.execPath}" "${main}" start; true`], environment(port, { npm_command: 'exec' }), port);
  });
});
