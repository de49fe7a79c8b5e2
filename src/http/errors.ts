/**
 * The one place where errors become HTTP answers (STYLE §4: statuses exist only here).
 *
 * Every answer is `{ "error": "<CODE>", "message": "…" }` plus, for some codes, extra fields. Bad input is always
 * a 4xx with a stable code, never a 500. A database that cannot be reached is a 503, so a caller retries and no
 * request is ever allowed because a check could not run (SECURITY rule 7). Anything else is a 500 that carries
 * only the request id; the error itself goes to the log (SECURITY rule 10: no internal detail out).
 */
import { Type } from '@sinclair/typebox';
import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import type { FastifyBaseLogger, FastifyError, FastifyReply, FastifyRequest, FastifySchemaValidationError } from 'fastify';
import { isPortcullisError, type ErrorCode } from '../core/index.ts';

/**
 * HTTP status for each error code. A `Record` over the whole union, so a new code does not compile until it has a
 * status here.
 */
export const HTTP_STATUS_BY_CODE: Readonly<Record<ErrorCode, number>> = {
  // The decision refuses this sign-in as it stands: the caller is known, the answer is no.
  MFA_REQUIRED_NO_FACTOR: 403,
  MFA_FACTOR_NOT_ALLOWED: 403,
  MFA_GRACE_EXPIRED: 403,
  MFA_RECOVERY_CODES_EXHAUSTED: 403,
  ACCESS_DENIED_RISK: 403,
  STEP_UP_REQUIRED: 403,
  ENROLLMENT_NOT_ALLOWED: 403,
  FORBIDDEN: 403,
  // Wrong or missing credentials.
  UNAUTHORIZED: 401,
  INVALID_CREDENTIALS: 401,
  // A wrong code is the user's failure, not the client's (401 is for client credentials).
  MFA_CODE_INVALID: 400,
  // The request itself is malformed or asks for something not on offer.
  INVALID_REQUEST: 400,
  INVALID_POLICY: 400,
  MFA_METHOD_NOT_ALLOWED: 400,
  PAYLOAD_TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  // What Node's HTTP parser refuses before any route runs (see handleClientError).
  REQUEST_TIMEOUT: 408,
  REQUEST_HEADER_TOO_LARGE: 431,
  // Absent, or out of the caller's reach (SECURITY rule 8 answers other tenants' ids with 404 too).
  NOT_FOUND: 404,
  MFA_SESSION_NOT_FOUND: 404,
  SESSION_NOT_FOUND: 404,
  SESSION_REQUIRED: 400,
  FACTOR_NOT_FOUND: 404,
  // The state forbids the change.
  CONFLICT: 409,
  FACTOR_ALREADY_ACTIVE: 409,
  MFA_DISABLE_BLOCKED: 409,
  MFA_SESSION_EXPIRED: 410,
  MFA_SESSION_USED: 409,
  // A cool-down a retry later can pass (429), and a lock only an administrator lifts (423 Locked, RFC 4918 §11.3).
  MFA_LOCKED: 429,
  RATE_LIMITED: 429,
  ACCOUNT_LOCKED: 423,
  SERVICE_UNAVAILABLE: 503,
  // Answered as SERVICE_UNAVAILABLE (see toHttpError): the caller can do nothing about it but retry later.
  SECRET_UNREADABLE: 503,
  INTERNAL: 500,
};

/**
 * The HTTP status of a Portcullis error code.
 *
 * @example
 * httpStatusOf('MFA_SESSION_EXPIRED') // 410
 */
export function httpStatusOf(code: ErrorCode): number {
  return HTTP_STATUS_BY_CODE[code];
}

/** The JSON body of every error answer. */
export interface ErrorBody {
  readonly error: string;
  readonly message: string;
  readonly [extra: string]: unknown;
}

/** TypeBox schema of {@link ErrorBody}, for route `response` declarations (extra fields pass through). */
export const ErrorResponse = Type.Object(
  { error: Type.String({ description: 'Stable error code, e.g. INVALID_REQUEST' }), message: Type.String({ description: 'Human-readable, safe to show' }) },
  { additionalProperties: true },
);

/** How loudly an error is logged: 4xx at `info` (the caller's mistake), 503 at `warn`, 500 at `error`. */
export type ErrorLogLevel = 'info' | 'warn' | 'error';

/** An error turned into an HTTP answer. */
export interface HttpError {
  readonly status: number;
  readonly body: ErrorBody;
  readonly level: ErrorLogLevel;
}

const INTERNAL_MESSAGE = 'An internal error occurred. Quote the request id when reporting it.';
const UNAVAILABLE_MESSAGE = 'The service is temporarily unavailable; retry shortly.';

/**
 * Maps any thrown value to its HTTP answer. Pure: the caller logs and sends. The body of a 5xx never carries
 * the error's message.
 *
 * @example
 * toHttpError(new PortcullisError('NOT_FOUND', 'No such tenant.'))
 * // { status: 404, body: { error: 'NOT_FOUND', message: 'No such tenant.' }, level: 'info' }
 */
export function toHttpError(error: unknown): HttpError {
  if (isPortcullisError(error)) {
    // A secret that does not open is the operator's emergency (a wrong or lost key), not a transient outage: logged
    // as an error, answered as the 503 a caller retries, never with a hint about keys.
    if (error.code === 'SECRET_UNREADABLE') return { ...unavailable(), level: 'error' };
    if (error.code === 'INTERNAL') {
      if (isUnstorableText(error.cause)) return clientError(400, 'INVALID_REQUEST', 'The request holds a character that cannot be stored (such as a NUL byte).');
      return isDatabaseUnavailable(error.cause) ? unavailable() : internal();
    }
    const status = httpStatusOf(error.code);
    const extra: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(error.extra ?? {})) {
      if (key !== 'error' && key !== 'message') extra[key] = value;
    }
    return { status, body: { error: error.code, message: error.message, ...extra }, level: status >= 500 ? 'warn' : 'info' };
  }
  // Before the database check: Node reports a client that hung up mid-request as ECONNRESET too.
  if (isClientAbort(error)) return clientError(400, 'INVALID_REQUEST', 'The client closed the connection before the request was complete.');
  if (isDatabaseUnavailable(error)) return unavailable();
  // PostgreSQL refuses text it cannot store (a NUL byte, an invalid sequence): the input was bad, not the server.
  if (isUnstorableText(error)) return clientError(400, 'INVALID_REQUEST', 'The request holds a character that cannot be stored (such as a NUL byte).');

  const fastifyError = error as Partial<FastifyError> | null | undefined;
  if (Array.isArray(fastifyError?.validation)) {
    const { field, message } = describeValidation(fastifyError.validationContext ?? 'body', fastifyError.validation);
    return { status: 400, body: { error: 'INVALID_REQUEST', message, field }, level: 'info' };
  }
  switch (fastifyError?.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return clientError(413, 'PAYLOAD_TOO_LARGE', 'The request body is too large.');
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return clientError(415, 'UNSUPPORTED_MEDIA_TYPE', 'Send the body as application/json.');
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      // Never repeat the parser's message: it quotes the body, which may hold a password or a code.
      return clientError(400, 'INVALID_REQUEST', 'The body is not valid JSON.');
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return clientError(400, 'INVALID_REQUEST', 'The body is empty; send a JSON object.');
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return clientError(400, 'INVALID_REQUEST', 'The body does not match its Content-Length.');
    default:
      break;
  }
  const status = typeof fastifyError?.statusCode === 'number' ? fastifyError.statusCode : 500;
  if (status === 429) return clientError(429, 'RATE_LIMITED', 'Too many requests; retry later.');
  if (status === 404) return clientError(404, 'NOT_FOUND', 'No such resource.');
  if (status === 413) return clientError(413, 'PAYLOAD_TOO_LARGE', 'The request is too large.');
  if (status === 415) return clientError(415, 'UNSUPPORTED_MEDIA_TYPE', 'Send the body as application/json.');
  if (status === 503) return unavailable();
  if (status >= 400 && status < 500) {
    // Fastify's own client errors (bad URL, bad header, …) have fixed messages that hold no request data.
    const safe = typeof fastifyError?.code === 'string' && fastifyError.code.startsWith('FST_') && typeof fastifyError.message === 'string';
    return clientError(status, 'INVALID_REQUEST', safe ? String(fastifyError.message) : 'The request is not valid.');
  }
  return internal();
}

/**
 * Whether `error` is Node's report that the client closed its connection before its request was complete (the
 * request stream's `aborted`, code `ECONNRESET`). It says nothing about the server's health: logged as a client
 * abort at `info`, never as "service unavailable" (which pages whoever watches for outages).
 *
 * @example
 * isClientAbort(Object.assign(new Error('aborted'), { code: 'ECONNRESET' })) // true
 * isClientAbort(Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' })) // false: a database socket
 */
export function isClientAbort(error: unknown): boolean {
  if (typeof error !== 'object' || error === null || isPortcullisError(error)) return false;
  const { code, message } = error as { code?: unknown; message?: unknown };
  return code === 'ECONNRESET' && message === 'aborted';
}

function isUnstorableText(error: unknown): boolean {
  const code = (error as { code?: unknown } | null | undefined)?.code;
  return code === '22021' || code === '22P05';
}

function clientError(status: number, code: ErrorCode, message: string): HttpError {
  return { status, body: { error: code, message }, level: 'info' };
}

function internal(): HttpError {
  return { status: 500, body: { error: 'INTERNAL', message: INTERNAL_MESSAGE }, level: 'error' };
}

function unavailable(): HttpError {
  return { status: 503, body: { error: 'SERVICE_UNAVAILABLE', message: UNAVAILABLE_MESSAGE }, level: 'warn' };
}

/**
 * Turns Ajv's errors into one sentence that names the field (`body.code must be string`). Only the schema and
 * the field's path appear, never the submitted value.
 */
export function describeValidation(context: string, errors: readonly FastifySchemaValidationError[]): { field: string; message: string } {
  // For a union (`anyOf`), Ajv reports every branch's failure first and the union last; the union is what the
  // caller got wrong, and the branches' `const`s are the values it could have sent.
  const union = errors.find((e) => e.keyword === 'anyOf' || e.keyword === 'oneOf');
  const chosen = union ?? errors[0];
  if (chosen === undefined) return { field: context, message: `${context} is not valid.` };
  let field = fieldPath(context, chosen.instancePath);
  if (union !== undefined) {
    const allowed = errors.filter((e) => e.keyword === 'const' && e.instancePath === union.instancePath).map((e) => e.params['allowedValue']);
    const message = allowed.length > 0 ? `${field} must be one of: ${allowed.map((v) => JSON.stringify(v)).join(', ')}.` : `${field} does not match any allowed form.`;
    return { field, message };
  }
  switch (chosen.keyword) {
    case 'required':
      field = joinField(field, String(chosen.params['missingProperty']));
      return { field, message: `${field} is required.` };
    case 'additionalProperties':
      field = joinField(field, String(chosen.params['additionalProperty']));
      return { field, message: `${field} is not an accepted field.` };
    case 'enum': {
      const allowed = chosen.params['allowedValues'];
      const list = Array.isArray(allowed) ? allowed.map((v) => JSON.stringify(v)).join(', ') : '';
      return { field, message: `${field} must be one of: ${list}.` };
    }
    default:
      return { field, message: `${field} ${chosen.message ?? 'is not valid'}.` };
  }
}

/** `/context/ip` → `body.context.ip`; `/items/0` → `body.items[0]`. */
function fieldPath(context: string, instancePath: string): string {
  let field = context;
  for (const raw of instancePath.split('/').slice(1)) {
    field = joinField(field, raw.replace(/~1/g, '/').replace(/~0/g, '~'));
  }
  return field;
}

function joinField(base: string, name: string): string {
  if (/^\d+$/.test(name)) return `${base}[${name}]`;
  const shown = name.length > 64 ? `${name.slice(0, 61)}...` : name;
  return /^[A-Za-z_$][\w$]*$/.test(shown) ? `${base}.${shown}` : `${base}[${JSON.stringify(shown)}]`;
}

// Errors that mean "the database cannot be reached right now", from pg (node-postgres) and better-sqlite3.
const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'EPIPE']);
// PostgreSQL SQLSTATEs: class 08 connection exception, 53 insufficient resources, 57P0x shutting down or not
// yet accepting connections; 57014 a statement cancelled by statement_timeout (the database too slow to answer);
// 40001/40P01 (serialization failure, deadlock) are transient too: retry, not a bug.
const PG_STATE = /^(08\w{3}|53\w{3}|57P0[1-4]|57014|40001|40P01)$/;
const SQLITE_CODE = /^SQLITE_(BUSY|LOCKED|CANTOPEN|IOERR|FULL|PROTOCOL)(_\w+)?$/;
const UNAVAILABLE_MESSAGE_PATTERN =
  /connection terminated|terminating connection|connection error|timeout exceeded when trying to connect|cannot use a pool after calling end|client was closed|database connection is not open|driver has already been destroyed|query read timeout/i;

/**
 * Whether `error` (or its `cause` chain, or an `AggregateError`'s members) says the database is unreachable,
 * shutting down, or busy.
 *
 * @example
 * isDatabaseUnavailable(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' })) // true
 */
export function isDatabaseUnavailable(error: unknown): boolean {
  return checkUnavailable(error, 0);
}

function checkUnavailable(error: unknown, depth: number): boolean {
  if (depth > 5 || typeof error !== 'object' || error === null) return false;
  const { code, message, cause, errors } = error as { code?: unknown; message?: unknown; cause?: unknown; errors?: unknown };
  if (typeof code === 'string' && (NETWORK_CODES.has(code) || PG_STATE.test(code) || SQLITE_CODE.test(code))) return true;
  if (isPortcullisError(error)) return error.code === 'INTERNAL' && checkUnavailable(cause, depth + 1);
  if (typeof message === 'string' && UNAVAILABLE_MESSAGE_PATTERN.test(message)) return true;
  if (Array.isArray(errors) && errors.some((member) => checkUnavailable(member, depth + 1))) return true;
  return checkUnavailable(cause, depth + 1);
}

/**
 * Fastify error handler: maps with {@link toHttpError}, logs (a 5xx with the error and its stack; a 4xx with its
 * code only) and answers. 5xx bodies carry `requestId` so a report can be matched to the log line.
 *
 * @example
 * app.setErrorHandler(handleError);
 */
export function handleError(error: FastifyError, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  const mapped = toHttpError(error);
  if (isClientAbort(error)) {
    request.log.info({ errorCode: mapped.body.error }, 'client aborted the request (connection closed before it was complete)');
  } else if (mapped.level === 'error') {
    request.log.error({ err: error, ...(isPortcullisError(error) ? { errorCode: error.code } : {}) }, 'request failed');
  } else if (mapped.level === 'warn') {
    request.log.warn({ err: error, errorCode: mapped.body.error }, 'service unavailable');
  } else {
    const detail = isPortcullisError(error) ? error.detail : undefined;
    request.log.info({ errorCode: mapped.body.error, status: mapped.status, ...(detail === undefined ? {} : { detail }), ...('field' in mapped.body ? { field: mapped.body['field'] } : {}) }, 'request refused');
  }
  const body = mapped.status >= 500 ? { ...mapped.body, requestId: request.id } : mapped.body;
  if (mapped.status === 503) void reply.header('retry-after', '1');
  return reply.code(mapped.status).type('application/json; charset=utf-8').send(body);
}

/**
 * Answers an unknown route with 404 `NOT_FOUND` in the common error shape.
 *
 * @example
 * app.setNotFoundHandler(handleNotFound);
 */
export function handleNotFound(request: FastifyRequest, reply: FastifyReply): FastifyReply {
  return reply.code(404).send({ error: 'NOT_FOUND', message: `No route ${request.method} ${pathOf(request.url)}.` });
}

function pathOf(url: string): string {
  const path = url.split('?')[0] ?? '';
  return path.length > 100 ? `${path.slice(0, 97)}...` : path;
}

/** What {@link clientErrorAnswer} gives for an error of Node's HTTP parser. */
export interface ClientErrorAnswer {
  readonly status: number;
  readonly body: ErrorBody;
}

/**
 * The answer to a request Node's HTTP parser refused before Fastify saw it (oversized headers, a repeated
 * Content-Length, Content-Length with Transfer-Encoding, bad chunking, a NUL in a header, a request that took too
 * long), in the common `{ error, message }` shape; `null` when the client is gone and nothing can be sent. The
 * messages are fixed: never the parser's, which may quote the request's bytes.
 *
 * @example
 * clientErrorAnswer({ code: 'HPE_HEADER_OVERFLOW' })
 * // { status: 431, body: { error: 'REQUEST_HEADER_TOO_LARGE', message: 'The request headers are too large.' } }
 */
export function clientErrorAnswer(error: { readonly code?: unknown }): ClientErrorAnswer | null {
  const code = typeof error.code === 'string' ? error.code : '';
  // The client hung up (HPE_INVALID_EOF_STATE: the connection ended inside a request): nobody to answer.
  if (code === 'ECONNRESET' || code === 'EPIPE' || code === 'HPE_INVALID_EOF_STATE') return null;
  const answer = (status: number, errorCode: ErrorCode, message: string): ClientErrorAnswer => ({ status, body: { error: errorCode, message } });
  if (code === 'HPE_HEADER_OVERFLOW') return answer(431, 'REQUEST_HEADER_TOO_LARGE', 'The request headers are too large.');
  if (code === 'ERR_HTTP_REQUEST_TIMEOUT') return answer(408, 'REQUEST_TIMEOUT', 'The request did not arrive in time.');
  if (code.includes('CONTENT_LENGTH')) return answer(400, 'INVALID_REQUEST', 'The request has an invalid or repeated Content-Length.');
  if (code.includes('TRANSFER_ENCODING')) return answer(400, 'INVALID_REQUEST', 'The request has an invalid Transfer-Encoding, or one together with Content-Length.');
  if (code.includes('CHUNK')) return answer(400, 'INVALID_REQUEST', 'The request body is not validly chunked.');
  if (code.includes('HEADER')) return answer(400, 'INVALID_REQUEST', 'A request header is malformed or holds a character that is not allowed.');
  return answer(400, 'INVALID_REQUEST', 'The request is not valid HTTP/1.1.');
}

/**
 * Fastify `clientErrorHandler` (Node's `clientError`): answers what the HTTP parser refused with
 * {@link clientErrorAnswer} and closes the connection (the stream cannot be trusted past a parse error). Logged at
 * `info` like any refused request.
 *
 * @example
 * Fastify({ clientErrorHandler: (error, socket) => handleClientError(error, socket, logger) });
 */
export function handleClientError(error: Error & { code?: unknown }, socket: Duplex, log: FastifyBaseLogger): void {
  const answer = socket.destroyed ? null : clientErrorAnswer(error);
  if (answer === null) {
    log.debug({ parserError: error.code }, 'client closed the connection');
    socket.destroy();
    return;
  }
  log.info({ errorCode: answer.body.error, status: answer.status, parserError: error.code }, 'request refused by the HTTP parser');
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  const body = JSON.stringify(answer.body);
  const head = [
    `HTTP/1.1 ${answer.status} ${STATUS_CODES[answer.status] ?? 'Error'}`,
    'Content-Type: application/json; charset=utf-8',
    `Content-Length: ${Buffer.byteLength(body)}`,
    'Cache-Control: no-store',
    'Connection: close',
  ].join('\r\n');
  socket.end(`${head}\r\n\r\n${body}`, () => socket.destroy());
}
