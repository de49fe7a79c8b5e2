import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import QRCode from 'qrcode';
import { PortcullisError } from '../core/index.ts';

/** HMAC algorithms of RFC 6238 §1.2. Authenticator apps and SECURITY rule 4 use SHA-1; the others exist for the vectors. */
export type TotpAlgorithm = 'sha1' | 'sha256' | 'sha512';

/** RFC 6238 §4.1: X, the time step in seconds (the default, and the only value Portcullis issues). */
export const TOTP_PERIOD_SECONDS = 30;
/** Code length Portcullis issues and accepts (SECURITY rule 4). */
export const TOTP_DIGITS = 6;
/** RFC 4226 §4 R6: the shared secret is at least 128 bits; 160 bits is the recommended length (and SHA-1's). */
export const TOTP_SECRET_BYTES = 20;

const SIX_ASCII_DIGITS = /^[0-9]{6}$/;
const BASE32_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

/**
 * A fresh TOTP secret: 160 bits from the CSPRNG.
 *
 * @example
 * const secret = generateTotpSecret(); // Buffer(20)
 */
export function generateTotpSecret(): Buffer {
  return randomBytes(TOTP_SECRET_BYTES);
}

/**
 * RFC 4648 §6 base32 without padding (the key-uri format drops the `=`).
 *
 * @example
 * base32Encode(Buffer.from('foobar')); // 'MZXW6YTBOI'
 */
export function base32Encode(bytes: Uint8Array): string {
  let out = '';
  let buffer = 0;
  let bits = 0;
  for (const byte of bytes) {
    buffer = (buffer << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += BASE32_ALPHABET[(buffer >>> (bits - 5)) & 31];
      bits -= 5;
    }
    buffer &= (1 << bits) - 1;
  }
  if (bits > 0) out += BASE32_ALPHABET[(buffer << (5 - bits)) & 31];
  return out;
}

/**
 * RFC 4648 §6 base32, case-insensitive, with or without `=` padding. Returns `null` for a character outside the
 * alphabet, an impossible length or non-zero trailing bits (a non-canonical encoding).
 *
 * @example
 * base32Decode('MZXW6YTBOI')?.toString(); // 'foobar'
 */
export function base32Decode(text: string): Buffer | null {
  // Checked before upper-casing: some characters change length when upper-cased ('ß' → 'SS').
  if (typeof text !== 'string' || !/^[A-Za-z2-7]*=*$/.test(text)) return null;
  const body = text.toUpperCase().replace(/=+$/, '');
  // Lengths mod 8 of 1, 3 and 6 cannot come from whole bytes (RFC 4648 §6, final quantum cases).
  if (![0, 2, 4, 5, 7].includes(body.length % 8)) return null;
  const out: number[] = [];
  let buffer = 0;
  let bits = 0;
  for (const char of body) {
    const value = BASE32_ALPHABET.indexOf(char);
    if (value < 0) return null;
    buffer = ((buffer << 5) | value) & 0xfff;
    bits += 5;
    if (bits >= 8) {
      out.push((buffer >>> (bits - 8)) & 0xff);
      bits -= 8;
    }
  }
  if ((buffer & ((1 << bits) - 1)) !== 0) return null;
  return Buffer.from(out);
}

/**
 * RFC 4226 HOTP: HMAC over the 8-byte big-endian counter, then dynamic truncation (§5.3) to `digits` digits.
 *
 * @example
 * hotpCode(Buffer.from('12345678901234567890'), 0); // '755224' (RFC 4226 Appendix D)
 */
export function hotpCode(secret: Uint8Array, counter: number | bigint, digits: number = TOTP_DIGITS, algorithm: TotpAlgorithm = 'sha1'): string {
  if (!Number.isInteger(digits) || digits < 6 || digits > 10) {
    throw new PortcullisError('INTERNAL', 'HOTP codes have 6 to 10 digits.');
  }
  const count = BigInt(counter);
  if (count < 0n || count > 0xffff_ffff_ffff_ffffn) throw new PortcullisError('INTERNAL', 'The HOTP counter is out of range.');
  // §5.2 step 1: HS = HMAC(K, C), C an 8-byte big-endian counter.
  const message = Buffer.alloc(8);
  message.writeBigUInt64BE(count);
  const hs = createHmac(algorithm, secret).update(message).digest();
  // §5.3 step 2: "Let OffsetBits be the low-order 4 bits of String[19]" — the last byte for every HMAC size
  // (RFC 6238's reference implementation applies the same rule to SHA-256 and SHA-512).
  const offset = (hs[hs.length - 1] ?? 0) & 0x0f;
  // "Return the Last 31 bits of P": the high bit is masked to avoid signed/unsigned ambiguity.
  const binary = hs.readUInt32BE(offset) & 0x7fff_ffff;
  // §5.3 step 3: Snum mod 10^Digit, left-padded with zeros.
  return (binary % 10 ** digits).toString().padStart(digits, '0');
}

/**
 * The time step of RFC 6238 §4.2: T = floor((unixTime - T0) / X), with T0 = 0 and X = 30 s.
 *
 * @example
 * totpStep(59_000); // 1
 */
export function totpStep(nowMs: number, periodSeconds: number = TOTP_PERIOD_SECONDS): number {
  return Math.floor(nowMs / 1000 / periodSeconds);
}

/**
 * RFC 6238 TOTP for a given time step: HOTP with T as the counter.
 *
 * @example
 * totpCode(secret, totpStep(Date.now())); // '492039'
 */
export function totpCode(secret: Uint8Array, step: number, digits: number = TOTP_DIGITS, algorithm: TotpAlgorithm = 'sha1'): string {
  return hotpCode(secret, step, digits, algorithm);
}

/** Input of `verifyTotp`. */
export interface VerifyTotpInput {
  readonly secret: Uint8Array;
  /** The code as received; anything but a string of exactly six ASCII digits is `malformed`. */
  readonly code: unknown;
  /** Current time, epoch milliseconds (the caller owns the clock). */
  readonly now: number;
  /** The last accepted time step of this factor, or `null` before the first. */
  readonly lastStep: number | null;
  /** Steps accepted either side of the current one; SECURITY rule 4 allows ±1. */
  readonly window?: 0 | 1;
}

/** Outcome of `verifyTotp`. On success the caller persists `step` with `… SET last_step = ? WHERE last_step < ?`. */
export type VerifyTotpResult =
  | { readonly ok: true; readonly step: number }
  | { readonly ok: false; readonly reason: 'invalid' | 'replayed' | 'malformed' };

/**
 * Verifies a TOTP code (RFC 6238 §5.2: current step ±`window`), storage-free: it reads no clock and keeps no
 * state. It refuses any step at or before `lastStep` (replay), and returns the matched step, which the caller
 * must persist with an atomic conditional write whose affected-row count decides (SECURITY rule 2) — two
 * parallel requests with the same code both pass here, and exactly one wins that write.
 *
 * @example
 * const r = verifyTotp({ secret, code: body.code, now: Date.now(), lastStep: factor.lastStep });
 * if (r.ok && (await factors.advanceTotpStep(factor.id, r.step))) { … accepted … }
 */
export function verifyTotp(input: VerifyTotpInput): VerifyTotpResult {
  const { secret, code, now, lastStep } = input;
  const window = input.window ?? 1;
  if (typeof code !== 'string' || !SIX_ASCII_DIGITS.test(code)) return { ok: false, reason: 'malformed' };
  if (!Number.isFinite(now) || now < 0) throw new PortcullisError('INTERNAL', 'verifyTotp needs the current time in epoch milliseconds.');
  const current = totpStep(now);
  const given = Buffer.from(code, 'ascii');
  // Every step of the window is computed and compared in constant time, without stopping at the first match:
  // the time taken says nothing about which step (if any) matched.
  let accepted: number | null = null;
  let replayed = false;
  for (let step = current - window; step <= current + window; step++) {
    if (step < 0) continue;
    const match = timingSafeEqual(given, Buffer.from(totpCode(secret, step), 'ascii'));
    if (!match) continue;
    if (lastStep !== null && step <= lastStep) replayed = true;
    else if (accepted === null) accepted = step;
  }
  if (accepted !== null) return { ok: true, step: accepted };
  return { ok: false, reason: replayed ? 'replayed' : 'invalid' };
}

/** Input of `otpauthUri`. */
export interface OtpauthUriInput {
  /** Shown by the app above the account. Any text but empty; a colon is percent-encoded. */
  readonly issuer: string;
  /** Usually the user's email. Any text but empty; a colon (`a:b@example.com` is a valid address) is percent-encoded. */
  readonly account: string;
  readonly secret: Uint8Array;
}

/**
 * The `otpauth://totp/…` URI of the Google Authenticator key-uri format: label `issuer:account`, the issuer repeated
 * as a parameter, SHA1, 6 digits, 30 s period.
 *
 * Key-uri format, Label: "The issuer prefix and account name should be separated by a literal or url-encoded
 * colon"; "neither issuer nor account name may themselves contain a colon (represented as %3A if URL-encoded)".
 * Both parts are percent-encoded (`encodeURIComponent`, which encodes `:` as `%3A`), so the one literal colon of the
 * label is the separator, and an email address that holds a colon (legal in a quoted local part) still enrolls:
 * split the raw label at its literal colon first, then decode each part ({@link parseOtpauthUri}). Apps that decode
 * the label first and split at its first colon read the same parts as long as the issuer holds no colon, which is
 * why the enrollment service keeps colons out of issuers (policy `totpIssuer` refuses one).
 *
 * @example
 * otpauthUri({ issuer: 'Acme', account: 'ada@example.com', secret });
 * // 'otpauth://totp/Acme:ada%40example.com?secret=…&issuer=Acme&algorithm=SHA1&digits=6&period=30'
 */
export function otpauthUri(input: OtpauthUriInput): string {
  const { issuer, account, secret } = input;
  for (const [name, value] of [['issuer', issuer], ['account name', account]] as const) {
    if (typeof value !== 'string' || value.length === 0) {
      throw new PortcullisError('INVALID_REQUEST', `The TOTP ${name} must be a non-empty string.`);
    }
  }
  const label = `${encodeURIComponent(issuer)}:${encodeURIComponent(account)}`;
  const query = [
    `secret=${base32Encode(secret)}`,
    `issuer=${encodeURIComponent(issuer)}`,
    'algorithm=SHA1',
    `digits=${TOTP_DIGITS}`,
    `period=${TOTP_PERIOD_SECONDS}`,
  ].join('&');
  return `otpauth://totp/${label}?${query}`;
}

/** What {@link parseOtpauthUri} reads back from a TOTP key URI. */
export interface ParsedOtpauthUri {
  /** The label's issuer prefix, decoded (`null` when the label has none). */
  readonly labelIssuer: string | null;
  readonly account: string;
  /** The `issuer` parameter, decoded (`null` when absent). */
  readonly issuer: string | null;
  readonly secret: Buffer;
  readonly algorithm: string;
  readonly digits: number;
  readonly period: number;
}

/**
 * Reads an `otpauth://totp/` URI: the raw label is split at its first literal colon, then each part is
 * percent-decoded; absent parameters take their key-uri defaults. Returns
 * `null` for anything that is not a well-formed TOTP key URI with a valid base32 secret.
 *
 * @example
 * parseOtpauthUri(otpauthUri({ issuer: 'Acme', account: 'a:b@example.com', secret }))?.account; // 'a:b@example.com'
 */
export function parseOtpauthUri(uri: string): ParsedOtpauthUri | null {
  const match = /^otpauth:\/\/totp\/([^?#]*)(?:\?([^#]*))?$/i.exec(uri);
  if (match === null) return null;
  const rawLabel = match[1] ?? '';
  const separator = rawLabel.indexOf(':');
  try {
    const labelIssuer = separator < 0 ? null : decodeURIComponent(rawLabel.slice(0, separator));
    // Optional spaces may precede the account name (key-uri format, Label).
    const account = decodeURIComponent(rawLabel.slice(separator + 1)).replace(/^ +/, '');
    const params = new URLSearchParams(match[2] ?? '');
    const secret = base32Decode(params.get('secret') ?? '');
    if (account === '' || secret === null || secret.length === 0) return null;
    return {
      labelIssuer,
      account,
      issuer: params.get('issuer'),
      secret,
      algorithm: params.get('algorithm') ?? 'SHA1',
      digits: Number(params.get('digits') ?? '6'),
      period: Number(params.get('period') ?? '30'),
    };
  } catch {
    return null; // a malformed percent-escape
  }
}

/**
 * A QR code of `uri` as an SVG document (the `qrcode` package; error correction M).
 *
 * @example
 * const svg = await qrCodeSvg(otpauthUri({ issuer, account, secret }));
 */
export async function qrCodeSvg(uri: string): Promise<string> {
  return QRCode.toString(uri, { type: 'svg', errorCorrectionLevel: 'M', margin: 2 });
}
