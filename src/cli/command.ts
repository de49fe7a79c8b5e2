/** Exit status of a command: `0` done, `1` failed unexpectedly, `2` the input or the usage was wrong. */
export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;

/**
 * Where a command reads and writes. The CLI passes the process's streams and working directory; tests pass
 * their own, so a command runs in-process without touching the terminal.
 */
export interface CliIo {
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
  /** Reads a file as UTF-8 text, relative paths against the working directory. */
  readonly readFile: (path: string) => Promise<string>;
}

/**
 * One subcommand of `portcullis`. `run` returns the exit status; it never calls `process.exit` and never lets an
 * expected failure (bad flags, a bad input file) escape as an exception.
 *
 * @example
 * const hello: CliCommand = { summary: 'say hello', usage: 'portcullis hello', run: async (_args, io) => { io.stdout('hello\n'); return EXIT_OK; } };
 */
export interface CliCommand {
  /** One line for `portcullis --help`. */
  readonly summary: string;
  /** The command's own `--help` text. */
  readonly usage: string;
  readonly run: (args: readonly string[], io: CliIo) => Promise<number>;
}
