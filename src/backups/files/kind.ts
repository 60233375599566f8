import { join, normalize, resolve } from "node:path";
import { describeError, GlobalRollbackError } from "../../errors.js";
import type { BackupRow } from "../../store/catalog.js";
import { digestOf } from "../../store/entry.js";
import { realLocation, storeOverlap } from "../../store/overlap.js";
import type { Store } from "../../store/store.js";
import { type BackupLabel, recordBackup } from "../record.js";
import { ActionSpool } from "./action-spool.js";
import { snapshotTree } from "./backup.js";
import { shownName } from "./names.js";
import { canonicalParent, parentOf, restoreTarget } from "./parents.js";
import { applyRestore, type RestoreCounts } from "./restore-apply.js";
import { type OrderedListing, planRestore, type RestorePlan } from "./restore-plan.js";
import { differencesAfterRestore } from "./restore-proof.js";
import { inWalkOrder } from "./walk-order.js";

export interface FileBackupRequest extends BackupLabel {
  path: string;
  exclude: string[];
  /** Stops the walk between windows (a run interrupted while its point is taken). */
  signal?: AbortSignal;
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
    async (id) => {
      const previous = store.catalog.latestListingOf(source);
      const snapshot = await snapshotTree(
        store.objects,
        source,
        request.exclude,
        previous,
        store.catalog.listingWriter(id),
        request.signal,
      );
      return {
        // Equal listings encode to equal bytes: one equal to the latest is stored already.
        listing: snapshot.listing.sha === previous?.sha ? { sha: previous.sha } : snapshot.listing,
        meta: {
          exclude: request.exclude,
          // Where the parent really was: a restore refuses to write if it resolves elsewhere.
          parent: canonicalParent(source),
          absent: snapshot.absent,
          hardLinks: snapshot.hardLinks,
          stats: snapshot.stats,
          warnings: snapshot.warnings,
        },
      };
    },
  );
}

/** A restore that has been planned and whose objects were all verified: safe to apply. */
export interface VerifiedRestore {
  row: BackupRow;
  plan: RestorePlan;
  /** The plan's actions, in order; closed once applied. */
  actions: ActionSpool;
}

/** A file backup's listing in walk order, read one entry at a time (walk-order.ts). */
export function orderedListing(store: Store, row: BackupRow): OrderedListing {
  const hardLinks = row.meta.hardLinks;
  return {
    entries: inWalkOrder(store.catalog.storedListing(row.id)),
    takenAtMs: row.createdAt,
    // Recorded since 2026-12; an older backup's listing is read once more to count them.
    ...(typeof hardLinks === "number" ? { hardLinks } : {}),
  };
}

// Objects verified lately, so a file stored under many names is hashed once (most often);
// bounded, as everything a restore holds.
const RECENT = 10_000;

/**
 * Plan the restore of a file backup and re-hash every object it will read. Touches nothing live;
 * a missing or damaged object fails here, naming the backup and the path.
 */
export async function prepareFileRestore(store: Store, row: BackupRow): Promise<VerifiedRestore> {
  const exclude = (row.meta.exclude as string[] | undefined) ?? [];
  const target = restoreTarget(row.source, parentOf(row), { backupId: row.id, create: false });
  const actions = new ActionSpool(store.tempDir);
  let verified = new Set<string>();
  try {
    const plan = await planRestore(
      target,
      orderedListing(store, row),
      exclude,
      oddNamesOf(row),
      async (action) => {
        actions.push(action);
        if (action.op !== "write" || action.entry.kind !== "file") return;
        const { hash, rel } = action.entry;
        if (verified.has(hash!)) return;
        const check = await store.objects.check(hash!, digestOf(action.entry));
        if (check !== "ok") {
          const path = rel === "" ? row.source : shownName(join(row.source, rel));
          throw new GlobalRollbackError(
            "VERIFY_FAILED",
            `backup ${row.id} cannot be restored: the stored copy of ${path} is ${check === "missing" ? "missing" : "damaged (SHA-256 mismatch)"} (object ${hash}); nothing was changed`,
            { context: { backupId: row.id, path } },
          );
        }
        if (verified.size >= RECENT) verified = new Set();
        verified.add(hash!);
      },
    );
    return { row, plan, actions };
  } catch (error) {
    actions.close();
    throw error;
  }
}

export async function applyFileRestore(
  store: Store,
  restore: VerifiedRestore,
): Promise<RestoreCounts> {
  const { row, plan, actions } = restore;
  let counts: RestoreCounts;
  try {
    // Again, right before writing: verifying the objects may have taken a while.
    restoreTarget(row.source, parentOf(row), { backupId: row.id, create: true });
    counts = await applyRestore(store.objects, plan, actions);
  } catch (error) {
    throw new GlobalRollbackError(
      "RESTORE_FAILED",
      `restore of backup ${row.id} to ${row.source} stopped part-way: ${describeError(error)}; what it restored before that stays restored, the rest is as the update left it`,
      { cause: error, context: { backupId: row.id, path: row.source } },
    );
  } finally {
    actions.close();
  }
  // The proof: read the tree back and compare it with the listing before calling it restored.
  const differences = await differencesAfterRestore(
    plan.root,
    orderedListing(store, row),
    (row.meta.exclude as string[] | undefined) ?? [],
    oddNamesOf(row),
  );
  if (differences.total) {
    const more = differences.total - Math.min(20, differences.lines.length);
    throw new GlobalRollbackError(
      "RESTORE_FAILED",
      `restore of backup ${row.id} to ${row.source} is not exact: read back, ${differences.total} path(s) differ from the backup:\n  ${differences.lines.slice(0, 20).join("\n  ")}${more > 0 ? `\n  … and ${more} more` : ""}`,
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
