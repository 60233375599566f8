import type { BackupRow } from "../store/catalog.js";
import type { Store } from "../store/store.js";
import { databaseKind } from "./databases/kind.js";
import { applyFileRestore, prepareFileRestore } from "./files/kind.js";
import { operation, type PreparedRestore } from "./operation.js";
import { recordedUnits } from "./services/kind.js";
import type { ServiceManager } from "./services/manager.js";
import { returnUnitsTo } from "./services/restore.js";

export { failedOperation, type PreparedRestore } from "./operation.js";

/**
 * Check what a restore of `row` needs before anything live is touched (every object it will
 * read is re-hashed; a mismatch throws VERIFY_FAILED), and return how to apply it.
 */
export async function prepareRestore(
  store: Store,
  row: BackupRow,
  services: ServiceManager,
): Promise<PreparedRestore> {
  if (row.type === "file") {
    const verified = await prepareFileRestore(store, row);
    return {
      row,
      apply: async () => {
        const counts = await applyFileRestore(store, verified);
        const changed = counts.removed + counts.written + counts.metadata > 0;
        return operation(row, {
          outcome: changed ? "restored" : "unchanged",
          changes: { removed: counts.removed, written: counts.written, metadata: counts.metadata },
          warnings: counts.warnings,
        });
      },
    };
  }
  if (row.type === "service") {
    return {
      row,
      apply: async () => {
        const units = await returnUnitsTo(services, recordedUnits(row));
        const failed = units.filter((u) => !u.ok);
        const changed = units.some((u) => u.actions.length > 0);
        return operation(row, {
          outcome: failed.length > 0 ? "failed" : changed ? "restored" : "unchanged",
          units,
          ...(failed.length > 0
            ? {
                error: {
                  code: "SERVICE_FAILED",
                  message: `${failed.length} of ${units.length} units did not return to their recorded state: ${failed.map((u) => u.error).join("; ")}`,
                },
              }
            : {}),
        });
      },
    };
  }
  return databaseKind(row.meta.engine).prepareRestore(store, row);
}
