import { randomBytes } from 'node:crypto';
import { linkSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { PortcullisError } from '../core/index.ts';

/** What `loadOrCreateKeyFile` found or made. */
export interface KeyFile {
  readonly key: Buffer;
  /** `true` when the file did not exist and was just written: the server must say so loudly. */
  readonly created: boolean;
  /** `true` when group or others may read the file (POSIX mode bits beyond 0600); worth a warning. */
  readonly permissionsTooOpen: boolean;
}

const KEY_BYTES = 32;
const BASE64 = /^[A-Za-z0-9+/]{43}=$/;

function readKey(path: string): Buffer {
  const text = readFileSync(path, 'utf8').trim();
  // The message names the file and the expected form, never its content.
  if (!BASE64.test(text)) {
    throw new PortcullisError('INTERNAL', `The key file ${path} must hold ${KEY_BYTES} bytes encoded in base64.`);
  }
  return Buffer.from(text, 'base64');
}

function isAlreadyExists(error: unknown): boolean {
  return error instanceof Error && (error as NodeJS.ErrnoException).code === 'EEXIST';
}

/** Writes a complete key file next to `path`, then links it into place; `false` if another process won. */
function createKeyFile(path: string): boolean {
  const temporary = `${path}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
  try {
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    writeFileSync(temporary, `${randomBytes(KEY_BYTES).toString('base64')}\n`, { mode: 0o600, flag: 'wx' });
    linkSync(temporary, path);
    return true;
  } catch (error) {
    if (isAlreadyExists(error)) return false;
    throw new PortcullisError('INTERNAL', `Could not create the key file ${path}.`, { cause: error });
  } finally {
    rmSync(temporary, { force: true });
  }
}

/**
 * The development profile's secret-box key: read from `path`, or created there with 32 random bytes (base64,
 * mode 0600) when missing. The new key is written to a temporary file and then hard-linked into place, which
 * fails if the file appeared meanwhile: two processes starting at once end with the same, complete key.
 * Production configurations pass a key explicitly and never call this.
 *
 * @example
 * const { key, created } = loadOrCreateKeyFile('./data/secret.key');
 * if (created) logger.warn('Created a new secret-box key file at ./data/secret.key — back it up.');
 */
export function loadOrCreateKeyFile(path: string): KeyFile {
  let created = false;
  try {
    statSync(path);
  } catch {
    // Missing (or unreadable, which the attempt to create reports with its own error).
    created = createKeyFile(path);
  }
  const key = readKey(path);
  const permissionsTooOpen = process.platform !== 'win32' && (statSync(path).mode & 0o077) !== 0;
  return { key, created, permissionsTooOpen };
}
