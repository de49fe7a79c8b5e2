/**
 * A log of the SQL statements the process sends to its databases, taken at the drivers themselves (better-sqlite3's
 * `Statement#run/all/get`, pg's `Client#query`) — what actually reaches SQLite or PostgreSQL, whatever built it.
 * For tests that prove a request's statement budget (issue 13); never used by the server.
 *
 * @example
 * const log = startStatementLog();
 * await app.inject({ method: 'POST', url: '/api/v1/auth/mfa/status/check', ... });
 * const { statements, commits } = log.stop();
 */
import { wrapPgQueries, wrapSqliteStatements } from './driver-hooks.ts';

/** One statement as a driver ran it. */
export interface LoggedStatement {
  readonly sql: string;
  /** Whether it ran inside an explicit transaction (between BEGIN and COMMIT/ROLLBACK on its connection). */
  readonly inTransaction: boolean;
}

/** What a stopped log saw. */
export interface StatementTally {
  /** Every statement but transaction control (BEGIN, COMMIT, ROLLBACK, SAVEPOINT, RELEASE). */
  readonly statements: readonly LoggedStatement[];
  /**
   * Commits made: explicit COMMITs, plus each write run outside a transaction (it commits alone). A read outside
   * a transaction commits nothing.
   */
  readonly commits: number;
}

export interface StatementLog {
  stop(): StatementTally;
}

const CONTROL = /^\s*(begin|commit|rollback|savepoint|release)\b/i;
const COMMIT = /^\s*commit\b/i;
const READ = /^\s*select\b/i;
const CTE = /^\s*with\b/i;
const WRITES = /\b(insert|update|delete)\b/i;

/** Whether a statement only reads: a SELECT, or a WITH none of whose parts writes. */
function readsOnly(sql: string): boolean {
  return READ.test(sql) || (CTE.test(sql) && !WRITES.test(sql));
}

let active: { statements: LoggedStatement[]; commits: number } | null = null;
let installed = false;
/** pg connections inside an explicit transaction. */
const pgOpen = new WeakSet<object>();

function note(sql: string, inTransaction: boolean): void {
  if (active === null) return;
  if (COMMIT.test(sql)) active.commits++;
  if (CONTROL.test(sql)) return;
  if (!inTransaction && !readsOnly(sql)) active.commits++;
  active.statements.push({ sql, inTransaction });
}

function install(): void {
  if (installed) return;
  installed = true;
  // Whether a transaction was open before the statement ran (a COMMIT closes it; a BEGIN opens it).
  wrapSqliteStatements((statement, call) => {
    note(statement.source, statement.database.inTransaction);
    return call();
  });
  wrapPgQueries((client, text, call) => {
    if (/^\s*begin\b/i.test(text)) pgOpen.add(client);
    const inTransaction = pgOpen.has(client);
    if (/^\s*(commit|rollback)\s*$/i.test(text)) pgOpen.delete(client);
    note(text, inTransaction);
    return call();
  });
}

/** Starts logging every statement of this process (both drivers) until `stop`. One log at a time. */
export function startStatementLog(): StatementLog {
  install();
  if (active !== null) throw new Error('a statement log is already running');
  const running = { statements: [] as LoggedStatement[], commits: 0 };
  active = running;
  return {
    stop: () => {
      if (active === running) active = null;
      return { statements: running.statements, commits: running.commits };
    },
  };
}
