import { join } from "node:path";
import { describeError } from "../errors.js";
import type { BackupRow } from "../store/catalog.js";
import { digestOf } from "../store/entry.js";
import type { Store } from "../store/store.js";
import { shownName } from "./files/names.js";
import { checkExternal, kindOf } from "./members.js";
import type { RollbackOperation, VerifyProblem, VerifyReport } from "./outcomes.js";

const RECENT = 10_000;

/** Re-hash every object a backup references; names each damaged or missing path. */
export async function verifyBackupObjects(store: Store, row: BackupRow): Promise<VerifyReport> {
  const problems: VerifyProblem[] = [];
  const notes: string[] = [];
  // Results of the latest objects only: a file stored under many names is usually stored under
  // them close together, and a million hashes would be 100 MB of memory.
  let checked = new Map<string, "ok" | "missing" | "mismatch">();
  let objectsChecked = 0;
  try {
    for (const entry of store.catalog.eachEntry(row.id)) {
      if (!entry.hash) continue;
      let result = checked.get(entry.hash);
      if (result === undefined) {
        result = await store.objects.check(entry.hash, digestOf(entry));
        objectsChecked++;
        if (checked.size >= RECENT) checked = new Map();
        checked.set(entry.hash, result);
      }
      if (result !== "ok") {
        problems.push({
          backupId: row.id,
          path: entry.rel === "" ? row.source : shownName(join(row.source, entry.rel)),
          hash: entry.hash,
          problem: result,
        });
      }
    }
  } catch (error) {
    // Reported with the others: verify goes on to the next backup.
    const detail = describeError(error);
    problems.push({ backupId: row.id, path: row.source, hash: "", problem: "listing", detail });
    return { backupId: row.id, ok: false, objectsChecked: 0, problems };
  }
  // A part kept outside the store (a clone's snapshot database) must still be there.
  const external = await checkExternal(row).catch((error: unknown) => describeError(error));
  // A clone's snapshot is consumed by the rollback that restores it (swapped in for the live
  // database), and released when its run commits (the run's commit drops it): gone then is what
  // rollpoint itself did, not damage, when a finished run records that it restored this very
  // backup (not only that its rollback ran), or that it committed.
  const usedBy =
    external && row.pointId && kindOf(row).restoreConsumesExternal
      ? store.catalog.runs
          .list(100_000)
          .find(
            (r) =>
              r.finished &&
              r.pointId === row.pointId &&
              (restoredIn(r.result, row.id) || r.state === "committed"),
          )
      : undefined;
  if (usedBy) {
    notes.push(
      usedBy.state === "committed"
        ? `${row.source}: its part outside the store was released when run ${usedBy.id} committed; this backup cannot restore the database`
        : `${row.source}: its part outside the store was used by the rollback of run ${usedBy.id}; this backup cannot restore again`,
    );
  } else if (external)
    problems.push({
      backupId: row.id,
      path: row.source,
      hash: "",
      problem: "external",
      detail: external,
    });
  return {
    backupId: row.id,
    ok: problems.length === 0,
    objectsChecked,
    problems,
    ...(notes.length ? { notes } : {}),
  };
}

/** Whether a run's recorded result says its rollback restored backup `backupId`. */
function restoredIn(result: unknown, backupId: string): boolean {
  const operations = (result as { rollback?: { operations?: RollbackOperation[] } } | null)
    ?.rollback?.operations;
  return (operations ?? []).some((o) => o.backupId === backupId && o.outcome === "restored");
}
