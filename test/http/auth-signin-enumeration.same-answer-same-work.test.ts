/**
 * Issue 11, enumeration: password sign-in must not tell an unknown identifier from a wrong password, nor reveal a
 * lock, by its answer or by its work. On SQLite and PostgreSQL:
 * - an unknown identifier, a wrong password, a right or wrong password on a locked path (unknown devices, or the
 *   whole account) and a wrong password from a known device all answer the same bytes: 401 INVALID_CREDENTIALS;
 * - each runs the same statements — after the client's authentication and the tenant lookup (from this node's
 *   catalog cache, validated by one version read per request: src/store/catalog.ts), one read (user with known
 *   device) and four writes (the IP count, the reservation on the path's counter or on a throttle row standing in for it,
 *   the history row, the audit record) — counted by a Kysely plugin on the harness's database (BEGIN/COMMIT are
 *   not queries; every path has the one same transaction);
 * - each runs one argon2 verification (against a dummy hash where nothing may be checked): the process CPU time of
 *   every path is of the order of a wrong password's, where a path without argon2 costs a tenth of it.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { AliasNode, TableNode, type KyselyPlugin, type OperationNode, type PluginTransformQueryArgs, type PluginTransformResultArgs, type QueryResult, type RootOperationNode, type UnknownRow } from 'kysely';
import { ACCOUNT_FAILURE_LIMIT, LOCKED_UNTIL_RESET, type UserRecord } from '../../src/store/index.ts';
import { deviceKeyOf } from '../../src/services/risk.ts';
import { forEachDialect, openTestDatabase, type Harness } from '../support/harness.ts';
import { api, auditOf, createAuthHarness, createClient, createTenant, createUser, PASSWORD, type ApiResult, type TestClient } from './auth-support.ts';

function tableOf(node: OperationNode | undefined): string {
  if (node === undefined) return '?';
  if (TableNode.is(node)) return node.table.identifier.name;
  if (AliasNode.is(node)) return tableOf(node.node);
  return node.kind;
}

/** Records every query the database runs as "<kind> <table>", in order. */
class StatementLog implements KyselyPlugin {
  entries: string[] = [];

  transformQuery(args: PluginTransformQueryArgs): RootOperationNode {
    const node = args.node;
    switch (node.kind) {
      case 'SelectQueryNode':
        this.entries.push(`select ${tableOf(node.from?.froms[0])}`);
        break;
      case 'InsertQueryNode':
        this.entries.push(`insert ${tableOf(node.into)}`);
        break;
      case 'UpdateQueryNode':
        this.entries.push(`update ${tableOf(node.table)}`);
        break;
      case 'DeleteQueryNode':
        this.entries.push(`delete ${tableOf(node.from.froms[0])}`);
        break;
      default:
        this.entries.push(node.kind);
    }
    return node;
  }

  transformResult(args: PluginTransformResultArgs): Promise<QueryResult<UnknownRow>> {
    return Promise.resolve(args.result);
  }
}

const isWrite = (entry: string): boolean => /^(insert|update|delete) /.test(entry);

/** The one profile of every refused password sign-in; the reservation writes the path's counter or its stand-in. */
const RESERVATION = new Set(['update users', 'insert signin_throttle']);
const PROFILE = ['insert signin_throttle', 'select users', 'RESERVATION', 'insert signin_history', 'insert audit_events'];

forEachDialect((dialect) => {
  let h: Harness;
  let client: TestClient;
  let tenantId: string;
  const log = new StatementLog();
  const users: Record<string, UserRecord> = {};

  before(async () => {
    h = await createAuthHarness(dialect, {
      openDatabase: async () => {
        const opened = await openTestDatabase(dialect);
        return { database: { ...opened.database, db: opened.database.db.withPlugin(log) }, dispose: opened.dispose };
      },
    });
    client = await createClient(h, 'enumeration');
    tenantId = (await createTenant(h, 'enum', { enrollment: 'optional', challenge: 'never' })).id;
    for (const name of ['wrong', 'device-locked', 'account-locked', 'known']) users[name] = await createUser(h, tenantId, `${name}@example.com`);
    // Locked paths: one user's, by a stranger's 100 wrong passwords (each from its own address, ten at a time);
    // another's whole account, as 100 wrong codes leave it.
    for (let i = 0; i < ACCOUNT_FAILURE_LIMIT; i += 10) {
      await Promise.all(
        Array.from({ length: 10 }, (_, j) => api(h, client, 'POST', '/auth/signin', { tenant: 'enum', identifier: 'device-locked@example.com', password: `guess ${i + j}`, context: { ip: `198.51.100.${i + j}` } })),
      );
    }
    await h.database.db.updateTable('users').set({ failed_signins: ACCOUNT_FAILURE_LIMIT, locked_until: LOCKED_UNTIL_RESET }).where('id', '=', users['account-locked']?.id ?? '').execute();
    // Devices that completed MFA for `known` and for `account-locked` (trusted devices are written only then).
    await h.store.forTenant(tenantId).trustedDevices.upsert(users['known']?.id ?? '', deviceKeyOf(tenantId, 'phone-of-known') ?? '', h.clock.now());
    await h.store.forTenant(tenantId).trustedDevices.upsert(users['account-locked']?.id ?? '', deviceKeyOf(tenantId, 'phone-of-locked') ?? '', h.clock.now());
  });
  after(() => h.close());

  const cases: ReadonlyArray<readonly [string, string, string, Record<string, string>?]> = [
    ['unknown identifier', 'nobody@example.com', 'a wrong password'],
    ['wrong password', 'wrong@example.com', 'a wrong password'],
    ['unknown-device path locked, right password', 'device-locked@example.com', PASSWORD],
    ['unknown-device path locked, wrong password', 'device-locked@example.com', 'a wrong password'],
    ['account locked, right password', 'account-locked@example.com', PASSWORD],
    ['account locked, right password from a known device', 'account-locked@example.com', PASSWORD, { deviceId: 'phone-of-locked' }],
    ['wrong password from a known device', 'known@example.com', 'a wrong password', { deviceId: 'phone-of-known' }],
  ];

  const signIn = async (identifier: string, password: string, context: Record<string, string> = {}): Promise<{ res: ApiResult; statements: string[]; cpuMicros: number }> => {
    log.entries = [];
    const cpu = process.cpuUsage();
    const res = await api(h, client, 'POST', '/auth/signin', { tenant: 'enum', identifier, password, context: { ip: '203.0.113.50', ...context } });
    const used = process.cpuUsage(cpu);
    return { res, statements: log.entries, cpuMicros: used.user + used.system };
  };

  describe('one answer', () => {
    it('unknown identifier, wrong password and locked paths answer the same status and body', async () => {
      const answers = new Map<string, string>();
      for (const [what, identifier, password, context] of cases) {
        const { res } = await signIn(identifier, password, context);
        answers.set(what, `${res.status} ${String(res.headers['content-type'])} ${res.text}`);
      }
      assert.deepEqual(new Set(answers.values()), new Set(['401 application/json; charset=utf-8 {"error":"INVALID_CREDENTIALS","message":"The identifier or password is wrong."}']), JSON.stringify(Object.fromEntries(answers), null, 1));
      // The administrators still see why (the audit reason), never the password.
      const reasons = (await auditOf(h, tenantId)).filter((e) => e.event === 'user.signin_failed').slice(ACCOUNT_FAILURE_LIMIT).map((e) => `${String(e.data['reason'])}/${String(e.data['path'])}`);
      assert.deepEqual(reasons, [
        'unknown_identifier/unknown_identifier',
        'bad_password/unknown_device',
        'unknown_device_locked/unknown_device',
        'unknown_device_locked/unknown_device',
        'account_locked/unknown_device',
        'account_locked/known_device',
        'bad_password/known_device',
      ]);
    });
  });

  describe('the same work', () => {
    it('every refused sign-in runs the same statements: 1 read and 4 writes, the reservation included', async () => {
      const profiles: Record<string, string[]> = {};
      for (const [what, identifier, password, context] of cases) profiles[what] = (await signIn(identifier, password, context)).statements;
      for (const [what, statements] of Object.entries(profiles)) {
        assert.deepEqual(statements.map((s, i) => (i === 2 && RESERVATION.has(s) ? 'RESERVATION' : s)), PROFILE, `${what}: ${statements.join(', ')}`);
        assert.equal(statements.filter(isWrite).length, 4, what);
      }
      // The reservation of an unknown identifier is a throttle row; of a user, their counter.
      assert.equal(profiles['unknown identifier']?.[2], 'insert signin_throttle');
      assert.equal(profiles['wrong password']?.[2], 'update users');
    });

    it('every refused sign-in runs one argon2 verification (CPU time of the order of a wrong password’s)', async () => {
      const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;
      const cpu: Record<string, number> = {};
      for (const [what, identifier, password, context] of cases) {
        const runs: number[] = [];
        for (let i = 0; i < 3; i++) runs.push((await signIn(identifier, password, context)).cpuMicros);
        cpu[what] = median(runs);
      }
      const reference = cpu['wrong password'] ?? 0;
      for (const [what, micros] of Object.entries(cpu)) {
        assert.ok(micros >= reference / 2 && micros <= reference * 2, `${what}: ${micros} µs of CPU against ${reference} µs for a wrong password (${JSON.stringify(cpu)})`);
      }
    });
  });
});
