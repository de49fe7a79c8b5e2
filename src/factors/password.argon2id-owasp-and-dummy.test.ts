import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { hash, parseOptions } from '@node-rs/argon2';
import { PortcullisError } from '../core/index.ts';
import {
  DUMMY_PASSWORD_HASH_FOR_TESTS,
  PASSWORD_HASH_OPTIONS,
  hashPassword,
  needsRehash,
  type PasswordVerifier,
  verifyPassword,
  verifyPasswordOrDummy,
} from './password.ts';

const isInvalidRequest = (e: unknown): boolean => e instanceof PortcullisError && e.code === 'INVALID_REQUEST';

describe('hashPassword / verifyPassword: argon2id at OWASP parameters', () => {
  test('m=19456 KiB, t=2, p=1, 16-byte salt; verifies the right password only', async () => {
    const h = await hashPassword('correct horse battery staple');
    assert.match(h, /^\$argon2id\$v=19\$m=19456,t=2,p=1\$/);
    assert.equal(parseOptions(h).saltLen, 16);
    assert.equal(await verifyPassword(h, 'correct horse battery staple'), true);
    assert.equal(await verifyPassword(h, 'correct horse battery stapl'), false);
    assert.equal(await verifyPassword(h, 'Correct horse battery staple'), false);
    assert.notEqual(h, await hashPassword('correct horse battery staple'), 'salted');
    assert.equal(needsRehash(h), false);
  });

  test('Unicode is normalised (NFKC) the same way at hashing and verifying', async () => {
    const composed = 'pässwörd-ﬁne';
    const h = await hashPassword(composed);
    assert.equal(await verifyPassword(h, composed.normalize('NFD')), true);
    assert.equal(await verifyPassword(h, 'pässwörd-fine'), true, 'the ﬁ ligature folds to fi');
  });

  test('fewer than 8 or more than 1,024 characters is refused with INVALID_REQUEST, without the password', async () => {
    for (const bad of ['', 'short', '1234567', 'x'.repeat(1025)]) {
      await assert.rejects(hashPassword(bad), (e: unknown) => isInvalidRequest(e) && (bad === '' || !(e as Error).message.includes(bad)));
    }
    await assert.rejects(hashPassword(42 as unknown as string), isInvalidRequest);
    // Lengths count characters (code points), not UTF-16 units: 8 emoji are 8 characters.
    assert.match(await hashPassword('😀'.repeat(8)), /^\$argon2id\$/);
    assert.match(await hashPassword('x'.repeat(1024)), /^\$argon2id\$/);
  });

  test('verifyPassword never throws: non-strings, over-long input and unparsable hashes are false', async () => {
    const h = await hashPassword('correct horse battery staple');
    for (const bad of [null, undefined, 12345678, ['correct horse battery staple'], 'x'.repeat(10 * 1024 * 1024)]) {
      assert.equal(await verifyPassword(h, bad), false);
    }
    assert.equal(await verifyPassword('not-a-hash', 'correct horse battery staple'), false);
  });
});

describe('verifyPasswordOrDummy: unknown users cost the same work', () => {
  /** A verifier that does the real work and records what it was asked. */
  function countingVerifier(): { verify: PasswordVerifier; calls: { hash: string; password: unknown }[] } {
    const calls: { hash: string; password: unknown }[] = [];
    return { calls, verify: async (passwordHash, password) => (calls.push({ hash: passwordHash, password }), verifyPassword(passwordHash, password)) };
  }

  test('null hash → exactly one argon2id verification, against the dummy hash, and false', async () => {
    const { verify, calls } = countingVerifier();
    assert.equal(await verifyPasswordOrDummy(null, 'correct horse battery staple', verify), false);
    assert.deepEqual(calls, [{ hash: DUMMY_PASSWORD_HASH_FOR_TESTS, password: 'correct horse battery staple' }]);
  });

  test('the dummy hash is made with the current parameters (it costs what a real hash costs)', () => {
    const dummy = parseOptions(DUMMY_PASSWORD_HASH_FOR_TESTS);
    assert.equal(dummy.algorithm, PASSWORD_HASH_OPTIONS.algorithm);
    assert.equal(dummy.memoryCost, PASSWORD_HASH_OPTIONS.memoryCost);
    assert.equal(dummy.timeCost, PASSWORD_HASH_OPTIONS.timeCost);
    assert.equal(dummy.parallelism, PASSWORD_HASH_OPTIONS.parallelism);
    assert.equal(needsRehash(DUMMY_PASSWORD_HASH_FOR_TESTS), false);
  });

  test('a real hash → exactly one verification, against it, with the real answer', async () => {
    const h = await hashPassword('correct horse battery staple');
    const { verify, calls } = countingVerifier();
    assert.equal(await verifyPasswordOrDummy(h, 'correct horse battery staple', verify), true);
    assert.equal(await verifyPasswordOrDummy(h, 'wrong password!', verify), false);
    assert.deepEqual(calls.map((c) => c.hash), [h, h]);
  });

  test('unknown and known-with-wrong-password cost the same argon2 CPU work (process CPU time, argon2 threads included)', async () => {
    const h = await hashPassword('correct horse battery staple');
    const cpu = async (fn: () => Promise<unknown>): Promise<number> => {
      const samples: number[] = [];
      for (let i = 0; i < 5; i++) {
        const start = process.cpuUsage();
        await fn();
        const used = process.cpuUsage(start);
        samples.push((used.user + used.system) / 1000);
      }
      return samples.sort((a, b) => a - b)[2] ?? 0;
    };
    const unknown = await cpu(() => verifyPasswordOrDummy(null, 'wrong password!'));
    const known = await cpu(() => verifyPasswordOrDummy(h, 'wrong password!'));
    // Contrast: a password too short to be one is refused before argon2 runs at all.
    const none = await cpu(() => verifyPasswordOrDummy(h, 'short'));
    assert.ok(unknown > known / 2 && unknown < known * 2, `unknown ${unknown.toFixed(1)} ms vs known ${known.toFixed(1)} ms of CPU`);
    assert.ok(none < known / 10, `no verification ${none.toFixed(2)} ms vs one ${known.toFixed(1)} ms: the measure tells work from none`);
  });
});

describe('needsRehash', () => {
  test('true for other parameters, another argon2 variant or an unparsable hash', async () => {
    assert.equal(needsRehash(await hash('correct horse battery staple', { memoryCost: 4096, timeCost: 1 })), true);
    assert.equal(needsRehash(await hash('correct horse battery staple', { ...PASSWORD_HASH_OPTIONS, timeCost: 3 })), true);
    assert.equal(needsRehash(await hash('correct horse battery staple', { ...PASSWORD_HASH_OPTIONS, algorithm: 1 as typeof PASSWORD_HASH_OPTIONS.algorithm })), true);
    assert.equal(needsRehash('$2b$12$abcdefghijklmnopqrstuu'), true);
    assert.equal(needsRehash(''), true);
  });
});
