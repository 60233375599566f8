import type { BackupRow, BackupType } from "../store/catalog.js";
import type { Store } from "../store/store.js";
import { databaseKind } from "./databases/kind.js";
import { applyFileRestore, prepareFileRestore } from "./files/kind.js";
import { operation, type PreparedRestore } from "./operation.js";
import { recordedUnits } from "./services/kind.js";
import type { ServiceManager } from "./services/manager.js";
import { returnUnitsTo } from "./services/restore.js";

export { failedOperation, type PreparedRestore } from "./operation.js";

type Prepare = (store: Store, row: BackupRow, services: ServiceManager) => Promise<PreparedRestore>;

/** Files: plan against the live tree, verify every object the plan reads. */
const prepareFiles: Prepare = async (store, row) => {
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
        ...(counts.unproven ? { unproven: counts.unproven } : {}),
      });
    },
  };
};

/** Services: return each unit to its recorded state; nothing to verify. */
const prepareServices: Prepare = async (_store, row, services) => ({
  row,
  apply: async () => {
    // The files restored before this may include unit files: systemd must read them first.
    await services.reload?.();
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
});

/**
 * How each type of member is restored: one line per type (databases dispatch further by kind,
 * see databases/kind.ts). A type added to BackupType without its line does not compile.
 */
const MEMBER_KINDS: Record<BackupType, Prepare> = {
  file: prepareFiles,
  service: prepareServices,
  database: (store, row) => databaseKind(row.meta.engine).prepareRestore(store, row),
};

/**
 * Check what a restore of `row` needs before anything live is touched (every object it will
 * read is re-hashed; a mismatch throws VERIFY_FAILED), and return how to apply it.
 */
export function prepareRestore(
  store: Store,
  row: BackupRow,
  services: ServiceManager,
): Promise<PreparedRestore> {
  return MEMBER_KINDS[row.type](store, row, services);
}
