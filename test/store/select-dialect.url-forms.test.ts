import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isPortcullisError } from '../../src/core/index.ts';
import { DEFAULT_SQLITE_PATH, selectDialect } from '../../src/store/index.ts';

test('a postgres URL selects PostgreSQL; sqlite:/file: URLs and paths select SQLite; the default is the embedded file', () => {
  assert.deepEqual(selectDialect({ url: 'postgres://u@h:5432/db' }), { dialect: 'postgres', url: 'postgres://u@h:5432/db' });
  assert.deepEqual(selectDialect({ url: ' postgresql://u@h/db ' }), { dialect: 'postgres', url: 'postgresql://u@h/db' });
  assert.deepEqual(selectDialect({ url: 'sqlite:./data/x.db' }), { dialect: 'sqlite', path: './data/x.db' });
  assert.deepEqual(selectDialect({ url: 'sqlite:///var/lib/p.db' }), { dialect: 'sqlite', path: '/var/lib/p.db' });
  assert.deepEqual(selectDialect({ url: 'file::memory:' }), { dialect: 'sqlite', path: ':memory:' });
  assert.deepEqual(selectDialect({ url: '', sqlitePath: '/tmp/a.db' }), { dialect: 'sqlite', path: '/tmp/a.db' });
  assert.deepEqual(selectDialect({}), { dialect: 'sqlite', path: DEFAULT_SQLITE_PATH });
});

test('an unknown URL scheme is refused without echoing the URL (it may hold a password)', () => {
  assert.throws(
    () => selectDialect({ url: 'mysql://root:hunter2@h/db' }),
    (error: unknown) => isPortcullisError(error) && error.code === 'INVALID_REQUEST' && !error.message.includes('hunter2'),
  );
});
