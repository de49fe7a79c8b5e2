/**
 * The server side of bench/flow.ts, run as a child process (the parent pins it with `taskset -c 0` and sets
 * `UV_THREADPOOL_SIZE=1`): the real composition root through `startBenchServer`, seeded with
 *
 *   - tenant `flow` (`enrollment: required, challenge: always`) and `--users` users, each with a password and its
 *     own active TOTP factor, so every sign-in answers `mfa_required`;
 *   - tenant `signin` (`enrollment: optional, challenge: never`) and `--signin-users` users with a password and no
 *     factor, so every sign-in is allowed after the password.
 *
 * It talks to the parent over the IPC channel only (bench code, no route added to the product):
 *
 *   → `{type: 'ready', url, where, flow, signin}`        once seeded (credentials, identifiers, raw TOTP secrets)
 *   ← `{type: 'bound', seconds, concurrency}`             → `{type: 'bound', count, seconds}`: argon2id
 *        `verifyPassword` calls (same hash, same parameters as the users') with `concurrency` in flight, in this
 *        process, on its one libuv thread — the bound the HTTP flows are compared with;
 *   ← `{type: 'rss', gc}`                                 → `{type: 'rss', rss, maxRss}` in bytes, after a full
 *        garbage collection when `gc` (the child runs with `--expose-gc`; used for the idle reading only, so that
 *        the seeding's garbage — bench work, not the server's — is not counted as the server's idle size);
 *   ← `{type: 'cpu'}`                                     → `{type: 'cpu', micros}`: the process' CPU time so far
 *                                                           (user + system, every thread: argon2id's too);
 *   ← `{type: 'close'}`                                   → `{type: 'closed'}`, then the process exits.
 *
 *   npx node bench/support/flow-server.ts --dialect sqlite|postgres --users 3000 --signin-users 200
 */
import { parseArgs } from 'node:util';
import { hashPassword, verifyPassword } from '../../src/factors/password.ts';
import { seedTenant, seedTotpUsers, startBenchServer, type BenchDialect } from './bench-server.ts';

/** Messages from the parent. */
export type FlowServerRequest =
  | { readonly type: 'bound'; readonly seconds: number; readonly concurrency: number }
  | { readonly type: 'rss'; readonly gc: boolean }
  | { readonly type: 'cpu' }
  | { readonly type: 'close' };

/** A seeded tenant as the load generator needs it. */
export interface FlowServerTenant {
  readonly slug: string;
  readonly authorization: string;
}

/** Messages to the parent. */
export type FlowServerReply =
  | {
      readonly type: 'ready';
      readonly url: string;
      readonly where: string;
      readonly password: string;
      /** RSS in bytes right after the server started, before the seeding. */
      readonly rssStarted: number;
      readonly flow: FlowServerTenant & { readonly users: readonly { readonly email: string; readonly secretHex: string }[] };
      readonly signin: FlowServerTenant & { readonly emails: readonly string[] };
    }
  | { readonly type: 'bound'; readonly count: number; readonly seconds: number }
  | { readonly type: 'rss'; readonly rss: number; readonly maxRss: number }
  | { readonly type: 'cpu'; readonly micros: number }
  | { readonly type: 'closed' };

const PASSWORD = 'correct horse battery staple';

const { values: args } = parseArgs({
  options: {
    dialect: { type: 'string', default: 'sqlite' },
    users: { type: 'string', default: '3000' },
    'signin-users': { type: 'string', default: '200' },
  },
});
const dialect = args.dialect as BenchDialect;
if (dialect !== 'sqlite' && dialect !== 'postgres') throw new Error(`--dialect: ${dialect} is not sqlite or postgres`);
const send = process.send?.bind(process);
if (send === undefined) throw new Error('flow-server.ts runs as a child of bench/flow.ts (it needs an IPC channel)');
const reply = (message: FlowServerReply, then?: () => void): void => {
  send(message, undefined, undefined, () => then?.());
};

const server = await startBenchServer(dialect);
const rssStarted = process.memoryUsage().rss;
let closing = false;
const close = async (): Promise<void> => {
  if (closing) return;
  closing = true;
  await server.close();
};
// The parent gone (stopped, crashed): close the server (a PostgreSQL schema is dropped) rather than linger.
process.once('disconnect', () => {
  void close().finally(() => process.exit(0));
});
const passwordHash = await hashPassword(PASSWORD);
const flowTenant = await seedTenant(server.runtime, 'flow', { enrollment: 'required', gracePeriodDays: 0, challenge: 'always' });
const flowUsers = await seedTotpUsers(server.runtime, flowTenant.tenantId, Number(args.users), 'flow', passwordHash);
const signinTenant = await seedTenant(server.runtime, 'signin', { enrollment: 'optional', challenge: 'never' });
const signinEmails: string[] = [];
const now = Date.now();
await server.runtime.store.transaction(async (tx) => {
  const t = tx.forTenant(signinTenant.tenantId);
  for (let i = 0; i < Number(args['signin-users']); i++) {
    const email = `signin-${i}@bench.example`;
    await t.users.create({ email, passwordHash, now });
    signinEmails.push(email);
  }
});

/** argon2id verifications per second with `concurrency` in flight, for `seconds` (as bench/signin.ts measures). */
async function bound(seconds: number, concurrency: number): Promise<{ count: number; seconds: number }> {
  const start = performance.now();
  const end = start + seconds * 1000;
  let count = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < end) {
        if (!(await verifyPassword(passwordHash, PASSWORD))) throw new Error('verifyPassword refused the right password');
        count++;
      }
    }),
  );
  return { count, seconds: (performance.now() - start) / 1000 };
}

process.on('message', (message: FlowServerRequest) => {
  void (async (): Promise<void> => {
    if (message.type === 'bound') {
      reply({ type: 'bound', ...(await bound(message.seconds, message.concurrency)) });
    } else if (message.type === 'cpu') {
      const used = process.cpuUsage();
      reply({ type: 'cpu', micros: used.user + used.system });
    } else if (message.type === 'rss') {
      const gc = (globalThis as { gc?: () => void }).gc;
      if (message.gc && gc !== undefined) gc();
      // maxRSS is in KiB.
      reply({ type: 'rss', rss: process.memoryUsage().rss, maxRss: process.resourceUsage().maxRSS * 1024 });
    } else {
      await close();
      // Exit once the answer is handed to the channel (exiting at once could drop it).
      reply({ type: 'closed' }, () => process.exit(0));
    }
  })().catch((error: unknown) => {
    console.error(error);
    process.exit(1);
  });
});

reply({
  type: 'ready',
  url: server.url,
  where: server.where,
  password: PASSWORD,
  rssStarted,
  // seedTotpUsers names its users `<prefix>-<i>@bench.example`, in order.
  flow: { slug: flowTenant.slug, authorization: flowTenant.authorization, users: flowUsers.map((u, i) => ({ email: `flow-${i}@bench.example`, secretHex: u.secret.toString('hex') })) },
  signin: { slug: signinTenant.slug, authorization: signinTenant.authorization, emails: signinEmails },
});
