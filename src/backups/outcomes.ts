// What a restore reports, apart from the code that restores: the public declarations name these
// types, and they must not pull in the store's (better-sqlite3's) types with them.
import type { ErrorCode } from "../errors.js";
import type { BackupType } from "../store/rows.js";
import type { UnitOutcome } from "./services/restore.js";

/** One member's outcome in a restore. */
export interface RollbackOperation {
  backupId: string;
  backupType: BackupType;
  source: string;
  /** `restored`: something was changed back; `unchanged`: the live state already matched. */
  outcome: "restored" | "unchanged" | "failed";
  /** For a file backup: what was rewritten, removed, or only had its metadata put back. */
  changes?: { removed: number; written: number; metadata: number };
  /** For a service backup: every unit's outcome. */
  units?: UnitOutcome[];
  /** How it was done, in words (a database's restore path, say). */
  detail?: string;
  /** For a PostgreSQL swap: how long the database was unavailable, and the old copy's drop. */
  timings?: { swapMs: number; dropMs: number };
  warnings: string[];
  /** Set when the member was restored but could not be read back and compared: no proof. */
  unproven?: string;
  error?: { code: ErrorCode; message: string };
}

/** What `restoreRollbackPoint` did, member by member, in the order it did it. */
export interface RollbackResult {
  pointId: string;
  ok: boolean;
  /** The point's services stopped before any data was restored (the order docs/rollback-semantics.md gives). */
  stopped: UnitOutcome[];
  operations: RollbackOperation[];
}
