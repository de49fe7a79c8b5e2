/**
 * The secret-key check at start-up (SECURITY issue #7). A lost or wrong key — a dev key file regenerated silently
 * beside a database that holds sealed secrets, a production key mistyped or taken from another environment — used
 * to start fine and then make every TOTP check fail. Instead the server refuses to start, naming the problem.
 *
 * The first start seals a known value under the key and stores it (`key_check`); every later start must open it.
 * A database from before the check holds no such value: the key must then open its sealed TOTP secrets (any of the
 * newest few, so one damaged row does not stop a server whose key is right) before the value is written.
 */
import { PortcullisError } from '../core/index.ts';
import { secretAad, type SecretBox } from '../factors/secret-box.ts';
import type { KeyCheckRepository } from '../store/index.ts';

/** The AAD of the check value: it opens nowhere else, and no factor secret opens as it. */
const KEY_CHECK_AAD = 'portcullis:key-check:v1';
const KEY_CHECK_PLAINTEXT = 'portcullis secret-box key check';
/** How many sealed factor secrets a database from before the check is sampled for. */
const SAMPLE = 5;

/** What {@link checkSecretKey} found. */
export type KeyCheckOutcome =
  /** The stored check value opened. */
  | 'verified'
  /** There was none; the key opened the sampled factor secrets (or there were none) and the value was stored. */
  | 'created';

/**
 * Proves that `box`'s key is the one this database's secrets were sealed with, or throws
 * `PortcullisError('SECRET_UNREADABLE')` whose message names the problem and `keySource` (where the key came from,
 * e.g. `PORTCULLIS_SECRET_KEY`). Two nodes starting at once on an empty database with different keys: one stores
 * its value, the other is refused.
 *
 * @example
 * await checkSecretKey(keyCheckRepository(database), box, Date.now(), 'PORTCULLIS_SECRET_KEY'); // 'created' | 'verified'
 */
export async function checkSecretKey(repo: KeyCheckRepository, box: SecretBox, now: number, keySource: string): Promise<KeyCheckOutcome> {
  let outcome: KeyCheckOutcome = 'verified';
  if ((await repo.read()) === null) {
    const sample = await repo.sampleSealedFactorSecrets(SAMPLE);
    if (sample.length > 0 && !sample.some((s) => opens(box, s.sealed, secretAad(s.tenantId, s.factorId)))) {
      throw mismatch(keySource, `none of the ${sample.length} newest sealed TOTP secrets opens`);
    }
    await repo.insertIfAbsent(box.seal(Buffer.from(KEY_CHECK_PLAINTEXT, 'utf8'), KEY_CHECK_AAD), now);
    outcome = 'created';
  }
  // Read back, not assumed: another node may have stored its value first.
  const stored = await repo.read();
  if (stored === null || !opens(box, stored, KEY_CHECK_AAD, KEY_CHECK_PLAINTEXT)) {
    throw mismatch(keySource, 'the key-check value sealed at the first start does not open');
  }
  return outcome;
}

function opens(box: SecretBox, sealed: string, aad: string, expected?: string): boolean {
  try {
    const plaintext = box.open(sealed, aad);
    return expected === undefined || plaintext.toString('utf8') === expected;
  } catch {
    return false;
  }
}

function mismatch(keySource: string, detail: string): PortcullisError {
  return new PortcullisError(
    'SECRET_UNREADABLE',
    `The secret key (${keySource}) is not the key this database's secrets were sealed with, so no stored TOTP secret ` +
      'could be read and every TOTP check would fail. Start with the original key; refusing to start.',
    { detail, extra: { keySource } },
  );
}
