import { databaseKind } from "../backups/databases/kind.js";
import { parentOf, restoreTarget } from "../backups/files/parents.js";
import { differencesAfterRestore } from "../backups/files/restore-proof.js";
import { recordedUnits } from "../backups/services/kind.js";
import type { ServiceManager } from "../backups/services/manager.js";
import { actionsFor } from "../backups/services/restore.js";
import { describeError } from "../errors.js";
import type { BackupRow } from "../store/catalog.js";
import type { Store } from "../store/store.js";
import type { RestorePreview } from "./types.js";

export type { RestorePreview } from "./types.js";

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
      changes = await MEMBER_PREVIEW[row.type](store, services, row);
    } catch (error) {
      changes = [`cannot be restored now: ${describeError(error)}`];
    }
    out.push({ backupId: row.id, backupType: row.type, source: row.source, changes });
  }
  return out;
}

type Preview = (store: Store, services: ServiceManager, row: BackupRow) => Promise<string[]>;

const MEMBER_PREVIEW: Record<BackupRow["type"], Preview> = {
  file: async (store, _services, row) => {
    const target = restoreTarget(row.source, parentOf(row), { backupId: row.id, create: false });
    return differencesAfterRestore(
      target,
      { entries: store.catalog.entries(row.id), takenAtMs: row.createdAt },
      (row.meta.exclude as string[] | undefined) ?? [],
      (row.meta.oddNames as string[] | undefined) ?? [],
    );
  },
  service: async (_store, services, row) => {
    const recorded = recordedUnits(row);
    const now = await services.states(recorded.map((u) => u.unit));
    return recorded.flatMap((want, i) => {
      const actions = actionsFor(now[i]!, want);
      return actions.length
        ? [
            `${want.unit}: ${actions.join(", ")} (now ${now[i]!.activeState}/${now[i]!.unitFileState}, recorded ${want.activeState}/${want.unitFileState})`,
          ]
        : [];
    });
  },
  database: async (_store, _services, row) => {
    const kind = databaseKind(row.meta.engine);
    const problem = await kind.checkExternal(row);
    if (problem) return [`cannot be restored: ${problem}`];
    return [
      `${row.source}: would be replaced by the copy of ${new Date(row.createdAt).toISOString()} (${kind.describeBackup(row.meta)[0]?.trim() ?? "its backup"})`,
    ];
  },
};
