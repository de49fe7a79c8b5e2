import assert from 'node:assert/strict';
import { createSecretKey } from 'node:crypto';
import { describe, it } from 'node:test';
import { cookieSignerOf } from './cookie-signer.ts';

// Computed with keygrip 1.1 (`new Keygrip([KEY]).sign(DATA)`), the key ring Koa would build from `keys: [KEY]`.
const KEY = '0123456789abcdef0123456789abcdef';
const DATA = 'pc_session=abc123';
const KEYGRIP_SIGNATURE = '4NbPAT57omubDaIvgkOCYqiUjyU';

describe('cookieSignerOf', () => {
  const signer = cookieSignerOf(createSecretKey(Buffer.from(KEY)));

  it('signs as keygrip does with the same key, so cookies signed before stay valid', () => {
    assert.equal(signer.sign(DATA), KEYGRIP_SIGNATURE);
    assert.equal(signer.index(DATA, KEYGRIP_SIGNATURE), 0);
    assert.equal(signer.verify(DATA, KEYGRIP_SIGNATURE), true);
  });

  it('refuses another value, an altered or truncated signature, one of another key, and a non-string', () => {
    assert.equal(signer.index('pc_session=abc124', KEYGRIP_SIGNATURE), -1);
    assert.equal(signer.index(DATA, `${KEYGRIP_SIGNATURE.slice(0, -1)}A`), -1);
    assert.equal(signer.index(DATA, KEYGRIP_SIGNATURE.slice(0, -1)), -1);
    assert.equal(signer.index(DATA, ''), -1);
    assert.equal(cookieSignerOf(createSecretKey(Buffer.from(`${KEY}x`))).verify(DATA, KEYGRIP_SIGNATURE), false);
    assert.equal(signer.index(DATA, undefined as unknown as string), -1);
  });
});
