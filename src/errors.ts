import { constants as osConstants } from "node:os";

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
    const name = errnoName(error);
    // libuv's "Unknown system error -122" is the kernel's EDQUOT: said with the kernel's name.
    const message = name
      ? error.message.replace(
          /Unknown system error -\d+(: Unknown system error -\d+)?/,
          `${name}${STRERROR[name] ? `: ${STRERROR[name]}` : ""}`,
        )
      : error.message;
    const code = name ?? (error as NodeJS.ErrnoException).code;
    return code && !message.includes(code) ? `${code}: ${message}` : message;
  }
  return String(error);
}

// What libuv has no words for, in the kernel's (strerror) words.
const STRERROR: Record<string, string> = { EDQUOT: "disk quota exceeded" };

/**
 * The kernel's name of a system call's error (EIO, ENOSPC...). libuv has none for some (EDQUOT
 * reaches Node as code "Unknown system error -122"): the errno's name then, from the kernel's table.
 */
export function errnoName(error: unknown): string | undefined {
  const e = error as { code?: unknown; errno?: unknown } | null;
  if (typeof e?.code === "string" && /^E[A-Z0-9]+$/.test(e.code)) return e.code;
  if (typeof e?.errno !== "number") return undefined;
  const errno = -e.errno;
  return Object.entries(osConstants.errno).find(([, n]) => n === errno)?.[0] ?? `errno ${errno}`;
}
