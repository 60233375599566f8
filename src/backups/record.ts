import { describeError, GlobalRollbackError } from "../errors.js";
import type { BackupRow, BackupType } from "../store/catalog.js";
import { newId } from "../store/ids.js";
import { type EncodedListing, encodeListing } from "../store/listing-codec.js";
import type { Store } from "../store/store.js";
import { pausePoint } from "../util/pause-point.js";
import type { Entry } from "./files/entry.js";

/** What every backup is filed under. */
export interface BackupLabel {
  description: string;
  moduleName: string;
  pointId?: string;
  pointSeq?: number;
}

/** What taking a backup produced: the objects it references, and what to remember about it. */
export interface Taken {
  /** Its listing: entries to encode, or encoded already (only the name of one stored already). */
  entries?: Entry[];
  listing?: EncodedListing | { sha: string };
  meta: Record<string, unknown>;
}

/**
 * The life of every backup: a `pending` row first; then the work; then what it wrote is made
 * durable (each pack and whole object fsynced once, then the packs recorded); then the listing
 * and `complete` in one transaction. On failure the row goes,
 * and so do objects nothing references (they were never synced: after a power cut one could be
 * torn and later taken for a good copy by deduplication).
 */
export async function recordBackup(
  store: Store,
  what: { type: BackupType; source: string; meta?: Record<string, unknown> },
  label: BackupLabel,
  take: (id: string) => Promise<Taken>,
): Promise<BackupRow> {
  const id = newId(what.type);
  store.catalog.insertBackup({
    id,
    type: what.type,
    module: label.moduleName,
    description: label.description,
    createdAt: store.clock(),
    source: what.source,
    pointId: label.pointId ?? null,
    pointSeq: label.pointSeq ?? null,
    meta: what.meta ?? {},
  });
  const logged = { backupId: id, moduleName: label.moduleName, path: what.source };
  try {
    const taken = await take(id);
    const listing = taken.listing ?? encodeListing(taken.entries ?? []);
    pausePoint("backup:before-sync");
    await store.objects.makeDurable();
    pausePoint("backup:before-complete");
    store.catalog.completeBackup(id, listing, taken.meta);
    store.log.append({ op: `backup-${what.type}`, outcome: "ok", ...logged });
    return store.catalog.getBackup(id)!;
  } catch (error) {
    // Objects first: when the store's disk is full (a likely cause), freeing what this backup
    // wrote is what lets the catalog write below succeed. Its listing was never stored, so its
    // objects are unreferenced unless an older backup shares them.
    await store.objects.collectGarbage(store.catalog.referencedHashes()).catch(() => 0);
    try {
      store.catalog.deleteBackup(id);
    } catch {
      // Left pending: crash cleanup at the next lock drops it. The failure reported is the first.
    }
    store.log.append({
      op: `backup-${what.type}`,
      outcome: "failed",
      ...logged,
      detail: describeError(error),
    });
    throw new GlobalRollbackError(
      "BACKUP_FAILED",
      `${what.type} backup of ${what.source} failed: ${describeError(error)}`,
      {
        cause: error,
        context: {
          backupId: id,
          ...(error instanceof GlobalRollbackError ? error.context : {}),
          path: what.source,
        },
      },
    );
  }
}
