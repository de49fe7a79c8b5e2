/**
 * A clock for integration tests, development only (issue #8 item 6). With `devClockHeader` on (the dev profile
 * only; production refuses to start with it), a request's `X-Portcullis-Now` header — an ISO-8601 instant with a
 * time zone, or epoch milliseconds — is that request's "now": a test can stand on either side of a grace period's
 * end, an MFA session's expiry or a lock's cool-down over the real API. A malformed value is refused
 * (`400 INVALID_REQUEST`) rather than ignored, so a test never runs on the real clock by mistake. With the setting
 * off, the header means nothing and is not read.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { PortcullisError } from '../core/index.ts';

/** The header, lower-cased as Node presents it. */
export const DEV_CLOCK_HEADER = 'x-portcullis-now';

declare module 'fastify' {
  interface FastifyRequest {
    /** The instant `X-Portcullis-Now` set for this request (epoch ms), or `null`: use the server's clock. */
    nowOverride: number | null;
  }
}

const ISO_INSTANT = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,9})?)?(?:Z|[+-](\d{2}):(\d{2}))$/i;
const EPOCH_MS = /^\d{1,16}$/;
/** ECMAScript's largest time value (±8.64e15 ms, ECMA-262 §21.4.1.1). */
const MAX_TIME = 8.64e15;

/**
 * Parses a header value: an ISO-8601 instant with a time zone, or whole epoch milliseconds. `null` when it is
 * neither (or out of the Date range).
 *
 * @example
 * parseDevClock('2030-01-01T00:00:00Z'); // 1893456000000
 * parseDevClock('1893456000000'); // 1893456000000
 * parseDevClock('tomorrow'); // null
 */
export function parseDevClock(value: string): number | null {
  const text = value.trim();
  let ms: number;
  const iso = ISO_INSTANT.exec(text);
  if (EPOCH_MS.test(text)) ms = Number(text);
  else if (iso !== null && isRealDateTime(iso)) ms = Date.parse(text);
  else return null;
  return Number.isFinite(ms) && ms >= 0 && ms <= MAX_TIME ? ms : null;
}

/** Every field in range: `Date.parse` alone rolls 30 February over into March. */
function isRealDateTime(match: RegExpExecArray): boolean {
  const [year, month, day, hour, minute, second = 0, offsetHours = 0, offsetMinutes = 0] = match.slice(1).map((part) => (part === undefined ? undefined : Number(part)));
  if (year === undefined || month === undefined || day === undefined || hour === undefined || minute === undefined) return false;
  const daysInMonth = new Date(Date.UTC(year, month, 0)).getUTCDate();
  return month >= 1 && month <= 12 && day >= 1 && day <= daysInMonth && hour <= 23 && minute <= 59 && second <= 59 && offsetHours <= 23 && offsetMinutes <= 59;
}

/**
 * Declares `request.nowOverride` (always `null` when `enabled` is false) and, when enabled, the `onRequest` hook
 * that sets it from the header. Register it on the root instance before any route.
 *
 * @example
 * registerDevClock(app, config.devClockHeader === true);
 */
export function registerDevClock(app: FastifyInstance, enabled: boolean): void {
  app.decorateRequest('nowOverride', null);
  if (!enabled) return;
  app.addHook('onRequest', async (request) => {
    const raw = request.headers[DEV_CLOCK_HEADER];
    if (raw === undefined) return;
    const ms = typeof raw === 'string' ? parseDevClock(raw) : null;
    if (ms === null) {
      throw new PortcullisError('INVALID_REQUEST', 'X-Portcullis-Now must be an ISO-8601 instant with a time zone (e.g. 2030-01-31T12:00:00Z) or epoch milliseconds.', {
        extra: { field: 'headers.x-portcullis-now' },
      });
    }
    request.nowOverride = ms;
    request.log.debug({ now: new Date(ms).toISOString() }, 'dev clock: this request runs at the X-Portcullis-Now instant');
  });
}

/**
 * The clock a route hands to a service for one request: the `X-Portcullis-Now` instant when the dev clock set one,
 * otherwise `fallback` (the server's clock, read on every call).
 *
 * @example
 * const now = requestNow(request, deps.now);
 * await signIn({ ...deps, now }, …);
 */
export function requestNow(request: FastifyRequest, fallback: () => number): () => number {
  const override = request.nowOverride;
  return override === null ? fallback : (): number => override;
}
