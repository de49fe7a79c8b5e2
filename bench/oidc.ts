/**
 * Hosted-pages benchmark (issue 14): complete OpenID Connect sign-ins — authorization code + PKCE, password then
 * TOTP on the hosted pages — beside the headless API's password + TOTP flow, on the same server, in one run.
 *
 *   oidc      a scripted client (no browser) per flow, with its own cookie jar: `GET /oidc/auth` (PKCE S256, state,
 *             nonce) → the redirects to `/interaction/:uid` → the sign-in page (its form's action and CSRF field
 *             read from the HTML) → `POST …/signin` (email, password) → the challenge page → `POST …/verify`
 *             (method totp, the current code) → the redirects back through `/oidc/auth/:uid` to the relying party's
 *             redirect URI with a code → `POST /oidc/token` (client_secret_basic, code_verifier) → an ID token.
 *   headless  `POST /api/v1/auth/signin` (→ `mfa_required`) then `POST /api/v1/auth/mfa/verify` (→ `authenticated`),
 *             as bench/flow.ts's flow.
 *
 * Both on tenant `oidc` (`enrollment: required, challenge: always`), users with a password and their own TOTP factor
 * (a user is taken by at most one flow per 30-s step: a code is accepted once). Counted: flows that end with an ID
 * token / `authenticated`, per second, `--concurrency` flows in flight, in interleaved rounds after a warm-up; the
 * ratio oidc ÷ headless is printed against the goal (≥ 0.8). Also printed: the sign-in page's weight (HTML, and
 * HTML + the one stylesheet; the goal ≤ 30 kB is for the page without the QR image, which only the enrollment page
 * has). The server is a child process (bench/support/oidc-server.ts) pinned to core 0 with `UV_THREADPOOL_SIZE=1`,
 * this process to core 1, when `taskset` and two cores are there. Any flow that does not end as it should marks the
 * run as not clean (exit code 1).
 *
 *   npm run bench:oidc
 *   npx node bench/oidc.ts --dialect sqlite|postgres --duration 20 --rounds 4 --concurrency 8 --warmup 2 --users 6000
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { cpus } from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { totpCode, totpStep } from '../src/factors/totp.ts';
import { fmt, type BenchDialect } from './support/bench-server.ts';
import type { OidcServerReply } from './support/oidc-server.ts';

const { values: args } = parseArgs({
  options: {
    dialect: { type: 'string', default: 'sqlite' },
    duration: { type: 'string', default: '20' },
    rounds: { type: 'string', default: '4' },
    concurrency: { type: 'string', default: '8' },
    warmup: { type: 'string', default: '2' },
    users: { type: 'string', default: '6000' },
  },
});
const DURATION = Number(args.duration);
const ROUNDS = Math.max(1, Math.trunc(Number(args.rounds)));
const CONCURRENCY = Math.max(1, Math.trunc(Number(args.concurrency)));
const WARMUP = Number(args.warmup);
const RATIO_GOAL = 0.8;
const WEIGHT_GOAL = 30 * 1024;
const dialect = args.dialect as BenchDialect;
if (dialect !== 'sqlite' && dialect !== 'postgres') throw new Error(`--dialect: ${String(args.dialect)} is not sqlite or postgres`);

function hasTaskset(): boolean {
  try {
    execFileSync('taskset', ['-V'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}
const TASKSET = hasTaskset() && cpus().length >= 2;

type Ready = Extract<OidcServerReply, { type: 'ready' }>;

async function startServer(): Promise<{ child: ChildProcess; ready: Ready }> {
  const script = fileURLToPath(new URL('./support/oidc-server.ts', import.meta.url));
  const argv = [...(process.env.BENCH_OIDC_PROF === undefined ? [] : ['--cpu-prof', '--cpu-prof-dir', process.env.BENCH_OIDC_PROF]), script, '--dialect', dialect, '--users', String(args.users)];
  const env = { ...process.env, UV_THREADPOOL_SIZE: '1' };
  const stdio = ['ignore', 'inherit', 'inherit', 'ipc'] as const;
  const child = TASKSET ? spawn('taskset', ['-c', '0', process.execPath, ...argv], { env, stdio: [...stdio] }) : spawn(process.execPath, argv, { env, stdio: [...stdio] });
  const ready = await new Promise<Ready>((resolve, reject) => {
    child.on('message', (m: OidcServerReply) => {
      if (m.type === 'ready') resolve(m);
    });
    child.once('exit', (code) => reject(new Error(`the server child exited (code ${code})`)));
  });
  return { child, ready };
}

/** Users handed out so that no user has two flows in one TOTP step (a code is accepted once). */
class UserPool {
  private readonly lastStep: number[];
  private readonly busy: boolean[];
  private next = 0;
  exhausted = 0;
  private readonly users: Ready['users'];
  constructor(users: Ready['users']) {
    this.users = users;
    this.lastStep = users.map(() => -1);
    this.busy = users.map(() => false);
  }
  take(): { email: string; secret: Buffer; release: () => void } | null {
    const step = totpStep(Date.now());
    for (let tried = 0; tried < this.users.length; tried++) {
      const i = this.next;
      this.next = (this.next + 1) % this.users.length;
      // The step may turn while the flow runs: keep a margin of one step either way.
      if (this.busy[i] === true || (this.lastStep[i] ?? -1) >= step - 1) continue;
      const user = this.users[i];
      if (user === undefined) continue;
      this.busy[i] = true;
      return {
        email: user.email,
        secret: Buffer.from(user.secretHex, 'hex'),
        release: () => {
          this.busy[i] = false;
          this.lastStep[i] = totpStep(Date.now()) + 1;
        },
      };
    }
    this.exhausted++;
    return null;
  }
}

function decode(html: string): string {
  return html.replace(/&#39;/g, "'").replace(/&quot;/g, '"').replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');
}

/** The form posting to an action ending with `suffix`: its action and hidden fields. */
function formOf(html: string, suffix: string): { action: string; fields: Record<string, string> } {
  for (const m of html.matchAll(/<form[^>]*action="([^"]+)"[^>]*>([\s\S]*?)<\/form>/g)) {
    const action = decode(m[1] ?? '');
    if (!action.endsWith(suffix)) continue;
    const fields: Record<string, string> = {};
    for (const input of (m[2] ?? '').matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)">/g)) fields[input[1] ?? ''] = decode(input[2] ?? '');
    return { action, fields };
  }
  throw new Error(`no form posting to …${suffix}`);
}

/** A cookie jar and manual redirects, as a browser without JavaScript. */
class ScriptedBrowser {
  private readonly jar = new Map<string, string>();
  private readonly stopAt: string;
  constructor(stopAt: string) {
    this.stopAt = stopAt;
  }

  private remember(res: Response): void {
    for (const line of res.headers.getSetCookie()) {
      const pair = line.split(';')[0] ?? '';
      const i = pair.indexOf('=');
      if (i <= 0) continue;
      const name = pair.slice(0, i).trim();
      const value = pair.slice(i + 1).trim();
      if (value === '' || /max-age=0|expires=thu, 01 jan 1970/i.test(line)) this.jar.delete(name);
      else this.jar.set(name, value);
    }
  }

  /**
   * A returning browser that once answered "Not now" to the passkey offer (src/http/pages/webauthn.ts), so the flow
   * measured stays password + TOTP → the client (both cookie names: `__Host-` on https and localhost, bare otherwise).
   */
  declinedPasskeyOffer(): this {
    this.jar.set('__Host-pc_passkey_later', '1');
    this.jar.set('pc_passkey_later', '1');
    return this;
  }

  /** Follows redirects; stops at the relying party's redirect URI (returned as `left`) or at a page. */
  async go(url: string, form?: Record<string, string>): Promise<{ status: number; url: string; html: string; left: URL | null }> {
    let current = url;
    let body = form === undefined ? undefined : new URLSearchParams(form).toString();
    for (let hop = 0; hop < 10; hop++) {
      if (current.startsWith(this.stopAt)) return { status: 0, url: current, html: '', left: new URL(current) };
      const res = await fetch(current, {
        method: body === undefined ? 'GET' : 'POST',
        redirect: 'manual',
        headers: { cookie: [...this.jar].map(([k, v]) => `${k}=${v}`).join('; '), ...(body === undefined ? {} : { 'content-type': 'application/x-www-form-urlencoded' }) },
        ...(body === undefined ? {} : { body }),
      });
      this.remember(res);
      const location = res.headers.get('location');
      if (res.status >= 300 && res.status < 400 && location !== null) {
        await res.arrayBuffer();
        current = new URL(location, current).href;
        body = undefined;
        continue;
      }
      return { status: res.status, url: current, html: await res.text(), left: null };
    }
    throw new Error('too many redirects');
  }
}

const counters = { signInPageBytes: 0 };

async function oidcFlow(ready: Ready, user: { email: string; secret: Buffer }): Promise<void> {
  const issuer = `${ready.url}/oidc`;
  const verifier = randomBytes(32).toString('base64url');
  const state = randomBytes(12).toString('base64url');
  const params = new URLSearchParams({
    client_id: ready.clientId,
    response_type: 'code',
    redirect_uri: ready.redirectUri,
    scope: 'openid',
    state,
    nonce: randomBytes(12).toString('base64url'),
    code_challenge: createHash('sha256').update(verifier).digest('base64url'),
    code_challenge_method: 'S256',
  });
  const browser = new ScriptedBrowser(ready.redirectUri).declinedPasskeyOffer();
  const signInPage = await browser.go(`${issuer}/auth?${params.toString()}`);
  if (signInPage.status !== 200) throw new Error(`sign-in page: ${signInPage.status}`);
  counters.signInPageBytes = Buffer.byteLength(signInPage.html);
  const signin = formOf(signInPage.html, '/signin');
  const challenge = await browser.go(new URL(signin.action, signInPage.url).href, { ...signin.fields, identifier: user.email, password: ready.password });
  if (challenge.status !== 200) throw new Error(`after the password: ${challenge.status}`);
  const verify = formOf(challenge.html, '/verify');
  const back = await browser.go(new URL(verify.action, challenge.url).href, { ...verify.fields, method: 'totp', code: totpCode(user.secret, totpStep(Date.now())) });
  if (back.left === null || back.left.searchParams.get('state') !== state) throw new Error(`after the code: ${back.status} at ${back.url}`);
  const token = await fetch(`${issuer}/token`, {
    method: 'POST',
    headers: { authorization: `Basic ${Buffer.from(`${ready.clientId}:${ready.clientSecret}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'authorization_code', code: back.left.searchParams.get('code') ?? '', redirect_uri: ready.redirectUri, code_verifier: verifier }).toString(),
  });
  const tokens = (await token.json()) as { id_token?: string };
  if (token.status !== 200 || typeof tokens.id_token !== 'string') throw new Error(`token endpoint: ${token.status}`);
}

async function headlessFlow(ready: Ready, user: { email: string; secret: Buffer }): Promise<void> {
  const headers = { authorization: `Basic ${Buffer.from(`${ready.clientId}:${ready.clientSecret}`).toString('base64')}`, 'content-type': 'application/json' };
  const signin = await fetch(`${ready.url}/api/v1/auth/signin`, {
    method: 'POST',
    headers,
    body: JSON.stringify({ tenant: ready.slug, identifier: user.email, password: ready.password, context: { deviceId: 'bench-device' } }),
  });
  const first = (await signin.json()) as { status?: string; mfaSessionId?: string };
  if (signin.status !== 200 || first.status !== 'mfa_required') throw new Error(`signin: ${signin.status} ${String(first.status)}`);
  const verified = await fetch(`${ready.url}/api/v1/auth/mfa/verify`, {
    method: 'POST',
    headers,
    body: JSON.stringify({ mfaSessionId: first.mfaSessionId, method: 'totp', code: totpCode(user.secret, totpStep(Date.now())) }),
  });
  const second = (await verified.json()) as { status?: string };
  if (verified.status !== 200 || second.status !== 'authenticated') throw new Error(`verify: ${verified.status} ${String(second.status)}`);
}

interface Tally {
  ok: number;
  failed: number;
  seconds: number;
  /** The server process's CPU time during the rounds, µs. */
  cpuMicros: number;
  firstError: string | null;
}

let server: ChildProcess | null = null;

/** The server's CPU time so far (µs), asked over IPC. */
function serverCpu(): Promise<number> {
  return new Promise((resolve) => {
    const child = server;
    if (child === null) return resolve(0);
    const onMessage = (m: OidcServerReply): void => {
      if (m.type !== 'cpu') return;
      child.off('message', onMessage);
      resolve(m.micros);
    };
    child.on('message', onMessage);
    child.send({ type: 'cpu' });
  });
}

async function run(kind: 'oidc' | 'headless', ready: Ready, pool: UserPool, seconds: number, tally: Tally): Promise<void> {
  const cpuBefore = await serverCpu();
  const start = performance.now();
  const end = start + seconds * 1000;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (performance.now() < end) {
        const user = pool.take();
        if (user === null) {
          await new Promise((resolve) => setTimeout(resolve, 100));
          continue;
        }
        try {
          await (kind === 'oidc' ? oidcFlow(ready, user) : headlessFlow(ready, user));
          tally.ok++;
        } catch (error) {
          tally.failed++;
          tally.firstError ??= error instanceof Error ? error.message : String(error);
        } finally {
          user.release();
        }
      }
    }),
  );
  tally.seconds += (performance.now() - start) / 1000;
  tally.cpuMicros += (await serverCpu()) - cpuBefore;
}

const { child, ready } = await startServer();
server = child;
let pinned = 'load generator not pinned';
if (TASKSET) {
  execFileSync('taskset', ['-a', '-p', '-c', '1', String(process.pid)], { stdio: 'ignore' });
  pinned = 'load generator pinned to core 1';
}
console.log(`bench:oidc — ${dialect} (${ready.where}); server: ${TASKSET ? 'taskset -c 0' : 'not pinned'}, UV_THREADPOOL_SIZE=1; ${pinned}`);
console.log(`${ready.users.length} users with password + TOTP; ${CONCURRENCY} flows in flight; ${ROUNDS} interleaved rounds of ${fmt(DURATION / ROUNDS, 1)} s each after ${WARMUP} s warm-up of each`);
const pool = new UserPool(ready.users);
const warm: Tally = { ok: 0, failed: 0, seconds: 0, cpuMicros: 0, firstError: null };
await run('headless', ready, pool, WARMUP, warm);
await run('oidc', ready, pool, WARMUP, warm);
const oidc: Tally = { ok: 0, failed: 0, seconds: 0, cpuMicros: 0, firstError: null };
const headless: Tally = { ok: 0, failed: 0, seconds: 0, cpuMicros: 0, firstError: null };
for (let round = 0; round < ROUNDS; round++) {
  await run('headless', ready, pool, DURATION / ROUNDS, headless);
  await run('oidc', ready, pool, DURATION / ROUNDS, oidc);
}
const css = await fetch(`${ready.url}/assets/pages.css`);
const cssBytes = (await css.arrayBuffer()).byteLength;
child.send({ type: 'close' });
await new Promise((resolve) => child.once('exit', resolve));

const oidcRate = oidc.ok / oidc.seconds;
const headlessRate = headless.ok / headless.seconds;
const ratio = oidcRate / headlessRate;
const weight = counters.signInPageBytes + cssBytes;
console.log('');
const cpuPerFlow = (t: Tally): number => t.cpuMicros / 1000 / Math.max(1, t.ok);
// Flows per server CPU-second: the capacity of the server, whatever else shares the machine.
const cpuRatio = cpuPerFlow(headless) / cpuPerFlow(oidc);
console.log('| flow | completed | failed | flows/s | server CPU per flow |');
console.log('|---|---:|---:|---:|---:|');
console.log(`| headless API (signin + verify) | ${fmt(headless.ok)} | ${fmt(headless.failed)} | ${fmt(headlessRate, 1)} | ${fmt(cpuPerFlow(headless), 1)} ms |`);
console.log(`| OIDC hosted pages (code + PKCE, password + TOTP, token) | ${fmt(oidc.ok)} | ${fmt(oidc.failed)} | ${fmt(oidcRate, 1)} | ${fmt(cpuPerFlow(oidc), 1)} ms |`);
console.log('');
console.log(`oidc ÷ headless, flows/s: ${ratio.toFixed(2)} (goal ≥ ${RATIO_GOAL}) ${ratio >= RATIO_GOAL ? 'met' : 'NOT met'}`);
console.log(`oidc ÷ headless, flows per server CPU-second: ${cpuRatio.toFixed(2)} (goal ≥ ${RATIO_GOAL}) ${cpuRatio >= RATIO_GOAL ? 'met' : 'NOT met'}`);
console.log(`sign-in page: ${fmt(counters.signInPageBytes)} B HTML + ${fmt(cssBytes)} B CSS = ${fmt(weight)} B (goal ≤ ${fmt(WEIGHT_GOAL)} B) ${weight <= WEIGHT_GOAL ? 'met' : 'NOT met'}`);
if (pool.exhausted > 0) console.log(`users exhausted ${pool.exhausted} time(s) (a flow waited for a user whose code of this step was unused)`);
const clean = oidc.failed === 0 && headless.failed === 0 && warm.failed === 0;
if (!clean) console.log(`NOT CLEAN: first error — oidc: ${String(oidc.firstError)}; headless: ${String(headless.firstError)}; warm-up: ${String(warm.firstError)}`);
process.exitCode = clean ? 0 : 1;
