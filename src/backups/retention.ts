import { rmSync } from "node:fs";
import { join } from "node:path";
import { describeError } from "../errors.js";
import type { BackupRow } from "../store/catalog.js";
import type { RunRow } from "../store/runs.js";
import type { Store } from "../store/store.js";
import { discardExternal } from "./members.js";
import type {
  CleanupOptions,
  CleanupResult,
  RetentionDecision,
  RetentionPolicy,
} from "./outcomes.js";

export type { CleanupResult, RetentionDecision } from "./outcomes.js";

const DAY_MS = 24 * 60 * 60 * 1000;

/**
 * Per module, decide each unit by the policy: restic's rules when `options.policy` is given,
 * else keep the newest `keepMinimum` and whatever is newer than `maxAgeDays` (the same as
 * keep-last plus keep-within). A rollback point is removed whole or kept whole, and never while
 * an unfinished run holds it, nor the point of each module's last committed run (the last good
 * state: `rollpoint rollback` needs it). Then reclaim unreferenced objects. `dryRun` decides
 * and reports only.
 */
export async function cleanUp(store: Store, options: CleanupOptions): Promise<CleanupResult> {
  const held = store.catalog.pointsHeldByUnfinishedRuns();
  // Newest first, read once: the last good points and, at the end, the runs that go.
  const runs = store.catalog.runs.list(Number.MAX_SAFE_INTEGER);
  const lastGood = lastCommittedPoints(runs);
  const policy: RetentionPolicy = options.policy ?? {
    keepLast: options.keepMinimum,
    keepWithinMs: options.maxAgeDays * DAY_MS,
  };
  const dryRun = options.dryRun ?? false;
  const result: CleanupResult = {
    dryRun,
    removedBackups: [],
    removedPoints: [],
    heldPoints: [],
    kept: [],
    removedObjects: 0,
    removedRuns: [],
    decisions: [],
  };
  // Points this prune removes (or would, in a dry run).
  const removing = new Set<string>();
  for (const units of unitsByModule(store.catalog.listBackups()).values()) {
    // listBackups is newest first, so units are in order of their newest member.
    const ordered = [...units.values()];
    const reasons = keptBy(
      policy,
      ordered.map((members) => Math.max(...members.map((m) => m.createdAt))),
      store.clock(),
    );
    for (const [i, members] of ordered.entries()) {
      const pointId = members[0]!.pointId;
      const decision: RetentionDecision = {
        module: members[0]!.module,
        unit: pointId ?? members[0]!.id,
        backupIds: members.map((m) => m.id),
        createdAt: new Date(Math.max(...members.map((m) => m.createdAt))),
        action: "keep",
        reasons: reasons[i]!,
      };
      result.decisions.push(decision);
      if (decision.reasons.length) continue;
      if (pointId && held.has(pointId)) {
        decision.reasons.push("an unfinished run needs it");
        result.heldPoints.push(pointId);
        continue;
      }
      if (pointId && lastGood.has(pointId)) {
        decision.reasons.push("the rollback point of the module's last committed run");
        result.kept.push({
          backupId: members[0]!.id,
          reason: `rollback point ${pointId} of ${members[0]!.module}'s last committed run: the state before the last good update, kept whatever the policy`,
        });
        continue;
      }
      decision.action = "remove";
      if (pointId) removing.add(pointId);
      if (dryRun) continue;
      if (!(await discardOutsideStore(members, result))) {
        decision.action = "keep";
        if (pointId) removing.delete(pointId);
        decision.reasons.push("what it holds outside the store could not be dropped");
        continue;
      }
      if (pointId) {
        store.catalog.deletePoint(pointId);
        result.removedPoints.push(pointId);
      } else {
        store.catalog.deleteBackup(members[0]!.id);
      }
      result.removedBackups.push(...members.map((m) => m.id));
    }
  }
  // Runs go with their points, and their logs with them: the store is bounded by the policy.
  const orphaned = runs.filter(
    (r) =>
      r.finished &&
      r.pointId !== null &&
      (removing.has(r.pointId) || !store.catalog.getPoint(r.pointId)),
  );
  result.removedRuns = orphaned.map((r) => r.id);
  if (dryRun) return result;
  for (const run of orphaned) {
    store.catalog.runs.delete(run.id);
    rmSync(join(store.dir, "logs", `${run.id}.log`), { force: true });
  }
  result.removedObjects = await store.objects.collectGarbage(store.catalog.referencedHashes());
  store.log.append({
    op: "prune",
    outcome: "ok",
    detail: `removed ${result.removedBackups.length} backups, ${result.removedObjects} objects, ${result.removedRuns.length} runs`,
  });
  return result;
}

/**
 * For units created at `times` (newest first), the rules that keep each, as restic reads them:
 * keep-last n keeps the n newest; keep-daily n the newest of each of the n most recent days that
 * have a unit (likewise weeks and months, in local time); keep-within the units newer than it.
 */
export function keptBy(policy: RetentionPolicy, times: readonly number[], now: number): string[][] {
  const reasons = times.map((): string[] => []);
  times.forEach((t, i) => {
    if (policy.keepLast !== undefined && i < policy.keepLast) reasons[i]!.push("keep-last");
    if (policy.keepWithinMs !== undefined && t >= now - policy.keepWithinMs)
      reasons[i]!.push("keep-within");
  });
  const buckets: Array<[string, number | undefined, (t: number) => string]> = [
    ["keep-daily", policy.keepDaily, (t) => localDay(t)],
    ["keep-weekly", policy.keepWeekly, (t) => isoWeek(t)],
    ["keep-monthly", policy.keepMonthly, (t) => localDay(t).slice(0, 7)],
  ];
  for (const [rule, count, bucketOf] of buckets) {
    if (!count) continue;
    const seen = new Set<string>();
    times.forEach((t, i) => {
      const bucket = bucketOf(t);
      if (seen.has(bucket) || seen.size >= count) return;
      seen.add(bucket);
      reasons[i]!.push(`${rule} ${bucket}`);
    });
  }
  return reasons;
}

function localDay(t: number): string {
  const d = new Date(t);
  return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, "0")}-${String(d.getDate()).padStart(2, "0")}`;
}

/** ISO 8601 week, `2026-W48`, of the local date. */
function isoWeek(t: number): string {
  const d = new Date(t);
  const date = new Date(Date.UTC(d.getFullYear(), d.getMonth(), d.getDate()));
  const weekday = date.getUTCDay() || 7;
  date.setUTCDate(date.getUTCDate() + 4 - weekday);
  const yearStart = Date.UTC(date.getUTCFullYear(), 0, 1);
  const week = Math.ceil(((date.getTime() - yearStart) / DAY_MS + 1) / 7);
  return `${date.getUTCFullYear()}-W${String(week).padStart(2, "0")}`;
}

/** Per module, the rollback point of its newest committed run (`rollpoint rollback` needs it). */
function lastCommittedPoints(runs: readonly RunRow[]): Set<string> {
  const seen = new Set<string>();
  const points = new Set<string>();
  for (const run of runs) {
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
