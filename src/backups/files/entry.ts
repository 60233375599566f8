// The listing's types live with the store, which keeps listings; the functions that make and
// compare entries from the live file system live here.
import type { Entry, EntryKind, Listing } from "../../store/entry.js";
import { hasHoles } from "../../store/hash.js";
import type { PathStats } from "./path-stats.js";

export type { Entry, EntryKind, Listing };

export function kindOf(stats: PathStats): EntryKind {
  if (stats.isFile()) return "file";
  if (stats.isDirectory()) return "dir";
  if (stats.isSymbolicLink()) return "symlink";
  if (stats.isFIFO()) return "fifo";
  if (stats.isSocket()) return "socket";
  if (stats.isCharacterDevice()) return "char";
  return "block";
}

/** The stat fields a listing keeps. */
export type StatFields = Pick<
  PathStats,
  "mode" | "uid" | "gid" | "size" | "mtimeNs" | "ctimeNs" | "ino" | "dev" | "rdev"
>;

export function entryFromStats(rel: string, stats: PathStats): Entry {
  const entry = entryFromFields(rel, kindOf(stats), stats);
  if (entry.kind === "file" && isSparse(stats)) entry.sparse = true;
  return entry;
}

/** At least one whole block of the file's size is not allocated: it has holes. */
export function isSparse(stats: Pick<PathStats, "blocks" | "size">): boolean {
  return hasHoles(stats);
}

export function entryFromFields(rel: string, kind: EntryKind, stats: StatFields): Entry {
  return {
    rel,
    kind,
    mode: stats.mode & 0o7777,
    uid: stats.uid,
    gid: stats.gid,
    size: stats.size,
    mtimeNs: stats.mtimeNs,
    ctimeNs: stats.ctimeNs,
    ino: stats.ino,
    dev: stats.dev,
    rdev: stats.rdev,
    hash: null,
    target: null,
  };
}

export function absentEntry(): Entry {
  return {
    rel: "",
    kind: "absent",
    mode: 0,
    uid: 0,
    gid: 0,
    size: 0,
    mtimeNs: 0n,
    ctimeNs: 0n,
    ino: 0n,
    dev: 0n,
    rdev: 0,
    hash: null,
    target: null,
  };
}

/** A file backup's entries and when the backup was started. */

// File systems stamp times from a coarse clock (a kernel tick on ext4, 2 s on FAT), so a file
// written again within the same tick as the backup read it keeps its size, mtime and ctime. As
// git does for its index, a file whose ctime is this close to the listing's time is "racy" and
// its stat identity is not trusted: it is hashed instead.
const RACY_MARGIN_NS = 2_000_000_000n;

/**
 * True when stat proves the contents unchanged since `entry` was listed: same type, size, mtime,
 * ctime (which no user can set back), inode and device, and the file had already stopped
 * changing when the listing was taken.
 */
export function sameStatIdentity(entry: Entry, stats: PathStats, takenAtMs: number): boolean {
  return (
    entry.ctimeNs < settledBefore(takenAtMs) &&
    entry.kind === kindOf(stats) &&
    entry.size === stats.size &&
    entry.mtimeNs === stats.mtimeNs &&
    entry.ctimeNs === stats.ctimeNs &&
    entry.ino === stats.ino &&
    entry.dev === stats.dev
  );
}

// Asked once per path with the same backup time: two BigInts a path otherwise.
let cutoffFor = Number.NaN;
let cutoff = 0n;
function settledBefore(takenAtMs: number): bigint {
  if (takenAtMs !== cutoffFor) {
    cutoff = BigInt(takenAtMs) * 1_000_000n - RACY_MARGIN_NS;
    cutoffFor = takenAtMs;
  }
  return cutoff;
}

/** True when two listings (each sorted by path) record exactly the same state. */
export function sameEntries(a: readonly Entry[], b: readonly Entry[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!;
    const y = b[i]!;
    if (
      x.rel !== y.rel ||
      x.kind !== y.kind ||
      x.mode !== y.mode ||
      x.uid !== y.uid ||
      x.gid !== y.gid ||
      x.size !== y.size ||
      x.mtimeNs !== y.mtimeNs ||
      x.ctimeNs !== y.ctimeNs ||
      x.ino !== y.ino ||
      x.dev !== y.dev ||
      x.rdev !== y.rdev ||
      x.hash !== y.hash ||
      x.target !== y.target ||
      x.sparse !== y.sparse ||
      x.flags !== y.flags ||
      !sameXattrs(x.xattrs, y.xattrs)
    ) {
      return false;
    }
  }
  return true;
}

/** True when two attribute sets hold the same names and values (absent = none). */
export function sameXattrs(a?: Record<string, string>, b?: Record<string, string>): boolean {
  const x = Object.entries(a ?? {});
  if (x.length !== Object.keys(b ?? {}).length) return false;
  return x.every(([name, value]) => b?.[name] === value);
}
