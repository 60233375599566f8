import { GlobalRollbackError } from "../../errors.js";
import type { ReadCheck } from "../../store/object-writers.js";
import {
  type ObjectStore,
  type ParallelPuts,
  type PutResult,
  SMALL_FILE,
} from "../../store/objects.js";
import { pausePoint } from "../../util/pause-point.js";
import { forEachLimited } from "../../util/pool.js";
import {
  absentEntry,
  type Entry,
  entryFromStats,
  type Listing,
  sameStatIdentity,
} from "./entry.js";
import { compileExcludes } from "./exclude.js";
import { FlagsUnavailable, readFlags } from "./flags.js";
import { hasRawBytes, readLinkAt, shownName } from "./names.js";
import type { PathStats } from "./path-stats.js";
import { type Name, pinnedTreeAt } from "./pinned.js";
import { readSteadily, relook, tornWarning } from "./steady-read.js";
import { walkLazily } from "./walk.js";
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
  entries: Entry[];
  stats: FileBackupStats;
  /** Things recorded but worth a person's attention (sockets). */
  warnings: string[];
}

// Large files stream through the thread pool; two at once keep one core hashing while the other
// file's next chunk is read, without thrashing a spinning disk.
const LARGE_FILE_CONCURRENCY = 2;
const PARALLEL_FROM = 256;

/**
 * Record `source` (a file, a tree, or nothing) into a listing, storing each regular file's
 * contents as an object. Files whose stat identity matches `previous` (see `sameStatIdentity`)
 * keep their recorded hash without being read again. In a first backup, where every file is new,
 * small files go to worker threads once there are a few hundred of them.
 */
export async function snapshotTree(
  objects: ObjectStore,
  source: string,
  exclude: readonly string[],
  previous: Listing | undefined,
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
  const walked = walkLazily(source, compileExcludes(exclude));
  if (!walked) return { entries: [absentEntry()], stats, warnings: [] };

  const before = new Map(previous?.entries.map((e) => [e.rel, e]));
  const takenAtMs = previous?.takenAtMs ?? 0;
  const warnings: string[] = [];
  const entries: Entry[] = [];
  const small: Array<{ entry: Entry; check: ReadCheck }> = [];
  const large: Array<{ entry: Entry; check: ReadCheck }> = [];
  // Files gone between the walk and their read: recorded as absent (left out of the listing).
  const gone = new Set<Entry>();
  // Files and directories whose immutable/append-only flags must be read (see flags.ts).
  const flagged: Entry[] = [];
  // Paths whose stat identity is not the previous listing's: their extended attributes are read.
  const unsettled: string[] = [];
  // Files with several names in the tree, by device and inode: restored as links, not copies.
  const linked = new Map<string, Entry[]>();
  let writers: ParallelPuts | undefined;
  let root = source;
  try {
    for (const path of walked) {
      if (path.rel === "") root = path.abs;
      const entry = entryFromStats(path.rel, path.stats);
      entries.push(entry);
      // Setting a flag or an extended attribute moves ctime: an unchanged stat identity means
      // unchanged flags and attributes.
      const old = before.get(entry.rel);
      const settled = old !== undefined && sameStatIdentity(old, path.stats, takenAtMs);
      if (settled) {
        // Equal values, held once: a repeat backup of a million paths keeps both listings.
        entry.rel = old.rel;
        entry.mtimeNs = old.mtimeNs;
        entry.ctimeNs = old.ctimeNs;
        entry.ino = old.ino;
        entry.dev = old.dev;
        if (old.flags) entry.flags = old.flags;
        if (old.xattrs) entry.xattrs = old.xattrs;
      } else {
        unsettled.push(entry.rel);
        if (entry.kind === "file" || entry.kind === "dir") flagged.push(entry);
      }
      switch (entry.kind) {
        case "file": {
          stats.files++;
          if (path.stats.nlink > 1) {
            const key = `${path.stats.dev}:${path.stats.ino}`;
            linked.set(key, [...(linked.get(key) ?? []), entry]);
          }
          stats.bytes += entry.size;
          const check: ReadCheck = { ...path.stats, path: path.abs };
          // A thread is given a path as text; a name of raw bytes is read here, as bytes.
          const threadable = !previous && !hasRawBytes(path.abs);
          if (settled && old.hash) {
            entry.hash = old.hash;
            stats.unchanged++;
          } else if (entry.size > SMALL_FILE) {
            large.push({ entry, check });
          } else if (threadable) {
            small.push({ entry, check });
            // Threads are started only once there is enough work to repay their start-up.
            if (!writers && small.length === PARALLEL_FROM) {
              writers = objects.parallelPuts();
              for (const file of small) writers.submit(file.check);
            } else if (writers) {
              writers.submit(check);
            }
          } else {
            // Through the walk's open directory: the inode the walk saw, or nothing.
            await readFile(entry, check, (at) => objects.putSmallFile(at), path.at);
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
    }
    const results = writers ? await writers.finish() : [];
    for (let i = 0; i < small.length; i++) {
      const { entry, check } = small[i]!;
      const result = results[i];
      if (result && !("retry" in result)) record(entry, result);
      // Not read by a thread (no threads, or the file was not what the walk saw): here, checked.
      else await readFile(entry, check, (at) => objects.putSmallFile(at));
      pausePoint("backup:object");
    }
  } finally {
    await writers?.close();
  }
  await forEachLimited(large, LARGE_FILE_CONCURRENCY, async ({ entry, check }) => {
    await readFile(entry, check, (at) => objects.putLargeFile(at));
    pausePoint("backup:object");
  });
  const kept = gone.size ? entries.filter((e) => !gone.has(e)) : entries;
  if (kept.length === 0) return { entries: [absentEntry()], stats, warnings };
  // The listing is in walk order (listing-codec.ts, format 4); the first name of an inode in it
  // is the one the others link to.
  for (const names of linked.values()) {
    const present = names.filter((e) => !gone.has(e) && e.kind === "file");
    for (const other of present.slice(1)) other.target = present[0]!.rel;
  }
  // Flags and extended attributes through the tree's open directories (pinned.ts): of every
  // path in a first backup; after that, of the paths whose stat identity changed only (the
  // others keep the previous listing's, which recorded them: format 2 and later).
  const tree = pinnedTreeAt(root);
  try {
    try {
      const flags = await readFlags(
        tree,
        flagged.filter((e) => !gone.has(e)).map((e) => e.rel),
      );
      for (const entry of flagged) {
        const found = flags.get(entry.rel);
        if (found) entry.flags = found;
      }
    } catch (error) {
      if (!(error instanceof FlagsUnavailable)) throw error;
      warnings.push(error.message);
    }
    const attributes = await readXattrs(
      tree,
      previous && (previous.format ?? 0) >= 2 ? unsettled : kept.map((e) => e.rel),
    );
    if (attributes.unavailable) warnings.push(attributes.unavailable);
    for (const entry of kept) {
      const found = attributes.byRel.get(entry.rel);
      if (found && Object.keys(found).length) entry.xattrs = found;
    }
  } finally {
    tree.close();
  }
  return { entries: kept, stats, warnings };

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
      const read = await readSteadily(attempt === 1 && pinned ? pinned : check.path, expect, put);
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
    if (now.sparse) entry.sparse = true;
    else delete entry.sparse;
  }

  function record(entry: Entry, put: PutResult): void {
    entry.hash = put.hash;
    // The bytes read are what is stored; a file that grew or shrank meanwhile is recorded as read.
    entry.size = put.size;
    if (put.written) {
      stats.newObjects++;
      stats.newBytes += put.size;
    }
  }
}
