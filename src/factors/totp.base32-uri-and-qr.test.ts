import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { PortcullisError } from '../core/index.ts';
import { base32Decode, base32Encode, generateTotpSecret, otpauthUri, qrCodeSvg } from './totp.ts';

describe('base32 (RFC 4648 §10 vectors, without padding)', () => {
  const vectors: readonly [string, string][] = [
    ['', ''],
    ['f', 'MY'],
    ['fo', 'MZXQ'],
    ['foo', 'MZXW6'],
    ['foob', 'MZXW6YQ'],
    ['fooba', 'MZXW6YTB'],
    ['foobar', 'MZXW6YTBOI'],
  ];
  for (const [plain, encoded] of vectors) {
    test(`"${plain}" ↔ "${encoded}"`, () => {
      assert.equal(base32Encode(Buffer.from(plain)), encoded);
      assert.equal(base32Decode(encoded)?.toString(), plain);
    });
  }
  test('decoding accepts lower case and padding', () => {
    assert.equal(base32Decode('mzxw6ytboi======')?.toString(), 'foobar');
  });
  test('decoding refuses other characters, impossible lengths and non-zero trailing bits (MZ is not MY)', () => {
    for (const bad of ['MZXW6YTB0I', 'M', 'MZX', 'MZXW6Y', 'ß', 'MZ XW', 'MZ']) {
      assert.equal(base32Decode(bad), null, bad);
    }
  });
  test('round trip for any bytes', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 80 }), (bytes) => {
      assert.deepEqual(base32Decode(base32Encode(bytes)), Buffer.from(bytes));
    }));
  });
});

describe('generateTotpSecret', () => {
  test('gives 20 fresh random bytes', () => {
    const a = generateTotpSecret();
    assert.equal(a.length, 20);
    assert.notDeepEqual(a, generateTotpSecret());
  });
});

describe('otpauthUri (Google Authenticator key-uri format)', () => {
  const secret = Buffer.from('12345678901234567890', 'ascii');
  test('label issuer:account URL-encoded, issuer also as a parameter, SHA1, 6 digits, 30 s', () => {
    assert.equal(
      otpauthUri({ issuer: 'Acme Corp', account: 'ada+mfa@example.com', secret }),
      'otpauth://totp/Acme%20Corp:ada%2Bmfa%40example.com?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=Acme%20Corp&algorithm=SHA1&digits=6&period=30',
    );
  });
  test('parses back with URL: the secret has no padding and the parameters are the fixed ones', () => {
    const url = new URL(otpauthUri({ issuer: 'Ünïcode & Co', account: 'é@example.com', secret }));
    assert.equal(url.protocol, 'otpauth:');
    assert.equal(url.searchParams.get('issuer'), 'Ünïcode & Co');
    assert.equal(url.searchParams.get('secret'), 'GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ');
    assert.equal(url.searchParams.get('algorithm'), 'SHA1');
    assert.equal(url.searchParams.get('digits'), '6');
    assert.equal(url.searchParams.get('period'), '30');
    assert.equal(url.host, 'totp');
    assert.equal(decodeURIComponent(url.pathname), '/Ünïcode & Co:é@example.com');
  });
  test('an empty issuer or account is refused with INVALID_REQUEST (a colon is encoded: totp.colon-in-account-encoded-uri-round-trips.test.ts)', () => {
    for (const [issuer, account] of [['', 'a@b.c'], ['Acme', '']]) {
      assert.throws(() => otpauthUri({ issuer: issuer ?? '', account: account ?? '', secret }), (e: unknown) => e instanceof PortcullisError && e.code === 'INVALID_REQUEST');
    }
  });
});

describe('qrCodeSvg', () => {
  test('renders an SVG document', async () => {
    const svg = await qrCodeSvg(otpauthUri({ issuer: 'Acme', account: 'ada@example.com', secret: generateTotpSecret() }));
    assert.match(svg, /^<svg[^>]*xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
    assert.match(svg, /<\/svg>\s*$/);
  });
});
