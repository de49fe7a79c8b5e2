/**
 * SECURITY issue #7: a trivially low-entropy `PORTCULLIS_SECRET_KEY` (all zeros, one repeated byte, a short
 * pattern, ASCII text) is refused in the production profile, and only warned about in dev. The key is never
 * echoed in either message.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { isWeakKey, loadConfig } from './config.ts';

const noFile = (): string => {
  throw new Error('no file expected');
};

const b64 = (bytes: Buffer): string => bytes.toString('base64');

const WEAK: readonly [string, Buffer][] = [
  ['all zeros', Buffer.alloc(32)],
  ['one repeated byte', Buffer.alloc(32, 0xa5)],
  ['a two-byte pattern', Buffer.from('abababababababababababababababab')],
  ['a counter of 8 values', Buffer.from(Array.from({ length: 32 }, (_, i) => i % 8))],
  ['a passphrase in ASCII', Buffer.from('passwordpasswordpassword12345678')],
];

describe('weak secret keys', () => {
  for (const [name, key] of WEAK) {
    it(`${name}: refused in production, naming the variable and never the key`, () => {
      const encoded = b64(key);
      const result = loadConfig({ PORTCULLIS_PROFILE: 'production', PORTCULLIS_SECRET_KEY: encoded }, noFile);
      assert.equal(result.ok, false);
      const errors = result.ok ? [] : result.errors;
      assert.equal(errors.length, 1);
      assert.match(errors[0] ?? '', /^PORTCULLIS_SECRET_KEY: the key \(hidden\) is not random: \d+ distinct bytes of 32.*refused in the production profile/);
      assert.ok(!(errors[0] ?? '').includes(encoded));
    });

    it(`${name}: accepted with a warning in dev`, () => {
      const result = loadConfig({ PORTCULLIS_SECRET_KEY: b64(key) }, noFile);
      assert.ok(result.ok);
      assert.ok(result.warnings.some((w) => w.startsWith('PORTCULLIS_SECRET_KEY: the key (hidden) is not random')));
    });
  }

  it('the same check applies to a key from the JSON file', () => {
    const result = loadConfig({ PORTCULLIS_CONFIG: 'c.json' }, () => JSON.stringify({ profile: 'production', secretKey: b64(Buffer.alloc(32)) }));
    assert.equal(result.ok, false);
    assert.match(result.ok ? '' : (result.errors[0] ?? ''), /^c\.json: secretKey: the key \(hidden\) is not random/);
  });

  it('random keys pass (property: 200 draws from the CSPRNG)', () => {
    for (let i = 0; i < 200; i++) {
      const key = randomBytes(32);
      assert.equal(isWeakKey(key), false);
      const result = loadConfig({ PORTCULLIS_PROFILE: 'production', PORTCULLIS_SECRET_KEY: b64(key), PUBLIC_URL: 'https://mfa.example.com' }, noFile);
      assert.ok(result.ok && result.warnings.length === 0);
    }
  });

  it('any key with fewer than 16 distinct bytes is weak, any with 16 or more is not', () => {
    fc.assert(
      fc.property(fc.uniqueArray(fc.integer({ min: 0, max: 255 }), { minLength: 1, maxLength: 32 }), fc.infiniteStream(fc.nat()), (values, picks) => {
        // A 32-byte key drawn from exactly `values.length` distinct byte values (each used at least once).
        const bytes = [...values];
        const it = picks[Symbol.iterator]();
        while (bytes.length < 32) bytes.push(values[(it.next().value ?? 0) % values.length] ?? 0);
        assert.equal(isWeakKey(Buffer.from(bytes)), values.length < 16);
      }),
    );
  });
});
