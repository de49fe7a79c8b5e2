import { loadConfig, type Config } from '../config.ts';
import { isPortcullisError } from '../core/index.ts';
import { createLogger } from '../http/logger.ts';
import { bootstrapFirstAdmin, createRuntime, sweep } from '../runtime.ts';
import { startServer } from '../server.ts';
import { migrateToLatest, openDatabase } from '../store/index.ts';
import { EXIT_FAILURE, EXIT_OK, EXIT_USAGE, type CliCommand, type CliIo } from './command.ts';
import { launchedByNpm, watchParent } from './parent-watch.ts';

/** Housekeeping cadence of `sweep` (abandoned MFA sessions, expired pending factors). */
const SWEEP_INTERVAL_MS = 60_000;

/** The validated configuration from the environment, or null after printing every problem (warnings go to stderr). */
export function configOrExit(io: CliIo): Config | null {
  const result = loadConfig(process.env);
  if (!result.ok) {
    io.stderr(`portcullis: the configuration is not valid:\n${result.errors.map((e) => `  - ${e}`).join('\n')}\n`);
    return null;
  }
  for (const warning of result.warnings) io.stderr(`warning: ${warning}\n`);
  return result.config;
}

function wantsHelp(args: readonly string[], io: CliIo, usage: string): boolean {
  if (args.includes('--help') || args.includes('-h')) {
    io.stdout(usage);
    return true;
  }
  if (args.length > 0) {
    io.stderr(`portcullis: unexpected argument "${args[0]}"\n\n${usage}`);
    return true;
  }
  return false;
}

const START_USAGE = `Usage: portcullis start

Starts the server. Configuration comes from environment variables (and PORTCULLIS_CONFIG=file.json):
  PORT (8080), HOST, DATABASE_URL (postgres://…; absent: SQLite under PORTCULLIS_DATA_DIR, default ./data),
  PORTCULLIS_SECRET_KEY (base64, 32 bytes; the dev profile creates <dataDir>/secret.key instead),
  PORTCULLIS_PROFILE (dev | production), LOG_LEVEL, PUBLIC_URL, PORTCULLIS_DEMO (dev default true).
On an empty database it creates the first platform admin token and prints it once, and (demo on) a demo
tenant, user and OIDC client for the demo application at /demo, printing the demo user's password.
`;

export const START_COMMAND: CliCommand = {
  summary: 'start the server (runs migrations first)',
  usage: START_USAGE,
  run: async (args, io) => {
    if (wantsHelp(args, io, START_USAGE)) return args.includes('--help') || args.includes('-h') ? EXIT_OK : EXIT_USAGE;
    const config = configOrExit(io);
    if (config === null) return EXIT_USAGE;
    const logger = createLogger({ level: config.logLevel });
    let runtime: Awaited<ReturnType<typeof createRuntime>>;
    try {
      runtime = await createRuntime(config, { logger });
    } catch (error) {
      // A wrong or lost secret key is a configuration problem: say so plainly, without a stack.
      if (isPortcullisError(error) && error.code === 'SECRET_UNREADABLE') {
        io.stderr(`portcullis: ${error.message}\n`);
        return EXIT_USAGE;
      }
      throw error;
    }
    if (runtime.keyCreated) {
      io.stderr(
        `\n!!! DEV PROFILE: generated a new secret key at ${config.secretKeyFile}.\n` +
          '!!! It encrypts every TOTP seed. Back it up, and set PORTCULLIS_SECRET_KEY in production.\n\n',
      );
    }
    const token = await bootstrapFirstAdmin(runtime.store, Date.now());
    // The demo comes with the first admin token: on an empty database, made by the one node that made the token.
    const demo = token !== null && config.demo ? await runtime.createDemo() : null;
    const timer = setInterval(() => {
      sweep(runtime.store, Date.now()).catch((error: unknown) => logger.warn({ err: error }, 'housekeeping sweep failed; will retry'));
    }, SWEEP_INTERVAL_MS);
    timer.unref();
    let stopWatching = (): void => undefined;
    const server = await startServer({
      config,
      logger,
      ping: () => runtime.database.ping(),
      registerRoutes: runtime.registerRoutes,
      registerRootRoutes: runtime.registerRootRoutes,
      onClose: [() => stopWatching(), () => clearInterval(timer), () => runtime.close()],
    });
    if (launchedByNpm(process.env)) {
      // npm's shell may die of a forwarded SIGTERM without passing it on (see parent-watch.ts).
      stopWatching = watchParent({
        onOrphaned: () => {
          void server.shutdown('the launching process (npm) exited').then((code) => process.exit(code));
        },
      });
    }
    const where = config.host === '0.0.0.0' || config.host === '::' ? `http://localhost:${config.port}` : server.url;
    // One write: a reader of the pipe (a supervisor, a test) gets the whole banner at once, never half of it.
    let banner = `Portcullis is listening on ${where} (database: ${config.database.kind}${config.database.kind === 'sqlite' ? ` ${config.database.path}` : ''})\n`;
    banner += `API docs: ${where}/api/docs\n`;
    if (token !== null) banner += `\nFirst platform admin token (shown once, store it now):\n\n  ${token}\n\nUse it as: Authorization: Bearer ${token}\n\n`;
    if (demo !== null) {
      banner +=
        `Demo (dev profile; PORTCULLIS_DEMO=false turns it off): open ${demo.url} and sign in as\n\n` +
        `  email:    ${demo.email}\n  password: ${demo.password}\n\n` +
        'The demo tenant requires an authenticator app: the first sign-in sets one up.\n\n';
    }
    io.stdout(banner);
    // The process now lives until a signal; startServer's handlers shut it down gracefully.
    return await new Promise<number>(() => undefined);
  },
};

const MIGRATE_USAGE = `Usage: portcullis migrate

Applies pending database migrations (the same configuration as "start") and exits.
`;

export const MIGRATE_COMMAND: CliCommand = {
  summary: 'apply database migrations and exit',
  usage: MIGRATE_USAGE,
  run: async (args, io) => {
    if (wantsHelp(args, io, MIGRATE_USAGE)) return args.includes('--help') || args.includes('-h') ? EXIT_OK : EXIT_USAGE;
    const config = configOrExit(io);
    if (config === null) return EXIT_USAGE;
    const database = await openDatabase(config.database.kind === 'postgres' ? { url: config.database.url } : { sqlitePath: config.database.path });
    try {
      const report = await migrateToLatest(database);
      io.stdout(report.applied.length === 0 ? 'The database is up to date.\n' : `Applied: ${report.applied.join(', ')}\n`);
      return EXIT_OK;
    } catch (error) {
      io.stderr(`portcullis migrate: ${error instanceof Error ? error.message : String(error)}\n`);
      return EXIT_FAILURE;
    } finally {
      await database.close();
    }
  },
};
