/**
 * The README's quick start, re-run word for word against a really listening server. The ```sh blocks of its
 * "Quick start" section are taken from README.md in order and run by bash (curl, jq and `npx portcullis totp`, as a
 * reader would), against the CLI started the way `npm start` starts it (`node src/cli/main.ts start`) on an empty
 * temporary data folder and a free port. `ADMIN` is the first admin token the console prints, as the README tells
 * the reader to paste it; `B` is the README's own value with the real port. Every `# {...}` comment that shows what
 * a command prints is compared with what it printed: the values it states, and for elided parts (`…`) the shape.
 * The server is stopped whatever happens.
 */
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { freePort } from '../support/server-process.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const MARK = '@@@README-EXPECTED';

interface Walkthrough {
  /** The shell script: the README's blocks in order, with a marker printed where an expected output is shown. */
  readonly script: string;
  /** The expected outputs, in the order of their markers. */
  readonly expected: readonly string[];
}

/** The quick start's ```sh blocks, after the one that starts the server, with their expected-output comments. */
function walkthroughOf(readme: string, values: { token: string; port: number }): Walkthrough {
  const start = readme.indexOf('## Quick start');
  const end = readme.indexOf('\n## ', start + 1);
  assert.ok(start >= 0 && end > start, 'README.md has a Quick start section');
  const blocks = [...readme.slice(start, end).matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1] ?? '');
  assert.equal(blocks[0]?.trim(), 'npm ci && npm start', 'the first block starts the server (this test starts it the same way)');
  const settings = blocks[1] ?? '';
  assert.match(settings, /^ADMIN=pat_… .*$/m, 'the second block sets ADMIN to the pasted token');
  assert.match(settings, /^B=http:\/\/localhost:8080\/api\/v1$/m, 'the second block sets B');
  const lines: string[] = [];
  const expected: string[] = [];
  const pasted = settings.replace('ADMIN=pat_…', `ADMIN=${values.token}`).replace('localhost:8080', `localhost:${values.port}`);
  for (const block of [pasted, ...blocks.slice(2)]) {
    const blockLines = block.split('\n');
    for (let i = 0; i < blockLines.length; i++) {
      const line = blockLines[i] ?? '';
      if (!line.startsWith('# {')) {
        lines.push(line);
        continue;
      }
      // An expected output: `# {…}` and its `#  …` continuation lines.
      let text = line.slice(2);
      while ((blockLines[i + 1] ?? '').startsWith('#  ')) text += (blockLines[++i] ?? '').slice(2);
      expected.push(text);
      lines.push(`printf '\\n${MARK} %d\\n' ${expected.length - 1}`);
    }
  }
  return { script: `set -eo pipefail\n${lines.join('\n')}\n`, expected };
}

/** Splits `text` at commas outside strings, brackets and braces. */
function splitTopLevel(text: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let inString = false;
  let from = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      if (c === '\\') i++;
      else if (c === '"') inString = false;
    } else if (c === '"') inString = true;
    else if (c === '[' || c === '{') depth++;
    else if (c === ']' || c === '}') depth--;
    else if (c === ',' && depth === 0) {
      parts.push(text.slice(from, i));
      from = i + 1;
    }
  }
  parts.push(text.slice(from));
  return parts.map((p) => p.trim()).filter((p) => p.length > 0);
}

function parseOrNull(text: string): { value: unknown } | null {
  try {
    return { value: JSON.parse(text) };
  } catch {
    return null;
  }
}

/**
 * Compares what a command printed with the README's rendering of it. Complete JSON values are compared exactly;
 * `"…"` stands for any non-empty string; an object with `…` in it is compared key by key for the keys it shows;
 * an array with `…` in it must be an array whose shown objects match position by position (shown strings, such as
 * example recovery codes, vary from run to run and are compared by type).
 */
function compareShown(shown: string, actual: unknown, path: string): void {
  const text = shown.replace(/^…\s*/, '').trim();
  if (text === '' || text === '…') return;
  const parsed = parseOrNull(text);
  if (parsed !== null && !text.includes('…')) {
    assert.deepEqual(actual, parsed.value, `${path}: the README shows ${text}`);
    return;
  }
  if (text === '"…"') {
    assert.ok(typeof actual === 'string' && actual.length > 0, `${path}: the README shows a string, got ${JSON.stringify(actual)}`);
    return;
  }
  if (text.startsWith('{')) {
    assert.ok(actual !== null && typeof actual === 'object' && !Array.isArray(actual), `${path}: the README shows an object, got ${JSON.stringify(actual)}`);
    for (const entry of splitTopLevel(text.slice(1, -1))) {
      const bare = entry.replace(/^…\s*/, '');
      if (bare === '' || bare === '…' || !bare.startsWith('"')) continue;
      const colon = bare.indexOf('":') + 1;
      const key = JSON.parse(bare.slice(0, colon)) as string;
      assert.ok(key in (actual as Record<string, unknown>), `${path}.${key}: shown in the README, absent from ${JSON.stringify(actual).slice(0, 300)}`);
      compareShown(bare.slice(colon + 1), (actual as Record<string, unknown>)[key], `${path}.${key}`);
    }
    return;
  }
  if (text.startsWith('[')) {
    assert.ok(Array.isArray(actual), `${path}: the README shows an array, got ${JSON.stringify(actual)}`);
    splitTopLevel(text.slice(1, -1)).forEach((item, i) => {
      if (item.startsWith('{')) compareShown(item, actual[i], `${path}[${i}]`);
      else if (item.startsWith('"') && parseOrNull(item) !== null) assert.equal(typeof actual[i], 'string', `${path}[${i}]`);
    });
    return;
  }
  assert.fail(`${path}: cannot read the README's ${text}`);
}

/** The last line of `chunk` that is a JSON value (what the command just before the comment printed). */
function lastJson(chunk: string): unknown {
  const lines = chunk.split('\n').map((l) => l.trim()).filter((l) => l.startsWith('{'));
  for (let i = lines.length - 1; i >= 0; i--) {
    const parsed = parseOrNull(lines[i] ?? '');
    if (parsed !== null) return parsed.value;
  }
  assert.fail(`no JSON output before the expected comment: ${chunk.slice(-500)}`);
}

describe('README quick start, run by bash against a real listening server', () => {
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-readme-'));
  let server: ChildProcess | null = null;
  after(async () => {
    if (server !== null && server.exitCode === null && server.signalCode === null) {
      const exited = new Promise((resolve) => server?.once('exit', resolve));
      server.kill('SIGTERM');
      const timer = setTimeout(() => server?.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    }
    rmSync(dir, { recursive: true, force: true });
  });

  it('every command works as written and prints what the README shows', { timeout: 180_000 }, async () => {
    const port = await freePort();
    // A terminal's environment, not the one of the npm running the tests; the defaults as the README describes them
    // (SQLite under the data folder, a development key file created there), with a temporary folder and the port.
    const env: NodeJS.ProcessEnv = {};
    for (const [key, value] of Object.entries(process.env)) if (!key.toLowerCase().startsWith('npm_') && !key.startsWith('PORTCULLIS_') && key !== 'DATABASE_URL') env[key] = value;
    Object.assign(env, { PORTCULLIS_DATA_DIR: join(dir, 'data'), PORT: String(port) });
    // `npm start` is `exec node src/cli/main.ts start` with the project's Node 24: the Node running this test.
    server = spawn(process.execPath, ['src/cli/main.ts', 'start'], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let console = '';
    server.stdout?.on('data', (chunk: Buffer) => (console += chunk.toString()));
    server.stderr?.on('data', (chunk: Buffer) => (console += chunk.toString()));
    const deadline = Date.now() + 60_000;
    let token: string | undefined;
    while (token === undefined) {
      assert.ok(server.exitCode === null && server.signalCode === null, `the server exited: ${console}`);
      assert.ok(Date.now() < deadline, `no admin token printed: ${console}`);
      if (console.includes(`Portcullis is listening on http://localhost:${port}`)) {
        token = /First platform admin token \(shown once, store it now\):\n\n {2}(pat_\S+)\n/.exec(console)?.[1];
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    assert.match(console, new RegExp(`API docs: http://localhost:${port}/api/docs`));
    assert.match(console, /\(database: sqlite \/.*\/data\/portcullis\.db\)/);

    const walk = walkthroughOf(readFileSync(join(ROOT, 'README.md'), 'utf8'), { token, port });
    assert.ok(walk.expected.length >= 4, 'the README shows the outputs of its commands');
    // The walk-through writes into a real pipe, as in a terminal: the README's `tee /dev/stderr` can open neither a
    // socket (what Node's pipes to a child are) nor, without truncating it, a file.
    const scriptPath = join(dir, 'walkthrough.sh');
    writeFileSync(scriptPath, walk.script);
    const output = await new Promise<string>((resolve, reject) => {
      execFile('/bin/bash', ['-c', 'set -o pipefail; /bin/bash "$0" 2>&1 | cat', scriptPath], { cwd: ROOT, env, timeout: 150_000, maxBuffer: 16 * 1024 * 1024 }, (error, stdout) => {
        if (error !== null) reject(new Error(`the walk-through failed (${error.message.split('\n')[0]}):\n${walk.script}\n---\n${stdout.slice(-3000)}`));
        else resolve(stdout);
      });
    });
    const chunks = output.split(new RegExp(`\\n${MARK} \\d+\\n`));
    assert.equal(chunks.length, walk.expected.length + 1, 'every expected output was reached');
    walk.expected.forEach((shown, i) => compareShown(shown, lastJson(chunks[i] ?? ''), `output ${i + 1}`));
    // The last block's audit listing: the log shows the step-up decision it just made.
    assert.match(chunks.at(-1) ?? '', /"event":"mfa\.decision"/);
  });
});
