import { GlobalRollbackError } from "../errors.js";
import type { BackupRow } from "../store/catalog.js";
import { digestOf } from "../store/entry.js";
import type { Store } from "../store/store.js";
import type { RollbackOperation } from "./outcomes.js";

export type { RollbackOperation, RollbackResult } from "./outcomes.js";

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
    if (entry.hash && (await store.objects.check(entry.hash, digestOf(entry))) !== "ok") {
      throw new GlobalRollbackError(
        "VERIFY_FAILED",
        `backup ${row.id} cannot be restored: the stored copy of ${row.source} is missing or damaged (object ${entry.hash}); nothing was changed`,
        { context: { backupId: row.id, path: row.source } },
      );
    }
  }
  return entries;
}
