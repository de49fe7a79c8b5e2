import { readFile } from 'node:fs/promises';
import { EXIT_FAILURE, EXIT_OK, EXIT_USAGE, type CliCommand, type CliIo } from './command.ts';
import { DECIDE_COMMAND } from './decide-command.ts';
import { KEYS_COMMAND } from './keys-command.ts';
import { MIGRATE_COMMAND, START_COMMAND } from './server-commands.ts';
import { TOTP_COMMAND } from './totp-command.ts';

/**
 * The subcommands, by name. A new one (`start`, `migrate`, `bootstrap`) is a module exporting a `CliCommand`
 * and one line here; the dispatcher and the help text pick it up.
 */
export const COMMANDS: Readonly<Record<string, CliCommand>> = {
  start: START_COMMAND,
  migrate: MIGRATE_COMMAND,
  decide: DECIDE_COMMAND,
  totp: TOTP_COMMAND,
  keys: KEYS_COMMAND,
};

function usage(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((n) => n.length)) + 2;
  const lines = Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(width)}${c.summary}`);
  return `Usage: portcullis <command> [options]\n\nCommands:\n${lines.join('\n')}\n\nRun "portcullis <command> --help" for a command's options.\n`;
}

/** The process's streams and file system. */
export const PROCESS_IO: CliIo = {
  stdout: (text) => void process.stdout.write(text),
  stderr: (text) => void process.stderr.write(text),
  readFile: (path) => readFile(path, 'utf8'),
};

/**
 * Runs `portcullis <command> …` and returns the exit status. Expected failures come back as status 2 with a
 * message; anything unexpected as status 1 with its message only, never a stack trace on the user's terminal.
 *
 * @example
 * process.exitCode = await runCli(process.argv.slice(2));
 */
export async function runCli(argv: readonly string[], io: CliIo = PROCESS_IO): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    (name === undefined ? io.stderr : io.stdout)(usage());
    return name === undefined ? EXIT_USAGE : EXIT_OK;
  }
  const command = Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
  if (command === undefined) {
    io.stderr(`portcullis: unknown command "${name}"\n\n${usage()}`);
    return EXIT_USAGE;
  }
  try {
    return await command.run(rest, io);
  } catch (error) {
    io.stderr(`portcullis ${name}: internal error: ${error instanceof Error ? error.message : String(error)}\n`);
    return EXIT_FAILURE;
  }
}

if (import.meta.main) {
  process.exitCode = await runCli(process.argv.slice(2));
}
