import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { PortcullisError } from '../core/index.ts';
import { createSecretBox, secretAad } from './secret-box.ts';

const key = randomBytes(32);
const box = createSecretBox(key);
const secret = Buffer.from('12345678901234567890', 'ascii');
const aad = secretAad('tenant-a', 'factor-1');

/** Refused with SECRET_UNREADABLE, and neither the secret, the key nor the sealed value appears in message or detail. */
function refusedWithoutLeak(sealed: string, fn: () => unknown): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof PortcullisError);
    assert.equal(e.code, 'SECRET_UNREADABLE');
    const text = `${e.message} ${e.detail ?? ''} ${String(e.stack)}`;
    for (const leak of [secret.toString('ascii'), secret.toString('base64url'), key.toString('base64'), key.toString('base64url'), key.toString('hex'), sealed]) {
      if (leak.length > 0) assert.ok(!text.includes(leak), 'a secret leaked into the error');
    }
    return true;
  });
}

describe('secret box: AES-256-GCM at rest', () => {
  test('round trip', () => {
    assert.deepEqual(box.open(box.seal(secret, aad), aad), secret);
    assert.deepEqual(box.open(box.seal(Buffer.alloc(0), aad), aad), Buffer.alloc(0));
  });

  test('round trip for any bytes and AAD', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 256 }), fc.string(), (bytes, anyAad) => {
      assert.deepEqual(box.open(box.seal(Buffer.from(bytes), anyAad), anyAad), Buffer.from(bytes));
    }));
  });

  test('versioned text format v1.<iv>.<ciphertext+tag>, with a fresh 96-bit IV every time', () => {
    const a = box.seal(secret, aad);
    const b = box.seal(secret, aad);
    assert.match(a, /^v1\.[A-Za-z0-9_-]{16}\.[A-Za-z0-9_-]+$/);
    assert.notEqual(a, b);
    assert.equal(Buffer.from(a.split('.')[1] ?? '', 'base64url').length, 12);
    assert.equal(Buffer.from(a.split('.')[2] ?? '', 'base64url').length, secret.length + 16);
  });

  /** `bytes` with bit `i` flipped. */
  function flipped(bytes: Buffer, i: number): Buffer {
    const out = Buffer.from(bytes);
    out[i >> 3] = (out[i >> 3] ?? 0) ^ (1 << (i & 7));
    return out;
  }

  test('every single flipped bit — of the version, the IV, the ciphertext, the tag and the AAD — is refused with a PortcullisError that carries no secret', () => {
    const sealed = box.seal(secret, aad);
    const [version, iv, body] = sealed.split('.') as [string, string, string];
    const parts: Array<[string, Buffer, (altered: Buffer) => [string, string]]> = [
      ['version', Buffer.from(version, 'ascii'), (v) => [`${v.toString('latin1')}.${iv}.${body}`, aad]],
      ['IV', Buffer.from(iv, 'base64url'), (v) => [`${version}.${v.toString('base64url')}.${body}`, aad]],
      ['ciphertext and tag', Buffer.from(body, 'base64url'), (v) => [`${version}.${iv}.${v.toString('base64url')}`, aad]],
      ['AAD', Buffer.from(aad, 'latin1'), (v) => [sealed, v.toString('latin1')]],
    ];
    let flips = 0;
    for (const [what, bytes, rebuild] of parts) {
      for (let i = 0; i < bytes.length * 8; i++) {
        const [tampered, tamperedAad] = rebuild(flipped(bytes, i));
        assert.ok(tampered !== sealed || tamperedAad !== aad, `${what} bit ${i} changed something`);
        refusedWithoutLeak(tampered, () => box.open(tampered, tamperedAad));
        flips++;
      }
    }
    // 2 version bytes, 12 IV bytes, 20 ciphertext + 16 tag bytes, 17 AAD bytes: every one of their bits.
    assert.equal(flips, (2 + 12 + secret.length + 16 + Buffer.byteLength(aad, 'latin1')) * 8);
  });

  test('malformed values are refused: other version, wrong IV length, truncated tag, junk characters', () => {
    const sealed = box.seal(secret, aad);
    const [, iv, body] = sealed.split('.') as [string, string, string];
    const bodyBytes = Buffer.from(body, 'base64url');
    for (const bad of [
      `v2.${iv}.${body}`,
      `${iv}.${body}`,
      `v1.${iv}.${body}.x`,
      `v1.${Buffer.alloc(16).toString('base64url')}.${body}`,
      `v1.${iv}.${bodyBytes.subarray(0, bodyBytes.length - 4).toString('base64url')}`,
      `v1.${iv}.${bodyBytes.subarray(0, 8).toString('base64url')}`,
      `v1.${iv}.${body}!`,
      `v1.${iv}.${body}=`,
      '',
    ]) {
      refusedWithoutLeak(bad, () => box.open(bad, aad));
    }
  });

  test('wrong AAD is refused: a secret cannot move to another factor or tenant', () => {
    const sealed = box.seal(secret, aad);
    refusedWithoutLeak(sealed, () => box.open(sealed, secretAad('tenant-a', 'factor-2')));
    refusedWithoutLeak(sealed, () => box.open(sealed, secretAad('tenant-b', 'factor-1')));
    refusedWithoutLeak(sealed, () => box.open(sealed, ''));
  });

  test('wrong key is refused', () => {
    const sealed = box.seal(secret, aad);
    refusedWithoutLeak(sealed, () => createSecretBox(randomBytes(32)).open(sealed, aad));
  });

  test('the key is copied: changing the caller\'s buffer afterwards changes nothing', () => {
    const mutable = Buffer.from(key);
    const own = createSecretBox(mutable);
    const sealed = own.seal(secret, aad);
    mutable.fill(0);
    assert.deepEqual(own.open(sealed, aad), secret);
  });

  test('a key that is not 32 bytes is refused', () => {
    for (const bad of [randomBytes(16), randomBytes(31), randomBytes(33), Buffer.alloc(0)]) {
      assert.throws(() => createSecretBox(bad), (e: unknown) => e instanceof PortcullisError && e.code === 'INTERNAL');
    }
  });
});
