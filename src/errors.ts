/**
 * Every failure rollpoint reports carries one of these codes. The CLI maps them to exit codes in
 * one place (`src/cli/exit-codes.ts`); `docs/errors.md` explains each.
 */
export type ErrorCode =
  | "INVALID_ARGUMENT"
  | "INVALID_BACKUP_ID"
  | "BACKUP_NOT_FOUND"
  | "BACKUP_FAILED"
  | "ROLLBACK_POINT_FAILED"
  | "VERIFY_FAILED"
  | "RESTORE_FAILED"
  | "STORE_LOCKED"
  | "STORE_ERROR"
  | "SERVICE_NOT_FOUND"
  | "SERVICE_FAILED"
  | "DATABASE_FAILED"
  | "PREFLIGHT_FAILED"
  | "RUN_UNFINISHED"
  | "PROCESSES_SURVIVED"
  | "STORE_UNTRUSTED"
  | "RUN_NOT_RECORDED";

/** A problem at a place in a file: what validation reports (see manifest/diagnostics.ts). */
export interface LocatedProblem {
  /** Stable across wordings: SCHEMA_TYPE, DUPLICATE_STEP_ID, YAML_SYNTAX, ... */
  code: string;
  file: string;
  line: number;
  col: number;
  /** The path in the document, as `steps[2].run`. */
  path: string;
  message: string;
}

/** Where an error happened, so a message makes sense on its own. */
export interface ErrorContext {
  path?: string;
  backupId?: string;
  pointId?: string;
  stepId?: string;
  /** A run, for errors about one (its watch, say). */
  runId?: string;
  store?: string;
  /** A systemd unit, for service errors. */
  unit?: string;
  /** A database's name in the rollback point, for database errors. */
  database?: string;
  /** The pid of the process that holds the store's lock, for STORE_LOCKED. */
  holderPid?: number;
  /** Each problem of an invalid manifest: file, line, column, where in the manifest, what. */
  diagnostics?: readonly LocatedProblem[];
}

/** The one error type the library throws; `code` is stable, the message is for people. */
export class GlobalRollbackError extends Error {
  override readonly name = "GlobalRollbackError";
  readonly code: ErrorCode;
  readonly context: ErrorContext;

  constructor(
    code: ErrorCode,
    message: string,
    options: { cause?: unknown; context?: ErrorContext } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.context = options.context ?? {};
  }
}

/** A short description of anything thrown, for messages and logs. */
export function describeError(error: unknown): string {
  if (error instanceof GlobalRollbackError) return error.message;
  if (error instanceof Error) {
    const errno = error as NodeJS.ErrnoException;
    return errno.code && !error.message.includes(errno.code)
      ? `${errno.code}: ${error.message}`
      : error.message;
  }
  return String(error);
}
