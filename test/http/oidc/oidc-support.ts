/**
 * A real listening Portcullis for the OIDC tests: the runtime exactly as `portcullis start` wires it (on SQLite, or
 * on a fresh PostgreSQL schema), reached as `http://localhost:PORT`, with a settable clock for our services, an
 * application registered as an OIDC client through the admin API, and a small cookie-jar browser over fetch.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../../src/config.ts';
import { hashPassword } from '../../../src/factors/password.ts';
import { createLogger } from '../../../src/http/logger.ts';
import { bootstrapFirstAdmin, createRuntime, type Runtime } from '../../../src/runtime.ts';
import { startServer, type RunningServer } from '../../../src/server.ts';
import { generateToken, hashToken } from '../../../src/factors/tokens.ts';
import type { PolicyLayer } from '../../../src/core/index.ts';
import { createFreshSchema, dropSchema, postgresTestUrl } from '../../support/postgres.ts';
import type { Dialect } from '../../support/harness.ts';
import { freePort } from '../../support/server-process.ts';

export const PASSWORD = 'correct horse battery staple';

export interface LiveServer {
  readonly base: string;
  readonly issuer: string;
  readonly runtime: Runtime;
  readonly server: RunningServer;
  readonly adminToken: string;
  /** Moves our services' clock (TOTP steps); the provider keeps the real clock. */
  advance(ms: number): void;
  now(): number;
  close(): Promise<void>;
}

/** `env`: more configuration, as environment variables (e.g. `PORTCULLIS_DEV_CLOCK_HEADER`). */
export async function startLiveServer(dialect: Dialect, env: Record<string, string> = {}): Promise<LiveServer> {
  const dataDir = await mkdtemp(join(tmpdir(), 'portcullis-oidc-'));
  const port = await freePort();
  const base = `http://localhost:${port}`;
  const pgUrl = dialect === 'postgres' ? postgresTestUrl() : undefined;
  const schema = pgUrl === undefined ? undefined : await createFreshSchema(pgUrl, 'oidc');
  const loaded = loadConfig(
    { PORTCULLIS_DATA_DIR: dataDir, PORTCULLIS_SECRET_KEY: randomBytes(32).toString('base64'), PUBLIC_URL: base, PORT: String(port), HOST: '127.0.0.1', LOG_LEVEL: 'silent', ...(pgUrl === undefined ? {} : { DATABASE_URL: pgUrl }), ...env },
    () => '',
  );
  assert.ok(loaded.ok, JSON.stringify(loaded));
  const config = { ...loaded.config, rateLimitPerMinute: 0 };
  let offset = 0;
  const now = (): number => Date.now() + offset;
  const logger = createLogger({ level: 'silent' });
  const runtime = await createRuntime(config, { logger, now, ...(schema === undefined ? {} : { schema }) });
  const adminToken = (await bootstrapFirstAdmin(runtime.store, now())) ?? '';
  const server = await startServer({ config, logger, ping: () => runtime.database.ping(), registerRoutes: runtime.registerRoutes, registerRootRoutes: runtime.registerRootRoutes, signals: [] });
  return {
    base,
    issuer: `${base}/oidc`,
    runtime,
    server,
    adminToken,
    advance: (ms) => {
      offset += ms;
    },
    now,
    close: async () => {
      await server.shutdown('test done');
      await runtime.close();
      if (pgUrl !== undefined && schema !== undefined) await dropSchema(pgUrl, schema);
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

export interface RelyingParty {
  readonly clientId: string;
  readonly secret: string;
  readonly redirectUri: string;
  readonly postLogoutRedirectUri: string;
}

/** An application serving `tenantIds`, registered as an OIDC client through the admin API. */
export async function registerRelyingParty(live: LiveServer, name: string, tenantIds: readonly string[]): Promise<RelyingParty> {
  const clientId = `pcc_${randomBytes(8).toString('hex')}`;
  const secret = generateToken('pcs');
  const app = await live.runtime.store.applications.create({ name, firstParty: false, allTenants: false, clientId, clientSecretHash: hashToken(secret), now: live.now() });
  for (const t of tenantIds) await live.runtime.store.applications.assignTenant(app.id, t, live.now());
  const redirectUri = 'http://127.0.0.1:9/callback';
  const postLogoutRedirectUri = 'http://127.0.0.1:9/signed-out';
  const res = await fetch(`${live.base}/api/v1/applications/${app.id}/oidc`, {
    method: 'PUT',
    headers: { authorization: `Bearer ${live.adminToken}`, 'content-type': 'application/json' },
    body: JSON.stringify({ redirectUris: [redirectUri], postLogoutRedirectUris: [postLogoutRedirectUri] }),
  });
  assert.equal(res.status, 200, await res.text());
  return { clientId, secret, redirectUri, postLogoutRedirectUri };
}

export async function createTenantWithUser(live: LiveServer, slug: string, email: string, layer: PolicyLayer): Promise<{ tenantId: string; userId: string }> {
  const tenant = await live.runtime.store.tenants.create({ slug, name: slug, now: live.now() });
  await live.runtime.store.forTenant(tenant.id).policies.saveVersion({ level: 'tenant' }, { layer, effectiveAt: live.now(), createdBy: 'test', now: live.now() });
  const user = await live.runtime.store.forTenant(tenant.id).users.create({ email, passwordHash: await hashPassword(PASSWORD), now: live.now() });
  return { tenantId: tenant.id, userId: user.id };
}

/** A page or a redirect as a browser without JavaScript sees it. */
export interface Visit {
  readonly status: number;
  readonly url: string;
  readonly html: string;
  /** Set when the chain ended at a URL outside the server (the relying party's callback). */
  readonly left: string | null;
}

/** A cookie-jar browser over fetch: follows redirects within the server, stops at anything else. */
export class Browser {
  readonly jar = new Map<string, string>();
  private readonly base: string;
  constructor(base: string) {
    this.base = base;
  }

  private remember(res: Response): void {
    for (const line of res.headers.getSetCookie()) {
      const [pair] = line.split(';');
      const i = (pair ?? '').indexOf('=');
      if (i <= 0 || pair === undefined) continue;
      const name = pair.slice(0, i).trim();
      const value = pair.slice(i + 1).trim();
      if (/max-age=0|expires=thu, 01 jan 1970/i.test(line) || value === '') this.jar.delete(name);
      else this.jar.set(name, value);
    }
  }

  private cookieHeader(): string {
    return [...this.jar].map(([k, v]) => `${k}=${v}`).join('; ');
  }

  async visit(url: string, init: { method?: string; form?: Record<string, string> } = {}): Promise<Visit> {
    let current = new URL(url, this.base).href;
    let method = init.method ?? 'GET';
    let body: string | undefined = init.form === undefined ? undefined : new URLSearchParams(init.form).toString();
    for (let hop = 0; hop < 20; hop++) {
      if (!current.startsWith(this.base)) return { status: 0, url: current, html: '', left: current };
      const res = await fetch(current, {
        method,
        redirect: 'manual',
        headers: { cookie: this.cookieHeader(), ...(body === undefined ? {} : { 'content-type': 'application/x-www-form-urlencoded' }) },
        ...(body === undefined ? {} : { body }),
      });
      this.remember(res);
      const location = res.headers.get('location');
      if (res.status >= 300 && res.status < 400 && location !== null) {
        current = new URL(location, current).href;
        method = 'GET';
        body = undefined;
        continue;
      }
      return { status: res.status, url: current, html: await res.text(), left: null };
    }
    throw new Error('too many redirects');
  }

  /** Submits the form of the page whose action ends with `actionSuffix`, with its hidden fields and `fields`. */
  async submit(page: Visit, actionSuffix: string, fields: Record<string, string>): Promise<Visit> {
    const forms = [...page.html.matchAll(/<form[^>]*action="([^"]+)"[^>]*>([\s\S]*?)<\/form>/g)];
    const form = forms.find((f) => (f[1] ?? '').endsWith(actionSuffix));
    assert.ok(form !== undefined, `a form posting to …${actionSuffix} on ${page.url}:\n${page.html.slice(0, 3000)}`);
    const hidden: Record<string, string> = {};
    for (const input of (form[2] ?? '').matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)">/g)) hidden[input[1] ?? ''] = decode(input[2] ?? '');
    return this.visit(decode(form[1] ?? ''), { method: 'POST', form: { ...hidden, ...fields } });
  }
}

function decode(html: string): string {
  return html.replace(/&#39;/g, "'").replace(/&quot;/g, '"').replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');
}

/** The manual-entry TOTP secret shown on the enrollment page. */
export function secretOnPage(html: string): string {
  const m = /<code class="secret">([A-Z2-7]+)<\/code>/.exec(html);
  assert.ok(m?.[1] !== undefined, 'the TOTP secret is shown for manual entry');
  return m[1];
}

/** The recovery codes listed on the page. */
export function codesOnPage(html: string): string[] {
  const list = /<ul class="codes"[^>]*>([\s\S]*?)<\/ul>/.exec(html)?.[1] ?? '';
  return [...list.matchAll(/<code>([^<]+)<\/code>/g)].map((m) => m[1] ?? '');
}
