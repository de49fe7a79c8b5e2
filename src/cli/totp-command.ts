import { parseArgs } from 'node:util';
import { base32Decode, TOTP_PERIOD_SECONDS, totpCode, totpStep } from '../factors/totp.ts';
import { EXIT_OK, EXIT_USAGE, type CliCommand } from './command.ts';

const USAGE = `Usage: portcullis totp --secret BASE32 [--next]

Prints the current TOTP code (RFC 6238, SHA-1, 6 digits, 30 s) for a base32 secret, like an authenticator app.
A development aid for trying the API from a terminal. Portcullis accepts each code once: with --next the
command waits (up to 30 s) for the next time step and prints its code.
`;

/** `portcullis totp`: an authenticator app for the terminal (development aid). */
export const TOTP_COMMAND: CliCommand = {
  summary: 'print the current TOTP code for a secret (development aid)',
  usage: USAGE,
  run: async (args, io) => {
    let values: { secret?: string; next?: boolean; help?: boolean };
    try {
      ({ values } = parseArgs({ args: [...args], options: { secret: { type: 'string' }, next: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } }, strict: true }));
    } catch (error) {
      io.stderr(`portcullis totp: ${error instanceof Error ? error.message : String(error)}\n\n${USAGE}`);
      return EXIT_USAGE;
    }
    if (values.help === true) {
      io.stdout(USAGE);
      return EXIT_OK;
    }
    const secret = values.secret === undefined ? null : base32Decode(values.secret.replace(/\s+/g, '').toUpperCase());
    if (secret === null) {
      io.stderr(`portcullis totp: --secret must be a base32 secret\n\n${USAGE}`);
      return EXIT_USAGE;
    }
    const periodMs = TOTP_PERIOD_SECONDS * 1000;
    if (values.next === true) await new Promise((resolve) => setTimeout(resolve, periodMs - (Date.now() % periodMs) + 50));
    io.stdout(`${totpCode(secret, totpStep(Date.now()))}\n`);
    return EXIT_OK;
  },
};
