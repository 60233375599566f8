import { describeError } from "../errors.js";
import type { BackupRow } from "../store/catalog.js";
import type { Store } from "../store/store.js";
import { kindOf } from "./members.js";
import type { RestorePreview } from "./outcomes.js";
import type { ServiceManager } from "./services/manager.js";

export type { RestorePreview } from "./outcomes.js";

/**
 * The changes a restore of `rows` would make, member by member, in restore order for a point:
 * for files, every path that differs from the listing and what differs (the comparison a restore
 * proves itself with); for units, the systemctl actions; for a database, the replacement.
 */
export async function previewRestore(
  store: Store,
  services: ServiceManager,
  rows: readonly BackupRow[],
): Promise<RestorePreview[]> {
  const out: RestorePreview[] = [];
  for (const row of rows) {
    let changes: string[];
    try {
      changes = await kindOf(row).preview(store, row, services);
    } catch (error) {
      changes = [`cannot be restored now: ${describeError(error)}`];
    }
    out.push({ backupId: row.id, backupType: row.type, source: row.source, changes });
  }
  return out;
}
