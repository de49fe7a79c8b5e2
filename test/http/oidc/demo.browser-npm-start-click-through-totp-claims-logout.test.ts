/**
 * The demo as a newcomer meets it: the CLI started the way `npm start` starts it (`node src/cli/main.ts start`, dev
 * profile) on an empty data folder prints the first admin token and the demo user's email and password; chromium
 * opens `/demo` at `http://localhost:PORT`, clicks "Sign in with Portcullis", signs in with the printed password,
 * meets the enrollment wall (the demo policy requires TOTP), enrolls from the QR page's key, sees ten recovery codes,
 * and lands back on the demo page, which shows the verified ID token's claims: acr loa:2, amr with otp and mfa, an
 * auth_time of this sign-in. "Sign out" runs RP-initiated logout and returns to the demo page; a second sign-in then
 * asks for the password again and for a TOTP code. axe finds no serious violation on any page; the screenshots of
 * the README's "Click through the demo" are taken here (docs/screenshots/demo-*.png). With PORTCULLIS_DEMO=false the
 * console prints no demo user and /demo is not served.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser } from 'playwright-core';
import { totpAt } from '../auth-support.ts';
import { CHROMIUM, CHROMIUM_ARGS, screenshotAndAudit, SKIP_WITHOUT_CHROMIUM } from './browser-support.ts';
import { freePort } from '../../support/server-process.ts';

const ROOT = fileURLToPath(new URL('../../..', import.meta.url));

interface Cli {
  readonly child: ChildProcess;
  readonly base: string;
  /** What it printed on standard output so far. */
  output(): string;
  stop(): Promise<void>;
}

/** The CLI as `npm start` runs it, in a terminal's environment (defaults: dev profile, demo on) plus `extra`. */
async function startCli(extra: Record<string, string> = {}): Promise<Cli> {
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-demo-'));
  const port = await freePort();
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) if (!key.toLowerCase().startsWith('npm_') && !key.startsWith('PORTCULLIS_') && key !== 'DATABASE_URL') env[key] = value;
  Object.assign(env, { PORTCULLIS_DATA_DIR: join(dir, 'data'), PORT: String(port), HOST: '127.0.0.1', LOG_LEVEL: 'warn', ...extra });
  const child = spawn(process.execPath, ['src/cli/main.ts', 'start'], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  // The admin token comes last but one; the demo (when on) last.
  const done = extra.PORTCULLIS_DEMO === 'false' ? /Use it as: Authorization: Bearer \S+\n/ : /password: \S+\n/;
  for (let i = 0; i < 300 && !done.test(output); i++) await new Promise((resolve) => setTimeout(resolve, 100));
  return {
    child,
    base: `http://localhost:${port}`,
    output: () => output,
    stop: async () => {
      child.kill('SIGTERM');
      if (child.exitCode === null) await new Promise((resolve) => child.once('exit', resolve));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

describe('the demo after npm start, in chromium', { skip: SKIP_WITHOUT_CHROMIUM }, () => {
  let cli: Cli | undefined;
  let browser: Browser | undefined;
  let base = '';
  let console = '';

  before(async () => {
    cli = await startCli();
    base = cli.base;
    console = cli.output();
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  });
  after(async () => {
    await browser?.close();
    await cli?.stop();
  });

  it('prints the demo user, and a click-through from /demo enrolls TOTP and shows acr loa:2 with otp in amr; sign-out returns to /demo', async () => {
    assert.match(console, /First platform admin token \(shown once, store it now\):\n\n {2}pat_\S+\n/);
    const printed = /open (\S+) and sign in as\n\n {2}email: +(\S+)\n {2}password: (\S+)\n/.exec(console);
    assert.ok(printed !== null, `the console names the demo page, email and password:\n${console}`);
    const [, url, email, password] = printed as unknown as [string, string, string, string];
    assert.equal(url, `${base}/demo`);

    const context = await (browser as Browser).newContext();
    const page = await context.newPage();
    await page.goto(url);
    await screenshotAndAudit(page, 'demo-01-relying-party');
    await page.getByRole('button', { name: 'Sign in with Portcullis' }).click();

    await page.getByLabel('Email').fill(email);
    await page.getByLabel('Password').fill(password);
    await screenshotAndAudit(page, 'demo-02-sign-in');
    await page.getByRole('button', { name: 'Continue' }).click();
    await page.getByRole('heading', { name: 'You need to set up multi-factor authentication' }).waitFor();
    await screenshotAndAudit(page, 'demo-03-enrollment-wall');
    await page.getByRole('button', { name: /Set up.*Authenticator app/ }).click();
    await page.getByRole('heading', { name: 'Set up your authenticator app' }).waitFor();
    assert.equal(await page.locator('figure.qr svg').count(), 1, 'the QR code is shown');
    await screenshotAndAudit(page, 'demo-04-scan-the-qr-code');
    const secret = (await page.locator('code.secret').textContent()) ?? '';
    await page.getByRole('textbox', { name: 'Code', exact: true }).fill(totpAt(secret, Date.now()));
    await page.getByRole('button', { name: 'Confirm' }).click();
    await page.getByRole('heading', { name: 'Save your recovery codes' }).waitFor();
    assert.equal(await page.locator('ul.codes li').count(), 10);
    await screenshotAndAudit(page, 'demo-05-recovery-codes');
    await page.getByRole('button', { name: 'I have saved them' }).click();

    await page.getByRole('heading', { name: 'You are signed in' }).waitFor();
    assert.ok(page.url().startsWith(`${base}/demo/callback?`), page.url());
    await screenshotAndAudit(page, 'demo-06-signed-in-claims');
    const claims = Object.fromEntries(
      await page.locator('dl.claims dt').evaluateAll((dts) => dts.map((dt) => [dt.textContent ?? '', dt.nextElementSibling?.textContent ?? ''])),
    ) as Record<string, string>;
    assert.equal(claims['acr'], 'urn:portcullis:loa:2');
    assert.deepEqual((claims['amr'] ?? '').split(' ').sort(), ['mfa', 'otp', 'pwd']);
    assert.match(claims['sub'] ?? '', /^\S+:\S+$/);
    const authTime = Number((claims['auth_time'] ?? '').split(' ')[0]);
    assert.ok(Math.abs(authTime * 1000 - Date.now()) < 10 * 60_000, `auth_time ${authTime} is of this sign-in`);

    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByRole('button', { name: 'Yes, sign me out' }).click();
    await page.getByRole('button', { name: 'Sign in with Portcullis' }).waitFor();
    assert.equal(new URL(page.url()).pathname, '/demo');

    // Signed out at the provider too: the next sign-in asks for the password, then the new factor.
    await page.getByRole('button', { name: 'Sign in with Portcullis' }).click();
    await page.getByLabel('Password').fill(password);
    await page.getByLabel('Email').fill(email);
    await page.getByRole('button', { name: 'Continue' }).click();
    await page.getByRole('heading', { name: 'Verify it’s you' }).waitFor();
    await context.close();
  });

  it('PORTCULLIS_DEMO=false: no demo user printed, and /demo is not served', async () => {
    const off = await startCli({ PORTCULLIS_DEMO: 'false' });
    try {
      assert.match(off.output(), /First platform admin token/);
      assert.doesNotMatch(off.output(), /Demo|demo@example\.com|password:/);
      const res = await fetch(`${off.base}/demo`);
      await res.arrayBuffer();
      assert.equal(res.status, 404);
    } finally {
      await off.stop();
    }
  });
});
