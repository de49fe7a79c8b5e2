import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { migrateToLatest, oidcPayloadRepository, openDatabase, type Database } from '../../src/store/index.ts';
import { createFreshSchema, dropSchema, postgresTestUrl } from '../support/postgres.ts';

/** The provider's payload repository on both databases: what `holdingWrites` holds back, and single use. */
const url = postgresTestUrl();
const targets: { name: string; skip?: string; open: () => Promise<{ database: Database; dispose: () => Promise<void> }> }[] = [
  {
    name: 'sqlite',
    open: async () => {
      const database = await openDatabase({ sqlitePath: ':memory:' });
      return { database, dispose: () => database.close() };
    },
  },
  {
    name: 'postgres',
    ...(url === undefined ? { skip: 'PORTCULLIS_TEST_DATABASE_URL is not set' } : {}),
    open: async () => {
      const schema = await createFreshSchema(url ?? '', 'portcullis_oidc');
      const database = await openDatabase({ url, schema });
      return {
        database,
        dispose: async () => {
          await database.close();
          await dropSchema(url ?? '', schema);
        },
      };
    },
  },
];

for (const target of targets) {
  describe(`oidc payloads on ${target.name}`, { ...(target.skip === undefined ? {} : { skip: target.skip }) }, () => {
    const opened = target.skip === undefined ? target.open() : null;
    after(async () => (await opened)?.dispose());
    const repo = async (): Promise<ReturnType<typeof oidcPayloadRepository>> => {
      const { database } = (await opened) ?? assert.fail('not opened');
      await migrateToLatest(database);
      return oidcPayloadRepository(database);
    };
    const now = Date.now();

    it('writes held in a scope are stored before it settles, unseen by another reader until then, and read by the scope itself', async () => {
      const payloads = await repo();
      // Another request's reader: its promise chain is made outside the scope's async context.
      let open = (): void => undefined;
      const gate = new Promise<void>((resolve) => (open = resolve));
      const outside = gate.then(() => payloads.find('Interaction', 'i1', now));
      let seenInside: unknown;
      await payloads.holdingWrites(async () => {
        await payloads.upsert('Session', 's1', { uid: 'u1', accountId: 'a' }, now + 60_000);
        await payloads.upsert('Interaction', 'i1', { jti: 'i1' }, now + 60_000);
        await payloads.destroy('Interaction', 'gone');
        open();
        assert.equal(await outside, null);
        seenInside = (await payloads.findByUid('Session', 'u1', now))?.payload.accountId;
      });
      assert.equal(seenInside, 'a');
      assert.deepEqual((await payloads.find('Interaction', 'i1', now))?.payload, { jti: 'i1' });
    });

    it('a read of another row leaves the held writes held; one of a held row, or by uid in a held model, commits them first', async () => {
      const payloads = await repo();
      let open = (): void => undefined;
      const gate = new Promise<void>((resolve) => (open = resolve));
      const outside = gate.then(() => payloads.find('Interaction', 'i2', now));
      await payloads.holdingWrites(async () => {
        await payloads.upsert('Interaction', 'i2', { jti: 'i2' }, now + 60_000);
        await payloads.upsert('Session', 's2', { uid: 'u2' }, now + 60_000);
        assert.equal(await payloads.find('Grant', 'other', now), null);
        assert.equal(await payloads.find('Session', 'other', now), null);
        open();
        assert.equal(await outside, null, 'still held after reads of other rows');
        assert.deepEqual((await payloads.findByUid('Session', 'u2', now))?.payload, { uid: 'u2' });
        assert.deepEqual((await payloads.find('Interaction', 'i2', now))?.payload, { jti: 'i2' });
      });
    });

    it('a scope that throws keeps what it wrote before the error and rethrows it', async () => {
      const payloads = await repo();
      await assert.rejects(
        payloads.holdingWrites(async () => {
          await payloads.upsert('Grant', 'g1', { jti: 'g1' }, null);
          throw new Error('boom');
        }),
        /boom/,
      );
      assert.deepEqual((await payloads.find('Grant', 'g1', now))?.payload, { jti: 'g1' });
    });

    it('a code is consumed once, also inside a scope after a held write of it, and stays consumed when saved again', async () => {
      const payloads = await repo();
      const results = await payloads.holdingWrites(async () => {
        await payloads.upsert('AuthorizationCode', 'c1', { grantId: 'gr1' }, now + 60_000);
        return Promise.all([payloads.consume('AuthorizationCode', 'c1', now), payloads.consume('AuthorizationCode', 'c1', now)]);
      });
      assert.deepEqual(results.sort(), [false, true]);
      await payloads.upsert('AuthorizationCode', 'c1', { grantId: 'gr1', again: true }, now + 60_000);
      assert.equal((await payloads.find('AuthorizationCode', 'c1', now))?.consumedAt, now);
      await payloads.revokeByGrantId('gr1');
      assert.equal(await payloads.find('AuthorizationCode', 'c1', now), null);
    });

    it('an expired row is not found', async () => {
      const payloads = await repo();
      await payloads.upsert('AccessToken', 't1', { jti: 't1' }, now - 1);
      assert.equal(await payloads.find('AccessToken', 't1', now), null);
    });
  });
}
