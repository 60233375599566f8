import { GlobalRollbackError } from "../errors.js";
import type { RollbackOperation } from "../library/types.js";
import type { BackupRow } from "../store/catalog.js";
import type { Store } from "../store/store.js";
import { restorePostgres } from "./databases/postgresql/postgres-restore.js";
import { applyFileRestore, prepareFileRestore } from "./files/kind.js";
import { parentOf, restoreTarget } from "./files/parents.js";
import { recordedUnits } from "./services/kind.js";
import type { ServiceManager } from "./services/manager.js";
import { returnUnitsTo } from "./services/restore.js";
import { restoreSqlite } from "./databases/sqlite/sqlite.js";

/** A member whose restore was checked (objects re-hashed) and can now be applied. */
export interface PreparedRestore {
  row: BackupRow;
  apply(): Promise<RollbackOperation>;
}

function operation(row: BackupRow, fields: Partial<RollbackOperation>): RollbackOperation {
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
  if (row.meta.engine === "sqlite") {
    return {
      row,
      apply: async () => {
        const entry = entries[0]!;
        const path = restoreTarget(row.source, parentOf(row), {
          backupId: row.id,
          create: entry.kind !== "absent",
        });
        await restoreSqlite(store.objects, path, entry);
        return operation(row, {
          detail:
            entries[0]!.kind === "absent"
              ? "removed: it did not exist at backup time"
              : "database file replaced atomically",
        });
      },
    };
  }
  return {
    row,
    apply: async () => {
      const result = await restorePostgres(store.objects, row, entries);
      const t = result.timings;
      return operation(row, {
        outcome: result.changed ? "restored" : "unchanged",
        detail: t
          ? `${result.detail} (unavailable for ${t.swapMs.toFixed(0)} ms; old copy dropped in ${t.dropMs.toFixed(0)} ms)`
          : result.detail,
        ...(t ? { timings: t } : {}),
      });
    },
  };
}
