import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { hotpCode, totpCode, totpStep, type TotpAlgorithm } from './totp.ts';

interface HotpVectors {
  readonly secretAscii: string;
  readonly digits: number;
  readonly cases: readonly { readonly count: number; readonly hotp: string }[];
}

interface TotpVectors {
  readonly digits: number;
  readonly seedsAscii: Readonly<Record<TotpAlgorithm, string>>;
  readonly cases: readonly { readonly time: number; readonly stepHex: string; readonly totp: string; readonly mode: TotpAlgorithm }[];
}

function vectors<T>(name: string): T {
  return JSON.parse(readFileSync(new URL(`./vectors/${name}`, import.meta.url), 'utf8')) as T;
}

describe('RFC 4226 Appendix D: HOTP values, exact', () => {
  const v = vectors<HotpVectors>('rfc4226-appendix-d.json');
  const secret = Buffer.from(v.secretAscii, 'ascii');
  for (const c of v.cases) {
    test(`count ${c.count} → ${c.hotp}`, () => {
      assert.equal(hotpCode(secret, c.count, v.digits, 'sha1'), c.hotp);
    });
  }
});

describe('RFC 6238 Appendix B: TOTP values, exact (8 digits; SHA1, SHA256, SHA512 with their seeds)', () => {
  const v = vectors<TotpVectors>('rfc6238-appendix-b.json');
  assert.equal(v.cases.length, 18);
  for (const c of v.cases) {
    test(`T = ${c.time}s, ${c.mode} → ${c.totp}`, () => {
      const step = totpStep(c.time * 1000);
      assert.equal(step, Number.parseInt(c.stepHex, 16));
      assert.equal(totpCode(Buffer.from(v.seedsAscii[c.mode], 'ascii'), step, v.digits, c.mode), c.totp);
    });
  }
});
