/**
 * A server started through npm (`npm start`, `npx portcullis start`) must not outlive npm. npm forwards SIGTERM
 * and SIGINT to the shell it runs the script in; a shell that does not `exec` its command (`sh -c` in npx, or a
 * script such as `node … start` without `exec`) dies of the signal and leaves Node running, reparented. The
 * `start` script `exec`s, so npm signals Node itself; this watch covers the launchers we do not control: when the
 * parent process changes, the launcher is gone, and the server shuts down as it would on SIGTERM.
 *
 * Only under npm: a server started by hand and detached on purpose (`nohup`, `setsid`, a shell that exits) is
 * reparented too, and must keep running.
 */

/** npm sets these in every script and `npm exec` environment. */
export function launchedByNpm(env: Readonly<Record<string, string | undefined>>): boolean {
  return env['npm_lifecycle_event'] !== undefined || env['npm_command'] !== undefined;
}

/** Options of {@link watchParent}. */
export interface ParentWatchOptions {
  /** Called once, when the parent process id is no longer the one at the start. */
  readonly onOrphaned: () => void;
  /** How often the parent is checked (default 500 ms). */
  readonly intervalMs?: number;
  /** The current parent process id (default `process.ppid`). */
  readonly ppid?: () => number;
}

/**
 * Calls `onOrphaned` once the process has been reparented. The timer does not keep the process alive. Returns the
 * function that stops watching.
 *
 * @example
 * const stop = watchParent({ onOrphaned: () => void server.shutdown('the launching process exited').then(process.exit) });
 */
export function watchParent(options: ParentWatchOptions): () => void {
  const ppid = options.ppid ?? ((): number => process.ppid);
  const parent = ppid();
  const timer = setInterval(() => {
    if (ppid() === parent) return;
    clearInterval(timer);
    options.onOrphaned();
  }, options.intervalMs ?? 500);
  timer.unref();
  return () => clearInterval(timer);
}
