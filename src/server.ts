/**
 * Starts the HTTP server and stops it gracefully. Store-agnostic: the caller opens the database, passes `ping`,
 * `registerRoutes`, and the `onClose` steps that release what it opened.
 *
 * Shutdown on SIGINT/SIGTERM: stop accepting connections, answer requests that arrive on open connections with
 * 503 (`SERVICE_UNAVAILABLE`, `Connection: close`), let in-flight requests finish for up to
 * `shutdownTimeoutMs` (10 s), then cut what remains, run the `onClose` steps in order, and exit 0 (1 when a step
 * failed). A second signal during shutdown exits at once with 1.
 */
import type { FastifyBaseLogger } from 'fastify';
import type { Config } from './config.ts';
import { buildApp, type AppDeps, type PortcullisApp } from './http/app.ts';
import { createLogger } from './http/logger.ts';

/** What {@link startServer} needs. */
export interface ServerDeps extends Omit<AppDeps, 'config'> {
  readonly config: Pick<Config, 'port' | 'host'> & AppDeps['config'];
  /** Run in order after the HTTP server has closed (e.g. close the database). Each failure is logged. */
  readonly onClose?: ReadonlyArray<() => Promise<void> | void>;
  /** Signals that start a graceful shutdown (default SIGINT and SIGTERM); `[]` installs no handler. */
  readonly signals?: readonly NodeJS.Signals[];
  /** Called with the exit code after a signal-driven shutdown (default `process.exit`). */
  readonly exit?: (code: number) => void;
  /** How long in-flight requests may take to finish once shutdown begins (default 10 000 ms). */
  readonly shutdownTimeoutMs?: number;
}

/** A listening server. */
export interface RunningServer {
  readonly app: PortcullisApp;
  /** e.g. `http://127.0.0.1:8080` (the bound address, useful with port 0). */
  readonly url: string;
  /** Graceful shutdown (idempotent); resolves with the exit code it would use. Does not exit the process. */
  shutdown(reason?: string): Promise<number>;
}

/**
 * Builds the app, listens on `config.host:config.port`, and installs the signal handlers.
 *
 * @example
 * const server = await startServer({ config, ping: () => store.ping(), registerRoutes, onClose: [() => store.close()] });
 * console.log(`Portcullis listening on ${server.url}`);
 */
export async function startServer(deps: ServerDeps): Promise<RunningServer> {
  const logger: FastifyBaseLogger = deps.logger ?? createLogger({ level: deps.config.logLevel });
  const onClose = deps.onClose ?? [];
  const signals = deps.signals ?? ['SIGINT', 'SIGTERM'];
  const exit = deps.exit ?? ((code: number): void => process.exit(code));
  const timeoutMs = deps.shutdownTimeoutMs ?? 10_000;

  const app = await buildApp({ ...deps, logger });
  try {
    await app.listen({ port: deps.config.port, host: deps.config.host });
  } catch (error) {
    await app.close().catch(() => undefined);
    await runSteps(onClose, logger);
    throw error;
  }
  const address = app.server.address();
  const url = typeof address === 'object' && address !== null ? `http://${address.family === 'IPv6' ? `[${address.address}]` : address.address}:${address.port}` : String(address);

  let closing: Promise<number> | undefined;
  const shutdown = (reason = 'shutdown requested'): Promise<number> => {
    closing ??= (async (): Promise<number> => {
      logger.info({ reason }, 'shutting down: no new connections, finishing in-flight requests');
      for (const signal of signals) process.off(signal, onSignal);
      process.on('SIGINT', onSecondSignal).on('SIGTERM', onSecondSignal);
      const closed = app.close();
      const timer = new Promise<'timeout'>((resolve) => setTimeout(resolve, timeoutMs, 'timeout').unref());
      if ((await Promise.race([closed.then(() => 'closed' as const), timer])) === 'timeout') {
        logger.warn({ timeoutMs }, 'in-flight requests did not finish in time; closing their connections');
        app.server.closeAllConnections();
        await closed.catch((error: unknown) => logger.error({ err: error }, 'error while closing the HTTP server'));
      }
      const failed = await runSteps(onClose, logger);
      process.off('SIGINT', onSecondSignal).off('SIGTERM', onSecondSignal);
      logger.info({ failed }, 'shut down');
      return failed > 0 ? 1 : 0;
    })();
    return closing;
  };

  function onSignal(signal: NodeJS.Signals): void {
    void shutdown(signal).then(exit);
  }
  function onSecondSignal(signal: NodeJS.Signals): void {
    logger.warn({ signal }, 'second signal during shutdown: exiting now');
    exit(1);
  }
  for (const signal of signals) process.on(signal, onSignal);

  return { app, url, shutdown };
}

async function runSteps(steps: ReadonlyArray<() => Promise<void> | void>, logger: FastifyBaseLogger): Promise<number> {
  let failed = 0;
  for (const step of steps) {
    try {
      await step();
    } catch (error) {
      failed += 1;
      logger.error({ err: error }, 'shutdown step failed');
    }
  }
  return failed;
}
