import { GlobalRollbackError } from "../../errors.js";
import type { StoredListing } from "../../store/catalog.js";
import { type EncodedListing, FrameMemo, ListingEncoder } from "../../store/listing-codec.js";
import {
  type ObjectStore,
  type ParallelPuts,
  type PutResult,
  SMALL_FILE,
} from "../../store/objects.js";
import type { ReadCheck } from "../../store/pooled-reads.js";
import { checkpoint } from "../../util/checkpoint.js";
import { pausePoint } from "../../util/pause-point.js";
import { forEachLimited } from "../../util/pool.js";
import { absentEntry, type Entry, entryFromStats, sameStatIdentity } from "./entry.js";
import { compileExcludes } from "./exclude.js";
import { FlagsUnavailable, readFlags } from "./flags.js";
import { hasRawBytes, kernelName, readLinkAt, shownName } from "./names.js";
import type { PathStats } from "./path-stats.js";
import { type Name, type PinnedTree, pinnedTreeAt } from "./pinned.js";
import { readSteadily, relook, tornWarning } from "./steady-read.js";
import { type WalkedPath, walkLazily } from "./walk.js";
import { inWalkOrder, ListingCursor } from "./walk-order.js";
import { readXattrs } from "./xattrs.js";

/**
 * Symlinks are never followed, the backed-up path included: that is right for `current ->
 * release-2.0`, but a user who named a symlinked directory may think its contents protected.
 */
export function symlinkRootWarning(path: string, target: string): string {
  return `${path} is a symlink to ${target}: only the link itself is protected; name ${target} too to protect what it points to`;
}

/** What a backup and plan say of a socket: its server makes it, a restore cannot. */
export function socketWarning(path: string): string {
  return `${path}: socket recorded, but a restore cannot recreate it`;
}

/** Counts a user can check a file backup against. */
export interface FileBackupStats {
  files: number;
  directories: number;
  symlinks: number;
  special: number;
  /** Bytes of regular files in the backup. */
  bytes: number;
  /** Objects this backup added to the store (contents not stored before). */
  newObjects: number;
  newBytes: number;
  /** Files whose hash was taken from the previous listing because stat showed no change. */
  unchanged: number;
}

export interface TreeSnapshot {
  /** The listing, encoded as the walk went (format 4, walk order). */
  listing: EncodedListing;
  /** Nothing was there: the listing is one `absent` entry. */
  absent: boolean;
  /** Entries that are hard links of an earlier one (a restore skips a pass over none). */
  hardLinks: number;
  stats: FileBackupStats;
  /** Things recorded but worth a person's attention (sockets). */
  warnings: string[];
}

// Large files stream through the thread pool; two at once keep one core hashing while the other
// file's next chunk is read, without thrashing a spinning disk.
const LARGE_FILE_CONCURRENCY = 2;
// Paths walked before their contents, flags and attributes are settled and they go into the
// listing: what a backup holds at once, whatever the size of the tree. Big enough that the
// helper programs (lsattr, getfattr) run a few thousand paths per process, as before.
const WINDOW = 4096;

function readCheck(path: WalkedPath): ReadCheck {
  // Field by field: a spread of the PathStats gave every check a hidden class of its own (a map
  // and descriptors a check, 3 MB of a first backup's two windows; heap snapshot, 2026-12-07).
  const { dev, ino, size, mtimeNs, ctimeNs } = path.stats;
  return { path: path.abs, dev, ino, size, mtimeNs, ctimeNs };
}

/** A walked path on its way into the listing. */
interface Pending {
  entry: Entry;
  /** Its stat identity is not the previous listing's: flags and attributes are read. */
  unsettled: boolean;
  /** Read on the thread pool: the check to read it again with, if the pool could not. */
  pooled?: ReadCheck;
  /** A large file, read when its window is settled. */
  large?: ReadCheck;
  /** A small file of a first backup not read on the pool, read when its window is settled. */
  small?: ReadCheck;
  /** Several names in the tree: `dev:ino`. */
  inode?: string;
}

/**
 * Record `source` (a file, a tree, or nothing) into a listing, storing each regular file's
 * contents as an object. Files whose stat identity matches `previous` (see `sameStatIdentity`)
 * keep their recorded hash without being read again. In a first backup, where every file is new,
 * small files are read on the thread pool (pooled-reads.ts) while the walk goes on.
 * Streamed: the walk is merged with the previous listing (both in walk order, walk-order.ts),
 * and every WINDOW paths are settled (contents stored, flags and attributes read) and written to
 * the listing's encoder, so memory is bounded by the window and the tree's depth, not its size.
 */
export async function snapshotTree(
  objects: ObjectStore,
  source: string,
  exclude: readonly string[],
  previous: StoredListing | undefined,
  // Where the listing goes as it is made (the catalog's frames); kept in memory if not given.
  encoder = new ListingEncoder(),
  // A run interrupted while its point is taken: checked at every window.
  signal?: AbortSignal,
): Promise<TreeSnapshot> {
  const stats: FileBackupStats = {
    files: 0,
    directories: 0,
    symlinks: 0,
    special: 0,
    bytes: 0,
    newObjects: 0,
    newBytes: 0,
    unchanged: 0,
  };
  const absent = (): TreeSnapshot => {
    encoder.add(absentEntry());
    return { listing: encoder.finish(), absent: true, hardLinks: 0, stats, warnings };
  };
  const warnings: string[] = [];
  const walked = walkLazily(source, compileExcludes(exclude), {
    readAhead: previous !== undefined,
  });
  if (!walked) return absent();

  // Only beside a previous listing: a first backup would hash every frame to find none.
  let before: ListingCursor | undefined;
  if (previous) {
    const memo = new FrameMemo();
    encoder.reuseFramesFrom(memo);
    before = new ListingCursor(inWalkOrder(previous, memo)());
  }
  const takenAtMs = previous?.takenAtMs ?? 0;
  // Extended attributes of every path in a first backup; after that, of the paths whose stat
  // identity changed only (the others keep the previous listing's: format 2 and later).
  const allAttributes = !previous || previous.format < 2;
  // Files gone between the walk and their read: left out of the listing.
  const gone = new Set<Entry>();
  // The first name of each inode with several names, in walk order: the others link to it.
  const primaries = new Map<string, string>();
  let hardLinks = 0;
  let window: Pending[] = [];
  let previousWindow: Pending[] = [];
  let reads: ParallelPuts | undefined;
  let tree: PinnedTree | undefined;
  let root = source;
  let flagsUnavailable: string | undefined;
  let attributesUnavailable: string | undefined;
  try {
    for (const path of walked) {
      if (path.rel === "") root = path.abs;
      const entry = entryFromStats(path.rel, path.stats);
      // Setting a flag or an extended attribute moves ctime: an unchanged stat identity means
      // unchanged flags and attributes.
      const old = before?.at(entry.rel);
      const settled = old !== undefined && sameStatIdentity(old, path.stats, takenAtMs);
      if (settled) {
        if (old.flags) entry.flags = old.flags;
        if (old.xattrs) entry.xattrs = old.xattrs;
      }
      const item: Pending = { entry, unsettled: !settled };
      switch (entry.kind) {
        case "file": {
          stats.files++;
          if (path.stats.nlink > 1) item.inode = `${path.stats.dev}:${path.stats.ino}`;
          stats.bytes += entry.size;
          // A check (a copy of the stat) only for a file that is read: a repeat backup reads few.
          if (settled && old.hash) {
            entry.hash = old.hash;
            if (old.sparseDigest) entry.sparseDigest = true;
            stats.unchanged++;
          } else if (entry.size > SMALL_FILE) {
            item.large = readCheck(path);
          } else if (!previous && !hasRawBytes(path.abs)) {
            // The pool is given a path as text: a name of raw bytes is read below, as bytes.
            // Paused as each object is stored: the pool stores a window's before it is settled.
            reads ??= objects.parallelPuts(() => pausePoint("backup:object"));
            item.pooled = readCheck(path);
            reads.submit(item.pooled);
          } else if (!previous) {
            // A first backup reads what the pool does not take once its window is walked, as
            // the pool does: the walk is not held up by reads, nor a read by the walk.
            item.small = readCheck(path);
          } else {
            // Through the walk's open directory: the inode the walk saw, or nothing.
            await readFile(entry, readCheck(path), (at) => objects.putSmallFile(at), path.at);
            pausePoint("backup:object");
          }
          break;
        }
        case "dir":
          stats.directories++;
          break;
        case "symlink":
          stats.symlinks++;
          entry.target = readLinkAt(path.at);
          if (path.rel === "")
            warnings.push(symlinkRootWarning(shownName(path.abs), shownName(entry.target)));
          break;
        default:
          // Fifos and devices are recreated on restore (mkfifo, mknod); a socket belongs to the
          // process that listens on it and cannot be, which the user must hear about.
          stats.special++;
          if (entry.kind === "socket") {
            warnings.push(socketWarning(shownName(path.abs)));
          }
      }
      window.push(item);
      if (window.length >= WINDOW) {
        await checkpoint(signal, `reading ${shownName(source)}`);
        // The window before this one is settled while the pool reads this one's files.
        await settle(previousWindow);
        previousWindow = window;
        window = [];
      }
    }
    await settle(previousWindow);
    await settle(window);
    before?.finish();
    if (reads) {
      for (const result of await reads.finish())
        if (!("retry" in result)) throw new Error("the pooled reads returned a file twice");
    }
  } finally {
    await reads?.close();
    tree?.close();
  }
  if (flagsUnavailable) warnings.push(flagsUnavailable);
  if (attributesUnavailable) warnings.push(attributesUnavailable);
  if (encoder.count === 0) return absent();
  return { listing: encoder.finish(), absent: false, hardLinks, stats, warnings };

  /**
   * Finish the window: the pool's results taken (a file it could not read is read here),
   * large files read, flags and extended attributes read through the tree's open directories
   * (pinned.ts), hard links named, and every entry still there written to the listing.
   */
  async function settle(items: Pending[]): Promise<void> {
    if (items.length === 0) return;
    const pooled = items.filter((i) => i.pooled).length;
    if (reads && pooled) {
      const results = await reads.drain(pooled);
      let next = 0;
      for (const item of items) {
        if (!item.pooled) continue;
        const result = results[next++];
        if (result && !("retry" in result)) {
          record(item.entry, result);
          continue;
        }
        // Not read by the pool (the file was not what the walk saw): here, checked.
        await readFile(item.entry, item.pooled, (at) => objects.putSmallFile(at));
        pausePoint("backup:object");
      }
    }
    for (const { entry, small } of items) {
      if (!small) continue;
      await readFile(entry, small, (at) => objects.putSmallFile(at));
      pausePoint("backup:object");
    }
    await forEachLimited(
      items.filter((i) => i.large),
      LARGE_FILE_CONCURRENCY,
      async ({ entry, large }) => {
        await readFile(entry, large!, (at) => objects.putLargeFile(at, signal));
        pausePoint("backup:object");
      },
    );
    const present = items.filter((i) => !gone.has(i.entry));
    tree ??= pinnedTreeAt(root);
    if (flagsUnavailable === undefined) {
      try {
        const flagged = present.filter(
          (i) => i.unsettled && (i.entry.kind === "file" || i.entry.kind === "dir"),
        );
        const flags = await readFlags(
          tree,
          flagged.map((i) => i.entry.rel),
        );
        for (const { entry } of flagged) {
          const found = flags.get(entry.rel);
          if (found) entry.flags = found;
        }
      } catch (error) {
        if (!(error instanceof FlagsUnavailable)) throw error;
        flagsUnavailable = error.message;
      }
    }
    const attributes = await readXattrs(
      tree,
      present.filter((i) => allAttributes || i.unsettled).map((i) => i.entry.rel),
    );
    attributesUnavailable ??= attributes.unavailable;
    for (const { entry, inode } of present) {
      const found = attributes.byRel.get(entry.rel);
      if (found && Object.keys(found).length) entry.xattrs = found;
      if (inode !== undefined && entry.kind === "file") {
        const primary = primaries.get(inode);
        if (primary === undefined) primaries.set(inode, entry.rel);
        else {
          entry.target = primary;
          hardLinks++;
        }
      }
      encoder.add(entry);
    }
    for (const { entry } of items) gone.delete(entry);
  }

  /**
   * Store a file's bytes, read as steady-read.ts says; the entry takes the stat the bytes were
   * read under. A file gone meanwhile is recorded as absent; one replaced by another file is
   * looked up again and read once more; anything else is a failed backup, named.
   */
  async function readFile(
    entry: Entry,
    check: ReadCheck,
    put: (at: string) => PutResult | Promise<PutResult>,
    // The path through the walk's open directory, while the walk is at it; `check.path` (the
    // real path) names the file in messages and is looked up again from `/` after a change.
    pinned?: Name,
  ): Promise<void> {
    let expect: { dev: bigint; ino: bigint } = check;
    for (let attempt = 1; ; attempt++) {
      const read = await readSteadily(
        attempt === 1 && pinned ? pinned : kernelName(check.path),
        expect,
        put,
      );
      if (read.ok) {
        record(entry, read.put);
        refresh(entry, read.stats);
        if (read.torn) warnings.push(tornWarning(shownName(check.path)));
        return;
      }
      const now = read.why === "gone" ? undefined : relook(check.path);
      if (!now) {
        gone.add(entry);
        warnings.push(
          `${shownName(check.path)}: disappeared while being backed up; recorded as absent`,
        );
        return;
      }
      if (!now.stats.isFile()) {
        // Recorded as what is there now (a link, a FIFO): its bytes are never read.
        Object.assign(entry, entryFromStats(entry.rel, now.stats), { target: now.target ?? null });
        warnings.push(
          `${shownName(check.path)}: became a ${entry.kind} while being backed up; recorded as the ${entry.kind}`,
        );
        return;
      }
      if (attempt === 2) {
        throw new GlobalRollbackError(
          "BACKUP_FAILED",
          `${shownName(check.path)} was replaced by another file twice while being backed up; back up again once it is left alone`,
          { context: { path: shownName(check.path) } },
        );
      }
      expect = now.stats;
    }
  }

  function refresh(entry: Entry, read: PathStats): void {
    const now = entryFromStats(entry.rel, read);
    entry.mode = now.mode;
    entry.uid = now.uid;
    entry.gid = now.gid;
    entry.mtimeNs = now.mtimeNs;
    entry.ctimeNs = now.ctimeNs;
    entry.ino = now.ino;
    entry.dev = now.dev;
    if (now.sparse || entry.sparseDigest) entry.sparse = true;
    else delete entry.sparse;
  }

  function record(entry: Entry, put: PutResult): void {
    entry.hash = put.hash;
    if (put.sparse) entry.sparseDigest = true;
    else delete entry.sparseDigest;
    // The bytes read are what is stored; a file that grew or shrank meanwhile is recorded as read.
    entry.size = put.size;
    if (put.written) {
      stats.newObjects++;
      stats.newBytes += put.size;
    }
  }
}
