import { hash, parseOptions, verify, type Algorithm } from '@node-rs/argon2';
import { PortcullisError } from '../core/index.ts';

// `Algorithm` is an ambient const enum in the package's typings, which isolated modules cannot read; the value of
// `Algorithm.Argon2id` is 2.
const ARGON2ID = 2 as Algorithm;

/**
 * argon2id at the OWASP Password Storage Cheat Sheet's first configuration: 19 MiB, two passes, one lane. The
 * library hashes on the libuv thread pool, so a hash never blocks the event loop.
 */
export const PASSWORD_HASH_OPTIONS = Object.freeze({ algorithm: ARGON2ID, memoryCost: 19456, timeCost: 2, parallelism: 1, outputLen: 32 });

/** Length bounds, in Unicode code points (NIST SP 800-63B §3.1.1.2: at least 8; allow at least 64). */
export const PASSWORD_MIN_LENGTH = 8;
export const PASSWORD_MAX_LENGTH = 1024;

/**
 * A hash of a random password nobody knows, made with `PASSWORD_HASH_OPTIONS`. Verifying against it costs what a
 * real verification costs, so an unknown user answers as slowly as a known one with a wrong password.
 */
const DUMMY_HASH = '$argon2id$v=19$m=19456,t=2,p=1$f7O17TZfojlugpCECaLWJw$9iKaF+n25McP2LAu1BL8i+hw7OQMQKM7CTKsZX9LJIs';

/** Code-point length, without building an array for absurdly long input. */
function lengthOf(password: string): number {
  if (password.length > PASSWORD_MAX_LENGTH * 2) return password.length;
  let n = 0;
  for (const _ of password) n++;
  return n;
}

function acceptable(password: unknown): password is string {
  if (typeof password !== 'string') return false;
  const n = lengthOf(password);
  return n >= PASSWORD_MIN_LENGTH && n <= PASSWORD_MAX_LENGTH;
}

/**
 * NIST SP 800-63B §3.1.1.2 (rev. 4): normalise Unicode before hashing, so the same password typed on two keyboards
 * (composed or decomposed accents, full-width letters) gives the same bytes. Used at hashing and verifying alike.
 */
function normalise(password: string): string {
  return password.normalize('NFKC');
}

/**
 * Hashes a new password with argon2id (`PASSWORD_HASH_OPTIONS`). Refuses one shorter than 8 or longer than 1,024
 * characters with `INVALID_REQUEST`.
 *
 * @example
 * const passwordHash = await hashPassword(body.password);
 */
export async function hashPassword(password: string): Promise<string> {
  if (!acceptable(password)) {
    throw new PortcullisError('INVALID_REQUEST', `A password has ${PASSWORD_MIN_LENGTH} to ${PASSWORD_MAX_LENGTH} characters.`);
  }
  return hash(normalise(password), PASSWORD_HASH_OPTIONS);
}

/**
 * Whether `password` matches `passwordHash`. A value that cannot be a password, or a stored hash that cannot be
 * parsed, is `false` (fail closed), never an exception.
 *
 * @example
 * if (await verifyPassword(user.passwordHash, body.password)) { … }
 */
export async function verifyPassword(passwordHash: string, password: unknown): Promise<boolean> {
  if (!acceptable(password)) return false;
  try {
    return await verify(passwordHash, normalise(password));
  } catch {
    return false;
  }
}

/** How a password is checked against a hash; {@link verifyPassword} unless a test observes the calls. */
export type PasswordVerifier = (passwordHash: string, password: unknown) => Promise<boolean>;

/**
 * Verifies against the user's hash, or — when there is no user or no password — against a dummy hash of the same
 * cost, and answers `false`. Unknown identifiers and wrong passwords then take the same time, so timing does not
 * tell which accounts exist. `verify` is for tests that count the verifications.
 *
 * @example
 * const ok = await verifyPasswordOrDummy(user?.passwordHash ?? null, body.password);
 */
export async function verifyPasswordOrDummy(passwordHash: string | null, password: unknown, verify: PasswordVerifier = verifyPassword): Promise<boolean> {
  if (passwordHash === null) {
    await verify(DUMMY_HASH, password);
    return false;
  }
  return verify(passwordHash, password);
}

/**
 * Whether a stored hash was made with other parameters than `PASSWORD_HASH_OPTIONS` (or is not argon2id, or cannot
 * be parsed): rehash the password after the next successful verification.
 *
 * @example
 * if (ok && needsRehash(user.passwordHash)) await users.setPasswordHash(user.id, await hashPassword(password));
 */
export function needsRehash(passwordHash: string): boolean {
  try {
    const o = parseOptions(passwordHash);
    return (
      o.algorithm !== PASSWORD_HASH_OPTIONS.algorithm ||
      o.memoryCost !== PASSWORD_HASH_OPTIONS.memoryCost ||
      o.timeCost !== PASSWORD_HASH_OPTIONS.timeCost ||
      o.parallelism !== PASSWORD_HASH_OPTIONS.parallelism ||
      o.outputLen !== PASSWORD_HASH_OPTIONS.outputLen ||
      o.saltLen < 16
    );
  } catch {
    return true;
  }
}

/** The dummy hash, for the test that holds it to the current parameters. */
export const DUMMY_PASSWORD_HASH_FOR_TESTS: string = DUMMY_HASH;
