/**
 * JSON logs (pino) with secrets redacted at the source (SECURITY rule 10). The request id is bound by Fastify on
 * every request's child logger (`requestId`).
 *
 * Fastify never logs bodies or headers by default; redaction is the second line, for the day someone logs
 * `{ body }` or `{ headers }` while debugging. `code` is redacted in a body and at the top level (a spread
 * body), but not one level down, where it is an error's code (`err.code: 'ECONNREFUSED'`) that operators need;
 * log an error code as `errorCode`.
 */
import pino, { type DestinationStream, type Logger } from 'pino';
import type { LogLevel } from '../config.ts';

/** Body fields that carry a secret. */
export const SECRET_FIELDS = ['password', 'newPassword', 'currentPassword', 'code', 'secret', 'clientSecret', 'client_secret', 'token', 'recoveryCode', 'recoveryCodes', 'deviceToken'] as const;

const HEADER_PATHS = ['authorization', 'cookie', '"proxy-authorization"', '"x-api-key"'].flatMap((h) => [`req.headers.${h}`, `headers.${h}`, `request.headers.${h}`]);

/** Every path pino censors. Exported so a test can show each one is covered. */
export const REDACT_PATHS: readonly string[] = [
  ...HEADER_PATHS,
  'res.headers["set-cookie"]',
  ...SECRET_FIELDS.flatMap((f) => [`body.${f}`, `body.*.${f}`, `req.body.${f}`, `request.body.${f}`, `*.body.${f}`]),
  'code',
  ...SECRET_FIELDS.filter((f) => f !== 'code').flatMap((f) => [f, `*.${f}`]),
];

/** Options for {@link createLogger}. */
export interface LoggerOptions {
  readonly level: LogLevel;
  /** Where lines go; standard output when absent. Tests pass a capturing stream. */
  readonly destination?: DestinationStream;
}

/**
 * A pino logger with Portcullis' redaction and field names (`time` as ISO-8601, `level` as a label).
 *
 * @example
 * const logger = createLogger({ level: config.logLevel });
 * const app = await buildApp({ config, logger, ping });
 */
export function createLogger(options: LoggerOptions): Logger {
  return pino(
    {
      level: options.level,
      redact: { paths: [...REDACT_PATHS], censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      base: { service: 'portcullis' },
    },
    options.destination,
  );
}
