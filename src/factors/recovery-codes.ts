import { randomBytes } from 'node:crypto';
import { hash, verify, type Algorithm } from '@node-rs/argon2';
import { PortcullisError } from '../core/index.ts';

/**
 * Crockford's base32 alphabet: digits and upper-case letters without I, L, O and U, so that no two characters
 * look alike. 32 symbols = 5 bits each.
 */
const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
const GROUPS = 4;
const GROUP_LENGTH = 4;
const CODE_LENGTH = GROUPS * GROUP_LENGTH;
/** 16 symbols × 5 bits = 80 bits of entropy per code (SECURITY rule 4 asks for at least 64). */
export const RECOVERY_CODE_BITS = CODE_LENGTH * 5;
/** The most codes one batch may hold (the policy allows 1–20). */
export const MAX_RECOVERY_CODES = 20;
const CANONICAL = /^[0-9A-HJKMNP-TV-Z]{16}$/;
/** Longer input is refused before any string work: a recovery code with separators is at most a few dozen characters. */
const MAX_INPUT_LENGTH = 64;

// `Algorithm` is an ambient const enum in the package's typings, which isolated modules cannot read; the value of
// `Algorithm.Argon2id` is 2.
const ARGON2ID = 2 as Algorithm;

/**
 * argon2id for recovery codes at a deliberately low cost (4 MiB, one pass), a choice with its reasons:
 * - SECURITY rule 4 asks for a password hash, and argon2id is the one the server already uses (one primitive,
 *   salted, with its parameters recorded in every hash).
 * - The work factor of a password hash exists to slow guessing of low-entropy secrets. A recovery code carries 80
 *   bits from the CSPRNG: even unsalted SHA-256 would leave an offline search at 2^79 tries per code, so the
 *   memory cost adds nothing that matters to security.
 * - Verification cannot look a code up by its hash (each hash is salted), so one attempt checks every unused
 *   code of the user (up to 20). The cost per hash must stay small for an attempt to stay fast.
 */
export const RECOVERY_CODE_HASH_OPTIONS = Object.freeze({ algorithm: ARGON2ID, memoryCost: 4096, timeCost: 1, parallelism: 1 });

/**
 * Generates `count` recovery codes, each 80 bits from the CSPRNG shown as `xxxx-xxxx-xxxx-xxxx` in Crockford's
 * base32 (lower case). Show them once; store only `hashRecoveryCode` of each.
 *
 * @example
 * generateRecoveryCodes(10); // ['7kq2-m9xd-4wzr-0b3h', …]
 */
export function generateRecoveryCodes(count: number): string[] {
  if (!Number.isInteger(count) || count < 1 || count > MAX_RECOVERY_CODES) {
    throw new PortcullisError('INVALID_REQUEST', `A batch holds 1 to ${MAX_RECOVERY_CODES} recovery codes.`);
  }
  const codes: string[] = [];
  for (let i = 0; i < count; i++) {
    // 10 random bytes are exactly 80 bits = 16 symbols of 5 bits: no modulo bias.
    const bytes = randomBytes(RECOVERY_CODE_BITS / 8);
    let value = BigInt(`0x${bytes.toString('hex')}`);
    let symbols = '';
    for (let s = 0; s < CODE_LENGTH; s++) {
      symbols = (ALPHABET[Number(value & 31n)] ?? '') + symbols;
      value >>= 5n;
    }
    const groups: string[] = [];
    for (let g = 0; g < GROUPS; g++) groups.push(symbols.slice(g * GROUP_LENGTH, (g + 1) * GROUP_LENGTH));
    codes.push(groups.join('-').toLowerCase());
  }
  return codes;
}

/**
 * The canonical form of a typed recovery code: upper case, spaces and dashes removed, and the look-alikes Crockford
 * base32 folds (O → 0, I and L → 1). `null` for anything that cannot be a code (not a string, wrong length,
 * character outside the alphabet).
 *
 * @example
 * normaliseRecoveryCode(' 7KQ2 m9xd-4wzr-ob3h '); // '7KQ2M9XD4WZR0B3H'
 */
export function normaliseRecoveryCode(input: unknown): string | null {
  if (typeof input !== 'string' || input.length > MAX_INPUT_LENGTH) return null;
  // ASCII-only case mapping: `toUpperCase` would turn some non-ASCII letters into alphabet characters.
  if (!/^[0-9A-Za-z \t-]*$/.test(input)) return null;
  const folded = input
    .replace(/[ \t-]/g, '')
    .toUpperCase()
    .replace(/O/g, '0')
    .replace(/[IL]/g, '1');
  return CANONICAL.test(folded) ? folded : null;
}

/**
 * Hashes one recovery code (normalised first) for storage, with argon2id at `RECOVERY_CODE_HASH_OPTIONS`. Runs on
 * the libuv thread pool, off the event loop.
 *
 * @example
 * const hashes = await Promise.all(codes.map((c) => hashRecoveryCode(c)));
 */
export async function hashRecoveryCode(code: string): Promise<string> {
  const canonical = normaliseRecoveryCode(code);
  if (canonical === null) throw new PortcullisError('INVALID_REQUEST', 'Not a recovery code.');
  return hash(canonical, RECOVERY_CODE_HASH_OPTIONS);
}

/** One stored, unused recovery code of a user. */
export interface RecoveryCodeCandidate {
  readonly id: string;
  readonly hash: string;
}

async function matches(storedHash: string, canonical: string): Promise<boolean> {
  try {
    return await verify(storedHash, canonical);
  } catch {
    // An unparsable stored hash matches nothing: fail closed rather than fail the whole attempt.
    return false;
  }
}

/**
 * Finds which unused code `input` is, or `null`. Hashes are salted, so every candidate is verified; all
 * verifications run to the end (in parallel on the thread pool) before the answer is chosen, so the time does
 * not depend on which code matched. The caller then consumes the id with one conditional write
 * (`… SET used_at = ? WHERE id = ? AND used_at IS NULL`) whose affected-row count decides (SECURITY rule 2).
 *
 * @example
 * const id = await verifyRecoveryCode(body.code, unused.map((c) => ({ id: c.id, hash: c.codeHash })));
 * if (id !== null && (await recoveryCodes.consume(userId, id, now))) { … accepted … }
 */
export async function verifyRecoveryCode(input: unknown, candidates: readonly RecoveryCodeCandidate[]): Promise<string | null> {
  const canonical = normaliseRecoveryCode(input);
  if (canonical === null) return null;
  const results = await Promise.all(candidates.map((c) => matches(c.hash, canonical)));
  let found: string | null = null;
  results.forEach((ok, i) => {
    if (ok && found === null) found = candidates[i]?.id ?? null;
  });
  return found;
}
