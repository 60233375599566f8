import { type ErrorCode, GlobalRollbackError } from "../errors.js";
import type { BackupRow, BackupType } from "../store/catalog.js";
import type { Store } from "../store/store.js";
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

/** A member whose restore was checked (objects re-hashed) and can now be applied. */
export interface PreparedRestore {
  row: BackupRow;
  apply(): Promise<RollbackOperation>;
}

export function operation(row: BackupRow, fields: Partial<RollbackOperation>): RollbackOperation {
  return {
    backupId: row.id,
    backupType: row.type,
    source: row.source,
    outcome: "restored",
    warnings: [],
    ...fields,
  };
}

/** The failed outcome for a member, from whatever was thrown. */
export function failedOperation(row: BackupRow, error: unknown): RollbackOperation {
  const code = error instanceof GlobalRollbackError ? error.code : "RESTORE_FAILED";
  const message = error instanceof Error ? error.message : String(error);
  return operation(row, { outcome: "failed", error: { code, message } });
}

/** A backup's entries, each object re-hashed: a damaged or missing copy is never restored. */
export async function verifiedEntries(store: Store, row: BackupRow) {
  const entries = store.catalog.entries(row.id);
  for (const entry of entries) {
    if (entry.hash && (await store.objects.check(entry.hash)) !== "ok") {
      throw new GlobalRollbackError(
        "VERIFY_FAILED",
        `backup ${row.id} cannot be restored: the stored copy of ${row.source} is missing or damaged (object ${entry.hash}); nothing was changed`,
        { context: { backupId: row.id, path: row.source } },
      );
    }
  }
  return entries;
}
