import type { BigIntStats } from "node:fs";
import { lstatSync, readlinkSync } from "node:fs";
import { SmallFileWriters, type WriterResult } from "../../store/object-writers.js";
import { type ObjectStore, type PutResult, SMALL_FILE } from "../../store/objects.js";
import { pausePoint } from "../../util/pause-point.js";
import { forEachLimited } from "../../util/pool.js";
import {
  absentEntry,
  type Entry,
  entryFromFields,
  entryFromStats,
  sameStatIdentity,
} from "./entry.js";
import { compileExcludes } from "./exclude.js";
import { type LazyWalkedPath, walkTree, walkTreeLazily } from "./walk.js";

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
// Below this many new files, starting worker threads costs more than it saves.
const PARALLEL_FROM = 256;

/**
 * Record `source` (a file, a tree, or nothing) into a listing, storing each regular file's
 * contents as an object. Files whose size, mtime, ctime, inode and device match `previous` keep
 * their recorded hash without being read again. A first backup (no previous listing, so every
 * file is new) hands small files to worker threads, which stat, read, hash and store them.
 */
export async function snapshotTree(
  objects: ObjectStore,
  source: string,
  exclude: readonly string[],
  previous: readonly Entry[],
): Promise<TreeSnapshot> {
  const matcher = compileExcludes(exclude);
  const first = previous.length === 0;
  const walked = first ? walkTreeLazily(source, matcher) : walkTree(source, matcher);
  const snapshot = new Snapshot(objects, previous);
  if (!walked) return { entries: [absentEntry()], stats: snapshot.stats, warnings: [] };

  const unstated: LazyWalkedPath[] = [];
  let writers: SmallFileWriters | undefined;
  try {
    for (const path of walked) {
      if (path.stats) {
        await snapshot.add(path.rel, path.abs, path.stats);
        continue;
      }
      unstated.push(path);
      if (writers) {
        writers.submit(path.abs);
      } else if (unstated.length === PARALLEL_FROM) {
        writers = new SmallFileWriters(objects.dir, objects.tempDir);
        for (const p of unstated) writers.submit(p.abs);
      }
    }
    if (writers) {
      const results = await writers.finish();
      for (let i = 0; i < results.length; i++) await snapshot.addStored(unstated[i]!, results[i]!);
    } else {
      for (const path of unstated) await snapshot.addAfterLstat(path);
    }
  } finally {
    await writers?.close();
  }
  await snapshot.storeLargeFiles();
  return snapshot.result();
}

/** The listing being built, with its counts. */
class Snapshot {
  readonly stats: FileBackupStats = {
    files: 0,
    directories: 0,
    symlinks: 0,
    special: 0,
    bytes: 0,
    newObjects: 0,
    newBytes: 0,
    unchanged: 0,
  };
  private readonly entries: Entry[] = [];
  private readonly warnings: string[] = [];
  private readonly large: Array<{ entry: Entry; abs: string }> = [];
  private readonly before: Map<string, Entry>;
  // Two threads may both store the same new contents; it is still one new object.
  private readonly fresh = new Set<string>();

  constructor(
    private readonly objects: ObjectStore,
    previous: readonly Entry[],
  ) {
    this.before = new Map(previous.map((e) => [e.rel, e]));
  }

  async add(rel: string, abs: string, stats: BigIntStats): Promise<void> {
    const entry = entryFromStats(rel, stats);
    this.entries.push(entry);
    switch (entry.kind) {
      case "file": {
        this.countFile(entry);
        const old = this.before.get(rel);
        if (old?.hash && sameStatIdentity(old, stats)) {
          entry.hash = old.hash;
          this.stats.unchanged++;
        } else if (entry.size > SMALL_FILE) {
          this.large.push({ entry, abs });
        } else {
          this.record(entry, this.objects.putSmallFile(abs));
          await pausePoint("backup:object");
        }
        return;
      }
      case "dir":
        this.stats.directories++;
        return;
      case "symlink":
        this.stats.symlinks++;
        entry.target = readlinkSync(abs);
        return;
      default:
        // Fifos and devices are recreated on restore (mkfifo, mknod); a socket belongs to the
        // process that listens on it and cannot be, which the user must hear about.
        this.stats.special++;
        if (entry.kind === "socket") {
          this.warnings.push(`${abs}: socket recorded, but a restore cannot recreate it`);
        }
    }
  }

  /** A file the walk did not stat: look now (it may be gone, or no longer a file). */
  async addAfterLstat(path: LazyWalkedPath): Promise<void> {
    const stats = lstatSync(path.abs, { bigint: true, throwIfNoEntry: false });
    if (stats) await this.add(path.rel, path.abs, stats);
  }

  async addStored(path: LazyWalkedPath, result: WriterResult): Promise<void> {
    if (result.status === "restat") return this.addAfterLstat(path);
    const entry = entryFromFields(path.rel, "file", result.stats);
    this.entries.push(entry);
    this.countFile(entry);
    if (result.status === "large") {
      this.large.push({ entry, abs: path.abs });
      return;
    }
    const put = result.put;
    this.record(entry, this.fresh.has(put.hash) ? { ...put, written: false } : put);
    if (put.written) this.fresh.add(put.hash);
    await pausePoint("backup:object");
  }

  async storeLargeFiles(): Promise<void> {
    await forEachLimited(this.large, LARGE_FILE_CONCURRENCY, async ({ entry, abs }) => {
      this.record(entry, await this.objects.putLargeFile(abs));
      await pausePoint("backup:object");
    });
  }

  result(): TreeSnapshot {
    this.entries.sort((a, b) => (a.rel < b.rel ? -1 : a.rel > b.rel ? 1 : 0));
    return { entries: this.entries, stats: this.stats, warnings: this.warnings };
  }

  private countFile(entry: Entry): void {
    this.stats.files++;
    this.stats.bytes += entry.size;
  }

  private record(entry: Entry, put: PutResult): void {
    entry.hash = put.hash;
    // The bytes read are what is stored; a file that grew or shrank meanwhile is recorded as read.
    if (put.size !== entry.size) {
      this.stats.bytes += put.size - entry.size;
      entry.size = put.size;
    }
    if (put.written) {
      this.stats.newObjects++;
      this.stats.newBytes += put.size;
    }
  }
}
