import { discardExternal } from "../backups/databases/kind.js";
import { describeError } from "../errors.js";
import type { BackupRow } from "../store/catalog.js";
import type { Store } from "../store/store.js";
import type { CleanupOptions } from "./types.js";

export interface CleanupResult {
  removedBackups: string[];
  removedPoints: string[];
  /** Points kept only because an unfinished run may still need them. */
  heldPoints: string[];
  /** Backups kept because what they hold outside the store could not be dropped. */
  kept: Array<{ backupId: string; reason: string }>;
  removedObjects: number;
}

const DAY_MS = 24 * 60 * 60 * 1000;

/**
 * Per module, keep the newest `keepMinimum` units (a standalone backup, or a whole rollback
 * point) and remove older units past `maxAgeDays`. A rollback point is removed whole or kept
 * whole, and never while an unfinished run holds it, nor the point of each module's last
 * committed run (the last good state: `rollpoint rollback` needs it). Then reclaim unreferenced
 * objects.
 */
export async function cleanUp(store: Store, options: CleanupOptions): Promise<CleanupResult> {
  const held = store.catalog.pointsHeldByUnfinishedRuns();
  const lastGood = lastCommittedPoints(store);
  const cutoff = store.clock() - options.maxAgeDays * DAY_MS;
  const result: CleanupResult = {
    removedBackups: [],
    removedPoints: [],
    heldPoints: [],
    kept: [],
    removedObjects: 0,
  };
  for (const units of unitsByModule(store.catalog.listBackups()).values()) {
    // listBackups is newest first, so units are in order of their newest member.
    for (const members of [...units.values()].slice(options.keepMinimum)) {
      if (Math.max(...members.map((m) => m.createdAt)) >= cutoff) continue;
      const pointId = members[0]!.pointId;
      if (pointId && held.has(pointId)) {
        result.heldPoints.push(pointId);
        continue;
      }
      if (pointId && lastGood.has(pointId)) {
        result.kept.push({
          backupId: members[0]!.id,
          reason: `rollback point ${pointId} of ${members[0]!.module}'s last committed run: the state before the last good update, kept whatever the policy`,
        });
        continue;
      }
      if (!(await discardOutsideStore(members, result))) continue;
      if (pointId) {
        store.catalog.deletePoint(pointId);
        result.removedPoints.push(pointId);
      } else {
        store.catalog.deleteBackup(members[0]!.id);
      }
      result.removedBackups.push(...members.map((m) => m.id));
    }
  }
  result.removedObjects = await store.objects.collectGarbage(store.catalog.referencedHashes());
  store.log.append({
    op: "prune",
    outcome: "ok",
    detail: `removed ${result.removedBackups.length} backups, ${result.removedObjects} objects`,
  });
  return result;
}

/** Per module, the rollback point of its newest committed run (`rollpoint rollback` needs it). */
function lastCommittedPoints(store: Store): Set<string> {
  const seen = new Set<string>();
  const points = new Set<string>();
  for (const run of store.catalog.runs.list(100_000)) {
    if (run.state !== "committed" || seen.has(run.module)) continue;
    seen.add(run.module);
    if (run.pointId) points.add(run.pointId);
  }
  return points;
}

function unitsByModule(rows: BackupRow[]): Map<string, Map<string, BackupRow[]>> {
  const byModule = new Map<string, Map<string, BackupRow[]>>();
  for (const row of rows) {
    const units = byModule.get(row.module) ?? new Map<string, BackupRow[]>();
    byModule.set(row.module, units);
    const key = row.pointId ?? row.id;
    units.set(key, [...(units.get(key) ?? []), row]);
  }
  return byModule;
}

// A clone's snapshot database lives on the PostgreSQL server: drop it first, and keep the backup
// if that fails (its record is how a person finds the database later).
async function discardOutsideStore(members: BackupRow[], result: CleanupResult): Promise<boolean> {
  for (const member of members) {
    try {
      await discardExternal(member);
    } catch (error) {
      result.kept.push({ backupId: member.id, reason: describeError(error) });
      return false;
    }
  }
  return true;
}
