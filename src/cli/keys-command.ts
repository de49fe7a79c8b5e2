import { parseArgs } from 'node:util';
import type { Config } from '../config.ts';
import { loadOrCreateKeyFile } from '../factors/dev-key.ts';
import { createSecretBox } from '../factors/secret-box.ts';
import { createResultSigner, type SigningKeyInfo } from '../services/signing-keys.ts';
import { createStore, migrateToLatest, openDatabase } from '../store/index.ts';
import { EXIT_FAILURE, EXIT_OK, EXIT_USAGE, type CliCommand, type CliIo } from './command.ts';
import { configOrExit } from './server-commands.ts';

const USAGE = `Usage: portcullis keys <list | rotate> [--json]

Manages the keys that sign sign-in results (and are published at /.well-known/jwks.json). Uses the same
configuration as "start" (DATABASE_URL or the SQLite file, and PORTCULLIS_SECRET_KEY, which seals the keys).

  list     every stored key: kid, state (active | retiring), whether it is published, and until when
  rotate   make a new key active; the previous key signs no more and stays published until every token it
           signed has expired (about 6 minutes), then the next rotation deletes it. Running nodes pick the new
           key up within 2 seconds. Refused when the secret key does not open the current key.

  --json   print JSON instead of text
`;

const silentLogger = { info: (): void => {}, warn: (): void => {}, error: (): void => {} };

function iso(ms: number | null): string {
  return ms === null ? '-' : new Date(ms).toISOString();
}

function describeKey(key: SigningKeyInfo): string {
  const until = key.state === 'active' ? 'signing' : key.published ? `published until ${iso(key.retireAfter)}` : `unpublished since ${iso(key.retireAfter)}`;
  return `${key.kid}  ${key.alg}  ${key.state.padEnd(8)}  activated ${iso(key.activatedAt)}  ${until}`;
}

function secretKeyOf(config: Config): Buffer {
  return config.secretKey ?? loadOrCreateKeyFile(config.secretKeyFile).key;
}

async function runKeys(action: 'list' | 'rotate', json: boolean, config: Config, io: CliIo): Promise<number> {
  const database = await openDatabase(config.database.kind === 'postgres' ? { url: config.database.url } : { sqlitePath: config.database.path });
  try {
    await migrateToLatest(database);
    const store = createStore(database);
    const signer = createResultSigner({ store, secrets: createSecretBox(secretKeyOf(config)), logger: silentLogger }, { issuer: config.publicUrl });
    const now = Date.now();
    if (action === 'list') {
      const keys = await signer.listKeys(now);
      if (json) io.stdout(`${JSON.stringify({ keys }, null, 2)}\n`);
      else io.stdout(keys.length === 0 ? 'No signing key yet (the server creates one on its first start).\n' : `${keys.map(describeKey).join('\n')}\n`);
      return EXIT_OK;
    }
    const report = await signer.rotate(now, 'cli');
    if (json) io.stdout(`${JSON.stringify(report, null, 2)}\n`);
    else {
      io.stdout(`New active signing key: ${report.active.kid}\n`);
      if (report.retiredKid !== null) io.stdout(`Retired: ${report.retiredKid} (published until ${iso(report.retiredUntil)})\n`);
      if (report.deleted > 0) io.stdout(`Deleted ${report.deleted} key(s) whose publication had ended.\n`);
    }
    return EXIT_OK;
  } catch (error) {
    // Messages never carry a secret (PortcullisError's contract; driver messages name no key material).
    io.stderr(`portcullis keys ${action}: ${error instanceof Error ? error.message : String(error)}\n`);
    return EXIT_FAILURE;
  } finally {
    await database.close();
  }
}

/** `portcullis keys list | rotate`: the result-signing keys. */
export const KEYS_COMMAND: CliCommand = {
  summary: 'list or rotate the keys that sign sign-in results (JWKS)',
  usage: USAGE,
  run: async (args, io) => {
    let parsed: { values: { json?: boolean; help?: boolean }; positionals: string[] };
    try {
      parsed = parseArgs({ args: [...args], options: { json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } }, allowPositionals: true, strict: true });
    } catch (error) {
      io.stderr(`portcullis keys: ${error instanceof Error ? error.message : String(error)}\n\n${USAGE}`);
      return EXIT_USAGE;
    }
    if (parsed.values.help === true) {
      io.stdout(USAGE);
      return EXIT_OK;
    }
    const [action, ...extra] = parsed.positionals;
    if ((action !== 'list' && action !== 'rotate') || extra.length > 0) {
      io.stderr(`portcullis keys: ${action === undefined ? 'say list or rotate' : `unexpected "${extra[0] ?? action}"`}\n\n${USAGE}`);
      return EXIT_USAGE;
    }
    const config = configOrExit(io);
    if (config === null) return EXIT_USAGE;
    return runKeys(action, parsed.values.json === true, config, io);
  },
};
