// A member's parts: file backups of the same point (a container's volumes and compose files, a
// package's conffiles) that the member restores itself, between its own steps. And the outcome
// of such a member, restored in steps: what it did and what is not as recorded.

import { describeError, GlobalRollbackError } from "../errors.js";
import type { BackupRow } from "../store/rows.js";
import type { Store } from "../store/store.js";
import { fileMembers } from "./files/member.js";
import { operation, type PreparedRestore } from "./operation.js";
import type { RollbackOperation } from "./outcomes.js";
import type { ServiceManager } from "./services/manager.js";

export interface NamedPart {
  /** How messages name it: a path, `volume data`. */
  what: string;
  backupId: string;
}

export interface PreparedPart {
  what: string;
  prepared: PreparedRestore;
}

/**
 * Verify every part of `row` (its objects re-hashed, its restore planned). A part missing from
 * the catalog refuses the whole restore: never "restore it as empty" on the word of a missing
 * record.
 */
export async function prepareParts(
  store: Store,
  row: BackupRow,
  services: ServiceManager,
  parts: readonly NamedPart[],
): Promise<PreparedPart[]> {
  const prepared: PreparedPart[] = [];
  for (const { what, backupId } of parts) {
    const part = store.catalog.getBackup(backupId);
    if (part?.status !== "complete")
      throw new GlobalRollbackError(
        "VERIFY_FAILED",
        `backup ${row.id} (${row.source}) cannot be restored: the backup of ${what} (${backupId}) is missing from the catalog; nothing was changed`,
        { context: { backupId: row.id, path: what } },
      );
    prepared.push({ what, prepared: await fileMembers.prepareRestore(store, part, services) });
  }
  return prepared;
}

/** Apply each part in order (each proven by the files kind as it goes), noting each outcome. */
export async function applyParts(
  parts: readonly PreparedPart[],
  done: string[],
  problems: string[],
): Promise<void> {
  for (const part of parts) {
    try {
      const outcome = await part.prepared.apply();
      if (outcome.outcome === "failed") problems.push(`${part.what}: ${outcome.error?.message}`);
      else if (outcome.outcome === "restored") done.push(`restored ${part.what}`);
    } catch (error) {
      problems.push(`${part.what}: ${describeError(error)}`);
    }
  }
}

/** A member restored in steps: failed when anything is not as recorded, naming all of it. */
export function stepwiseOutcome(
  row: BackupRow,
  subject: string,
  done: readonly string[],
  problems: readonly string[],
): RollbackOperation {
  const detail = done.join("; ");
  return problems.length
    ? operation(row, {
        outcome: "failed",
        ...(detail ? { detail } : {}),
        error: {
          code: "RESTORE_FAILED",
          message: `${subject} not as recorded: ${problems.join("; ")}`,
        },
      })
    : operation(row, {
        outcome: done.length ? "restored" : "unchanged",
        ...(detail ? { detail } : {}),
      });
}
