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

  test('any flipped bit is refused with a PortcullisError that carries no secret', () => {
    const sealed = box.seal(secret, aad);
    const [version, iv, body] = sealed.split('.') as [string, string, string];
    const bodyBytes = Buffer.from(body, 'base64url');
    const ivBytes = Buffer.from(iv, 'base64url');
    for (let i = 0; i < bodyBytes.length * 8; i += 7) {
      const altered = Buffer.from(bodyBytes);
      altered[i >> 3] = (altered[i >> 3] ?? 0) ^ (1 << (i & 7));
      const tampered = `${version}.${iv}.${altered.toString('base64url')}`;
      refusedWithoutLeak(tampered, () => box.open(tampered, aad));
    }
    const alteredIv = Buffer.from(ivBytes);
    alteredIv[0] = (alteredIv[0] ?? 0) ^ 1;
    const tamperedIv = `${version}.${alteredIv.toString('base64url')}.${body}`;
    refusedWithoutLeak(tamperedIv, () => box.open(tamperedIv, aad));
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
