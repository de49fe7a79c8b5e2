import { createCipheriv, createDecipheriv, createSecretKey, randomBytes, type KeyObject } from 'node:crypto';
import { PortcullisError } from '../core/index.ts';

/** Seals and opens secrets at rest. `aad` binds a sealed value to the row it belongs to. */
export interface SecretBox {
  /** Encrypts `plaintext`; the result is a printable `v1.<iv>.<ciphertext+tag>` string. */
  seal(plaintext: Buffer, aad: string): string;
  /**
   * Decrypts a value made by `seal` with the same key and `aad`; throws `SECRET_UNREADABLE` on any mismatch (a wrong
   * or lost key, an altered value, another row's value), so that a caller can tell "the check could not run" from a
   * wrong answer: a verifier meeting it counts nothing and answers 503.
   */
  open(sealed: string, aad: string): Buffer;
}

const VERSION = 'v1';
const KEY_BYTES = 32;
// NIST SP 800-38D §8.2.2: a 96-bit IV drawn at random for every message. At 2^32 messages per key the collision
// bound is reached; secrets at rest (one per enrolled factor) stay many orders of magnitude below that.
const IV_BYTES = 12;
const TAG_BYTES = 16;
const B64URL = /^[A-Za-z0-9_-]+$/;

/**
 * The bound AAD: the format version is part of it, so a value can never be opened under a different format's
 * rules, and the caller's row identity (`tenantId:factorId`) follows.
 */
function boundAad(aad: string): Buffer {
  return Buffer.from(`portcullis-secret-box:${VERSION}\0${aad}`, 'utf8');
}

/** Strict base64url: only the alphabet, and the canonical encoding (Buffer's decoder silently skips junk). */
function decodeB64url(text: string): Buffer | null {
  if (!B64URL.test(text)) return null;
  const bytes = Buffer.from(text, 'base64url');
  return bytes.toString('base64url') === text ? bytes : null;
}

function cannotOpen(detail: string, cause?: unknown): PortcullisError {
  // The message is generic on purpose: it never carries the sealed value, the key or the plaintext.
  return new PortcullisError('SECRET_UNREADABLE', 'A stored secret could not be decrypted.', { detail, cause });
}

/**
 * Authenticated encryption of secrets at rest with AES-256-GCM under a 32-byte key from configuration. Each seal
 * uses a fresh random 96-bit IV; the 128-bit tag covers the ciphertext and the AAD, so a value that was altered,
 * sealed under another key or moved to another row (other `aad`) is refused.
 *
 * @example
 * const box = createSecretBox(key);
 * const sealed = box.seal(secret, `${tenantId}:${factorId}`);
 * const again = box.open(sealed, `${tenantId}:${factorId}`);
 */
export function createSecretBox(key: Buffer): SecretBox {
  if (!Buffer.isBuffer(key) || key.length !== KEY_BYTES) {
    throw new PortcullisError('INTERNAL', `The secret-box key must be exactly ${KEY_BYTES} bytes.`);
  }
  // A KeyObject keeps its own copy: later changes to the caller's buffer do not change the key.
  const keyObject: KeyObject = createSecretKey(Buffer.from(key));

  return {
    seal(plaintext: Buffer, aad: string): string {
      const iv = randomBytes(IV_BYTES);
      const cipher = createCipheriv('aes-256-gcm', keyObject, iv, { authTagLength: TAG_BYTES });
      cipher.setAAD(boundAad(aad));
      const body = Buffer.concat([cipher.update(plaintext), cipher.final(), cipher.getAuthTag()]);
      return `${VERSION}.${iv.toString('base64url')}.${body.toString('base64url')}`;
    },

    open(sealed: string, aad: string): Buffer {
      if (typeof sealed !== 'string') throw cannotOpen('sealed value is not a string');
      const parts = sealed.split('.');
      if (parts.length !== 3 || parts[0] !== VERSION) throw cannotOpen('unknown sealed-value format or version');
      const iv = decodeB64url(parts[1] ?? '');
      const body = decodeB64url(parts[2] ?? '');
      if (iv === null || iv.length !== IV_BYTES) throw cannotOpen('malformed IV');
      if (body === null || body.length < TAG_BYTES) throw cannotOpen('malformed ciphertext');
      // authTagLength pins the tag at 128 bits: a truncated tag is refused instead of being checked on fewer bits.
      const decipher = createDecipheriv('aes-256-gcm', keyObject, iv, { authTagLength: TAG_BYTES });
      decipher.setAAD(boundAad(aad));
      decipher.setAuthTag(body.subarray(body.length - TAG_BYTES));
      try {
        return Buffer.concat([decipher.update(body.subarray(0, body.length - TAG_BYTES)), decipher.final()]);
      } catch (error) {
        throw cannotOpen('authentication failed: altered value, wrong key or wrong row', error);
      }
    },
  };
}

/**
 * The AAD that binds a factor's sealed secret to its row, so a secret copied to another factor or tenant will not
 * open.
 *
 * @example
 * box.seal(secret, secretAad(tenantId, factorId));
 */
export function secretAad(tenantId: string, factorId: string): string {
  return `${tenantId}:${factorId}`;
}
