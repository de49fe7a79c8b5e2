/**
 * The key ring of the provider's signed cookies (Koa's `cookies`, which oidc-provider uses): keygrip's contract and
 * its algorithm, cheaper.
 */
import { createHmac, timingSafeEqual, type KeyObject } from 'node:crypto';

/** What Koa's signed cookies need of a key ring (keygrip's instance methods). */
export interface CookieSigner {
  sign(data: string): string;
  verify(data: string, digest: string): boolean;
  index(data: string, digest: string): number;
}

/**
 * The provider's cookie signer: keygrip's own algorithm (HMAC-SHA1, base64url — cookies signed by keygrip stay
 * valid, and nodes of both versions can run side by side) with the key prepared once and compared in constant time
 * by `timingSafeEqual`. keygrip prepares the raw key on every signature and compares through tsscmp's "double
 * HMAC" (two more HMACs under a fresh random raw key): ~50 µs per signed cookie read, several reads per request.
 *
 * @example
 * new Provider(issuer, { cookies: { keys: cookieSignerOf(createSecretKey(key)) } });
 */
export function cookieSignerOf(key: KeyObject): CookieSigner {
  const sign = (data: string): string => createHmac('sha1', key).update(data).digest('base64url');
  const index = (data: string, digest: string): number => {
    if (typeof digest !== 'string') return -1;
    const want = Buffer.from(sign(data));
    const got = Buffer.from(digest);
    // The length of an HMAC-SHA1 in base64url is public (27): comparing lengths first leaks nothing.
    return want.length === got.length && timingSafeEqual(want, got) ? 0 : -1;
  };
  return { sign, index, verify: (data, digest) => index(data, digest) === 0 };
}
