import { join, normalize, resolve } from "node:path";
import { describeError, GlobalRollbackError } from "../../errors.js";
import type { BackupRow } from "../../store/catalog.js";
import { realLocation, storeOverlap } from "../../store/overlap.js";
import type { Store } from "../../store/store.js";
import { type BackupLabel, recordBackup } from "../record.js";
import { snapshotTree } from "./backup.js";
import { type Entry, sameEntries } from "./entry.js";
import { shownName } from "./names.js";
import { canonicalParent, parentOf, restoreTarget } from "./parents.js";
import { applyRestore, type RestoreCounts } from "./restore-apply.js";
import { planRestore, type RestorePlan } from "./restore-plan.js";
import { differencesAfterRestore } from "./restore-proof.js";

export interface FileBackupRequest extends BackupLabel {
  path: string;
  exclude: string[];
}

/**
 * Refuse a path that is the store, or holds it, or lies inside it, by name or by where it really
 * is (a symlink among the parents): a backup would chase itself, and a restore's removal pass
 * would delete the store's objects.
 */
export function checkedSourcePath(store: Store, path: string): string {
  const source = normalize(resolve(path));
  if (storeOverlap(source, store.dir)) {
    throw new GlobalRollbackError(
      "INVALID_ARGUMENT",
      `cannot back up ${source}: it overlaps the store ${store.dir} (which is really at ${realLocation(store.dir)})`,
      { context: { path: source, store: store.dir } },
    );
  }
  return source;
}

/** Back up one path (see `recordBackup` for how it becomes durable and complete). */
export async function backupFiles(store: Store, request: FileBackupRequest): Promise<BackupRow> {
  const source = checkedSourcePath(store, request.path);
  return recordBackup(
    store,
    { type: "file", source, meta: { exclude: request.exclude } },
    request,
    async () => {
      const previous = store.catalog.latestListingOf(source);
      const snapshot = await snapshotTree(store.objects, source, request.exclude, previous);
      return {
        entries: snapshot.entries,
        meta: {
          exclude: request.exclude,
          // Where the parent really was: a restore refuses to write if it resolves elsewhere.
          parent: canonicalParent(source),
          absent: snapshot.entries[0]?.kind === "absent",
          stats: snapshot.stats,
          warnings: snapshot.warnings,
        },
        ...(previous && sameEntries(previous.entries, snapshot.entries)
          ? { unchangedFrom: previous }
          : {}),
      };
    },
  );
}

/** A restore that has been planned and whose objects were all verified: safe to apply. */
export interface VerifiedRestore {
  row: BackupRow;
  plan: RestorePlan;
}

/**
 * Plan the restore of a file backup and re-hash every object it will read. Touches nothing live;
 * a missing or damaged object fails here, naming the backup and the path.
 */
export async function prepareFileRestore(store: Store, row: BackupRow): Promise<VerifiedRestore> {
  const listing = store.catalog.entries(row.id);
  const exclude = (row.meta.exclude as string[] | undefined) ?? [];
  const target = restoreTarget(row.source, parentOf(row), { backupId: row.id, create: false });
  const plan = await planRestore(
    target,
    { entries: listing, takenAtMs: row.createdAt },
    exclude,
    oddNamesOf(row),
  );
  const byHash = new Map<string, Entry>();
  for (const e of listing) if (e.hash && plan.neededHashes.has(e.hash)) byHash.set(e.hash, e);
  for (const hash of plan.neededHashes) {
    const check = await store.objects.check(hash);
    if (check !== "ok") {
      const rel = byHash.get(hash)?.rel ?? "";
      const path = rel === "" ? row.source : shownName(join(row.source, rel));
      throw new GlobalRollbackError(
        "VERIFY_FAILED",
        `backup ${row.id} cannot be restored: the stored copy of ${path} is ${check === "missing" ? "missing" : "damaged (SHA-256 mismatch)"} (object ${hash}); nothing was changed`,
        { context: { backupId: row.id, path } },
      );
    }
  }
  return { row, plan };
}

export async function applyFileRestore(
  store: Store,
  restore: VerifiedRestore,
): Promise<RestoreCounts> {
  // Again, right before writing: verifying the objects may have taken a while.
  restoreTarget(restore.row.source, parentOf(restore.row), {
    backupId: restore.row.id,
    create: true,
  });
  const { row, plan } = restore;
  let counts: RestoreCounts;
  try {
    counts = await applyRestore(store.objects, plan);
  } catch (error) {
    throw new GlobalRollbackError(
      "RESTORE_FAILED",
      `restore of backup ${row.id} to ${row.source} stopped part-way: ${describeError(error)}; what it restored before that stays restored, the rest is as the update left it`,
      { cause: error, context: { backupId: row.id, path: row.source } },
    );
  }
  // The proof: read the tree back and compare it with the listing before calling it restored
  // (the plan's own, which nothing changes: a second decoded copy would double a large
  // listing's memory).
  const differences = await differencesAfterRestore(
    plan.root,
    { entries: plan.entries, takenAtMs: row.createdAt },
    (row.meta.exclude as string[] | undefined) ?? [],
    oddNamesOf(row),
  );
  if (differences.length) {
    throw new GlobalRollbackError(
      "RESTORE_FAILED",
      `restore of backup ${row.id} to ${row.source} is not exact: read back, ${differences.length} path(s) differ from the backup:\n  ${differences.slice(0, 20).join("\n  ")}${differences.length > 20 ? `\n  … and ${differences.length - 20} more` : ""}`,
      { context: { backupId: row.id, path: row.source } },
    );
  }
  // Names that were there at backup time but could not be recorded (not valid UTF-8): never
  // proven. Those still there were left as found; those gone (the update deleted them, or a
  // directory above them) cannot be put back, and the restore says so instead of "as it was".
  const recorded = oddNamesOf(row);
  const kept = new Set(plan.oddKept);
  const lost = recorded.filter((rel) => !kept.has(rel));
  const list = (rels: readonly string[]) =>
    `${rels
      .slice(0, 5)
      .map((rel) => join(row.source, rel))
      .join(", ")}${rels.length > 5 ? ", …" : ""}`;
  if (lost.length) {
    throw new GlobalRollbackError(
      "RESTORE_FAILED",
      `restore of backup ${row.id} to ${row.source} is not complete: ${lost.length} path(s) whose names are not valid UTF-8 were not backed up and are gone now, so they could not be restored: ${list(lost)}; everything else was restored and read back`,
      { context: { backupId: row.id, path: row.source } },
    );
  }
  if (recorded.length) {
    counts.unproven = `${recorded.length} path(s) under ${row.source} have names that are not valid UTF-8 and were not backed up, so they were left as found: ${list(recorded)}`;
  }
  return counts;
}

/**
 * The names a file backup taken before names were bytes could not record (not valid UTF-8),
 * escaped; a newer backup records them like any other and has none.
 */
function oddNamesOf(row: BackupRow): readonly string[] {
  return (row.meta.oddNames as string[] | undefined) ?? [];
}
