import type { Outcome } from "../engine/run.js";
import type { ErrorCode } from "../errors.js";

/** The exit codes (README, "Exit codes"), the same for every command. */
export const ExitCode = {
  ok: 0,
  rolledBack: 1,
  needsIntervention: 2,
  invalid: 3,
  notStarted: 4,
  locked: 5,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

/** How a run ended, as an exit code: beside the error codes, so that one file holds them all. */
export const EXIT_OF_OUTCOME: Record<Outcome, ExitCode> = {
  committed: ExitCode.ok,
  rolledBack: ExitCode.rolledBack,
  rollbackFailed: ExitCode.needsIntervention,
  notStarted: ExitCode.notStarted,
  failed: ExitCode.needsIntervention,
  failedForward: ExitCode.needsIntervention,
  watchRolledBack: ExitCode.rolledBack,
};

/** The one place where an error's code becomes a process's exit code. */
export const EXIT_CODE_OF: Record<ErrorCode, ExitCode> = {
  INVALID_ARGUMENT: ExitCode.invalid,
  INVALID_BACKUP_ID: ExitCode.invalid,
  BACKUP_NOT_FOUND: ExitCode.invalid,
  BACKUP_FAILED: ExitCode.notStarted,
  ROLLBACK_POINT_FAILED: ExitCode.notStarted,
  STORE_ERROR: ExitCode.notStarted,
  VERIFY_FAILED: ExitCode.needsIntervention,
  RESTORE_FAILED: ExitCode.needsIntervention,
  STORE_LOCKED: ExitCode.locked,
  RUN_UNFINISHED: ExitCode.locked,
  SERVICE_NOT_FOUND: ExitCode.notStarted,
  PREFLIGHT_FAILED: ExitCode.notStarted,
  // Raised while restoring, a failed service or database command leaves work for a person.
  SERVICE_FAILED: ExitCode.needsIntervention,
  DATABASE_FAILED: ExitCode.needsIntervention,
  // A step's processes that even SIGKILL did not stop: nothing was restored under them.
  PROCESSES_SURVIVED: ExitCode.needsIntervention,
  // A store someone else could have planted or can swap: invalid usage, nothing was touched.
  STORE_UNTRUSTED: ExitCode.invalid,
  // The run ended, but its outcome is not in the store: someone must free space and recover.
  RUN_NOT_RECORDED: ExitCode.needsIntervention,
};
