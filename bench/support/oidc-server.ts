/**
 * The server side of bench/oidc.ts, run as a child process (pinned by the parent like bench/flow.ts's): the real
 * composition root through `startBenchServer` on a fixed port whose URL is the `PUBLIC_URL` (the OIDC issuer and the
 * hosted pages' redirects are built from it), seeded with tenant `oidc` (`enrollment: required, challenge: always`)
 * and `--users` users, each with a password and its own active TOTP factor. Its application is both an API client
 * (the headless flow) and an OIDC client (the hosted flow) with the redirect URI `http://127.0.0.1:9/callback`
 * (never requested: the scripted client stops at it and redeems the code).
 *
 *   → `{type: 'ready', url, clientId, clientSecret, redirectUri, slug, password, users}` once seeded
 *   ← `{type: 'cpu'}`   → `{type: 'cpu', micros}`: this process's CPU time so far (user + system, every thread:
 *                          argon2id runs on libuv's pool), so the parent can charge each flow its server CPU;
 *   ← `{type: 'close'}` → `{type: 'closed'}`, then the process exits.
 */
import { randomBytes } from 'node:crypto';
import { createServer, type AddressInfo } from 'node:net';
import { hashPassword } from '../../src/factors/password.ts';
import { generateToken, hashToken } from '../../src/factors/tokens.ts';
import { oidcClientRepository } from '../../src/store/index.ts';
import { seedTotpUsers, startBenchServer, type BenchDialect } from './bench-server.ts';
import { parseArgs } from 'node:util';

export type OidcServerReply =
  | {
      readonly type: 'ready';
      readonly url: string;
      readonly where: string;
      readonly clientId: string;
      readonly clientSecret: string;
      readonly redirectUri: string;
      readonly slug: string;
      readonly password: string;
      readonly users: readonly { readonly email: string; readonly secretHex: string }[];
    }
  | { readonly type: 'cpu'; readonly micros: number }
  | { readonly type: 'closed' };

const PASSWORD = 'correct horse battery staple';
const { values: args } = parseArgs({ options: { dialect: { type: 'string', default: 'sqlite' }, users: { type: 'string', default: '6000' } } });
const dialect = args.dialect as BenchDialect;
const send = process.send?.bind(process);
if (send === undefined) throw new Error('oidc-server.ts runs as a child of bench/oidc.ts (it needs an IPC channel)');

async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as AddressInfo;
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

const port = await freePort();
const url = `http://127.0.0.1:${port}`;
const server = await startBenchServer(dialect, { PORT: String(port), PUBLIC_URL: url, PORTCULLIS_DEMO: 'false' });
process.once('disconnect', () => {
  void server.close().finally(() => process.exit(0));
});
const { store } = server.runtime;
const now = Date.now();
const tenant = await store.tenants.create({ slug: 'oidc', name: 'oidc', now });
await store.forTenant(tenant.id).policies.saveVersion({ level: 'tenant' }, { layer: { enrollment: 'required', gracePeriodDays: 0, challenge: 'always' }, effectiveAt: now, createdBy: 'bench', now });
const clientId = `bench-oidc-${randomBytes(4).toString('hex')}`;
const clientSecret = generateToken('pcs');
const application = await store.applications.create({ name: 'bench oidc', firstParty: false, clientId, clientSecretHash: hashToken(clientSecret), now });
await store.applications.assignTenant(application.id, tenant.id, now);
const redirectUri = 'http://127.0.0.1:9/callback';
await oidcClientRepository(server.runtime.database).put(application.id, { redirectUris: [redirectUri], postLogoutRedirectUris: [] }, now);
const users = await seedTotpUsers(server.runtime, tenant.id, Number(args.users), 'oidc', await hashPassword(PASSWORD));

process.on('message', (message: { type: string }) => {
  if (message.type === 'cpu') {
    const usage = process.cpuUsage();
    send({ type: 'cpu', micros: usage.user + usage.system } satisfies OidcServerReply);
    return;
  }
  if (message.type !== 'close') return;
  void server.close().then(() => send({ type: 'closed' } satisfies OidcServerReply, undefined, undefined, () => process.exit(0)));
});

send({
  type: 'ready',
  url,
  where: server.where,
  clientId,
  clientSecret,
  redirectUri,
  slug: 'oidc',
  password: PASSWORD,
  users: users.map((u, i) => ({ email: `oidc-${i}@bench.example`, secretHex: u.secret.toString('hex') })),
} satisfies OidcServerReply);
