import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { parseOptions } from '@node-rs/argon2';
import { PortcullisError } from '../core/index.ts';
import {
  RECOVERY_CODE_BITS,
  generateRecoveryCodes,
  hashRecoveryCode,
  normaliseRecoveryCode,
  verifyRecoveryCode,
} from './recovery-codes.ts';

const FORMAT = /^[0-9a-hjkmnp-tv-z]{4}(-[0-9a-hjkmnp-tv-z]{4}){3}$/;

describe('generateRecoveryCodes', () => {
  test('≥ 64 bits each: 16 symbols of a 32-character alphabet = 80 bits, as xxxx-xxxx-xxxx-xxxx', () => {
    assert.ok(RECOVERY_CODE_BITS >= 64);
    assert.equal(RECOVERY_CODE_BITS, 80);
    const codes = generateRecoveryCodes(20);
    assert.equal(codes.length, 20);
    for (const code of codes) assert.match(code, FORMAT);
    assert.equal(new Set(codes).size, 20);
  });

  test('no look-alike characters (i, l, o, u) ever appear', () => {
    const all = generateRecoveryCodes(20).join('') + generateRecoveryCodes(20).join('');
    assert.doesNotMatch(all, /[ilou]/);
  });

  test('every symbol of the alphabet appears at every position (no stuck bits), over many batches', () => {
    const seen = Array.from({ length: 16 }, () => new Set<string>());
    for (let i = 0; i < 200; i++) {
      for (const code of generateRecoveryCodes(20)) {
        [...code.replaceAll('-', '')].forEach((c, p) => seen[p]?.add(c));
      }
    }
    for (const s of seen) assert.equal(s.size, 32);
  });

  test('a count outside 1–20 is refused', () => {
    for (const bad of [0, -1, 21, 1.5, Number.NaN]) {
      assert.throws(() => generateRecoveryCodes(bad), (e: unknown) => e instanceof PortcullisError && e.code === 'INVALID_REQUEST');
    }
  });
});

describe('normaliseRecoveryCode', () => {
  test('case-insensitive; spaces and dashes stripped; O → 0, I and L → 1', () => {
    assert.equal(normaliseRecoveryCode('7kq2-m9xd-4wzr-0b3h'), '7KQ2M9XD4WZR0B3H');
    assert.equal(normaliseRecoveryCode(' 7KQ2 M9XD 4WZR 0B3H '), '7KQ2M9XD4WZR0B3H');
    assert.equal(normaliseRecoveryCode('7kq2m9xd4wzrob3h'), '7KQ2M9XD4WZR0B3H');
    assert.equal(normaliseRecoveryCode('lkq2-i9xd-4wzr-0b3h'), '1KQ219XD4WZR0B3H');
  });

  test('every generated code normalises to itself without dashes, upper case', () => {
    for (const code of generateRecoveryCodes(20)) assert.equal(normaliseRecoveryCode(code), code.replaceAll('-', '').toUpperCase());
  });

  test('non-strings, wrong lengths and other characters → null', () => {
    for (const bad of [null, undefined, 42, ['7kq2-m9xd-4wzr-0b3h'], {}, '', '7kq2-m9xd-4wzr-0b3', '7kq2-m9xd-4wzr-0b3hh', '7kq2-m9xd-4wzr-0b3u', '7kq2_m9xd_4wzr_0b3h', '７kq2-m9xd-4wzr-0b3h', 'x'.repeat(10_000_000)]) {
      assert.equal(normaliseRecoveryCode(bad), null);
    }
  });

  test('never throws, for any input', () => {
    fc.assert(fc.property(fc.anything(), (input) => {
      const out = normaliseRecoveryCode(input);
      assert.ok(out === null || /^[0-9A-HJKMNP-TV-Z]{16}$/.test(out));
    }));
  });
});

describe('hashRecoveryCode / verifyRecoveryCode', () => {
  test('hashes with argon2id at m=4096 KiB, t=1, p=1, salted', async () => {
    const [code] = generateRecoveryCodes(1) as [string];
    const a = await hashRecoveryCode(code);
    const b = await hashRecoveryCode(code);
    assert.match(a, /^\$argon2id\$v=19\$m=4096,t=1,p=1\$/);
    assert.notEqual(a, b, 'salted');
    assert.equal(parseOptions(a).saltLen, 16);
    assert.ok(!a.toUpperCase().includes(code.replaceAll('-', '').toUpperCase()));
  });

  test('finds the matching id among a batch, in any typed form; a wrong or malformed code → null', async () => {
    const codes = generateRecoveryCodes(10);
    const candidates = await Promise.all(codes.map(async (code, i) => ({ id: `rc-${i}`, hash: await hashRecoveryCode(code) })));
    assert.equal(await verifyRecoveryCode(codes[0], candidates), 'rc-0');
    assert.equal(await verifyRecoveryCode(codes[9], candidates), 'rc-9');
    assert.equal(await verifyRecoveryCode(` ${(codes[4] ?? '').toUpperCase().replaceAll('-', ' ')} `, candidates), 'rc-4');
    const [other] = generateRecoveryCodes(1) as [string];
    assert.equal(await verifyRecoveryCode(other, candidates), null);
    for (const bad of [null, 123456, '', 'not a code', [codes[0]]]) assert.equal(await verifyRecoveryCode(bad, candidates), null);
    assert.equal(await verifyRecoveryCode(codes[0], []), null);
  });

  test('a used code (no longer among the candidates) no longer matches', async () => {
    const codes = generateRecoveryCodes(3);
    const candidates = await Promise.all(codes.map(async (code, i) => ({ id: `rc-${i}`, hash: await hashRecoveryCode(code) })));
    const id = await verifyRecoveryCode(codes[1], candidates);
    assert.equal(id, 'rc-1');
    assert.equal(await verifyRecoveryCode(codes[1], candidates.filter((c) => c.id !== id)), null);
  });

  test('an unparsable stored hash matches nothing and does not stop the others', async () => {
    const codes = generateRecoveryCodes(2);
    const candidates = [{ id: 'broken', hash: 'not-a-hash' }, { id: 'rc-1', hash: await hashRecoveryCode(codes[1] ?? '') }];
    assert.equal(await verifyRecoveryCode(codes[0], candidates), null);
    assert.equal(await verifyRecoveryCode(codes[1], candidates), 'rc-1');
  });

  test('hashing something that is not a code is refused', async () => {
    await assert.rejects(hashRecoveryCode('password'), (e: unknown) => e instanceof PortcullisError && e.code === 'INVALID_REQUEST');
  });
});
