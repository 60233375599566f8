import type { BackupRow } from "../../store/catalog.js";
import type { Store } from "../../store/store.js";
import { type BackupLabel, recordBackup } from "../record.js";
import { type ServiceManager, type UnitState, unitName } from "./manager.js";

/**
 * Record each unit's ActiveState and UnitFileState. A unit that does not exist fails the backup,
 * naming it: a rollback point must not promise to bring back what it cannot see.
 */
export async function backupServices(
  store: Store,
  manager: ServiceManager,
  names: readonly string[],
  label: BackupLabel,
): Promise<BackupRow> {
  const units = [...new Set(names.map(unitName))];
  // Packages that ship no unit still get this member (a point's plan reserves it, and the
  // rollback checks the point against the plan), so it needs a name that says why it is empty.
  const source = units.length ? units.join(" ") : "(no units)";
  return recordBackup(store, { type: "service", source }, label, async () => ({
    entries: [],
    meta: { units: await manager.states(units) },
  }));
}

/** The unit states a service backup recorded. */
export function recordedUnits(row: BackupRow): UnitState[] {
  return (row.meta.units as UnitState[] | undefined) ?? [];
}
