import type { BackupRow } from "../store/catalog.js";
import type { Store } from "../store/store.js";
import type { CleanupOptions } from "./types.js";

export interface CleanupResult {
  removedBackups: string[];
  removedPoints: string[];
  /** Points kept only because an unfinished run may still need them. */
  heldPoints: string[];
  removedObjects: number;
}

const DAY_MS = 24 * 60 * 60 * 1000;

/**
 * Per module, keep the newest `keepMinimum` units (a standalone backup, or a whole rollback
 * point) and remove older units past `maxAgeDays`. A rollback point is removed whole or kept
 * whole, and never while an unfinished run holds it. Then reclaim unreferenced objects.
 */
export async function cleanUp(store: Store, options: CleanupOptions): Promise<CleanupResult> {
  const now = store.clock();
  const held = store.catalog.pointsHeldByUnfinishedRuns();
  const result: CleanupResult = {
    removedBackups: [],
    removedPoints: [],
    heldPoints: [],
    removedObjects: 0,
  };
  const byModule = new Map<string, Map<string, BackupRow[]>>();
  for (const row of store.catalog.listBackups()) {
    const units = byModule.get(row.module) ?? new Map<string, BackupRow[]>();
    byModule.set(row.module, units);
    const key = row.pointId ?? row.id;
    units.set(key, [...(units.get(key) ?? []), row]);
  }
  const cutoff = now - options.maxAgeDays * DAY_MS;
  for (const units of byModule.values()) {
    // listBackups is newest first, so units are in order of their newest member.
    [...units.values()].slice(options.keepMinimum).forEach((members) => {
      const newest = Math.max(...members.map((m) => m.createdAt));
      if (newest >= cutoff) return;
      const pointId = members[0]!.pointId;
      if (pointId && held.has(pointId)) {
        result.heldPoints.push(pointId);
        return;
      }
      if (pointId) {
        store.catalog.deletePoint(pointId);
        result.removedPoints.push(pointId);
      } else {
        store.catalog.deleteBackup(members[0]!.id);
      }
      result.removedBackups.push(...members.map((m) => m.id));
    });
  }
  result.removedObjects = await store.objects.collectGarbage(store.catalog.referencedHashes());
  store.log.append({
    op: "prune",
    outcome: "ok",
    detail: `removed ${result.removedBackups.length} backups, ${result.removedObjects} objects`,
  });
  return result;
}
