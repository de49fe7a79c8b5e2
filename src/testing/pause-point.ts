/**
 * Test-only pause points: a crash test names one in `PORTCULLIS_TEST_PAUSE_AT`, the server stops dead there (inside
 * a transaction, say) and the test `kill -9`s it, so the test proves where the process died instead of guessing
 * from a delay (STYLE "A test that times a `kill -9` must prove it landed where it claims").
 *
 * Inert otherwise: the variable is read once when this module loads, and a call is one comparison with `undefined`.
 * The production profile refuses to start with the variable set (`loadConfig`), so a stray variable can never
 * freeze a real server; the dev profile warns.
 */
import { writeSync } from 'node:fs';

/** The environment variable that arms one pause point. */
export const PAUSE_AT_ENV = 'PORTCULLIS_TEST_PAUSE_AT';

/** Every pause point in the code; a test arms one by name. */
export const PAUSE_POINTS = [
  /** `confirmTotpEnrollment`: inside the confirming transaction, the factor just activated, nothing committed. */
  'totp-confirm:factor-activated',
] as const;

export type PausePointName = (typeof PAUSE_POINTS)[number];

/** The line written to stderr when a pause point is reached: `<MARKER> <name> pid=<pid>`. */
export const PAUSE_MARKER = 'PORTCULLIS_TEST_PAUSED';

/** A paused process that nobody killed kills itself after this long, still without going past the point. */
const GIVE_UP_MS = 120_000;

const armed: string | undefined = process.env[PAUSE_AT_ENV] === '' ? undefined : process.env[PAUSE_AT_ENV];

/**
 * Blocks the whole process for good when `PORTCULLIS_TEST_PAUSE_AT` names this point: writes
 * `PORTCULLIS_TEST_PAUSED <name> pid=<pid>` to stderr (synchronously), then waits on an atomic that nothing
 * wakes — no timer, request or commit runs any more — until the test sends SIGKILL. It never returns; after two
 * minutes unkilled it SIGKILLs itself. Does nothing when the variable is unset or names another point.
 *
 * @example
 * await t.factors.activate(factor.id, now);
 * pausePoint('totp-confirm:factor-activated');
 */
export function pausePoint(name: PausePointName): void {
  if (armed === undefined || armed !== name) return;
  writeSync(2, `${PAUSE_MARKER} ${name} pid=${process.pid}\n`);
  const cell = new Int32Array(new SharedArrayBuffer(4));
  for (;;) {
    Atomics.wait(cell, 0, 0, GIVE_UP_MS);
    process.kill(process.pid, 'SIGKILL');
  }
}
