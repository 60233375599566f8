import { readlinkSync } from "node:fs";
import { hashFileSync } from "../../store/hash.js";
import { type Entry, isSparse, kindOf, type Listing, sameStatIdentity } from "./entry.js";
import { compileExcludes } from "./exclude.js";
import { FlagsUnavailable, readFlags } from "./flags.js";
import type { PathStats } from "./path-stats.js";
import { type OddName, type WalkedPath, walkTree } from "./walk.js";

/** One change that brings a live path back to its backed-up state. */
export type RestoreAction =
  /**
   * The path exists but did not at backup time, or has another type now. `bytes`: the real path
   * of a name that is not valid UTF-8 (`rel` shows it escaped).
   */
  | { op: "remove"; rel: string; bytes?: Buffer }
  /** The path must be written anew from the backup (missing, another type, other contents). */
  | { op: "write"; entry: Entry }
  /** Contents are right; mode, owner or mtime are not. */
  | { op: "metadata"; entry: Entry };

export interface RestorePlan {
  root: string;
  /** In order: removals (top-most only), then writes and metadata, parents before children. */
  actions: RestoreAction[];
  /** Objects that writes will read: each is verified before anything is touched. */
  neededHashes: Set<string>;
  /** Directories of the backup, to have their metadata put back last (children change it). */
  directories: Entry[];
  /** The whole listing: after the writes, every entry's extended attributes are made right. */
  entries: readonly Entry[];
  /** Names not valid UTF-8 that the backup saw too: left as they are (escaped). */
  oddKept: string[];
  /** Live paths with the immutable or append-only flag: lifted before anything is changed. */
  flagged: string[];
  /** Paths of the listing whose flags are not as recorded: `have` now, `want` recorded. */
  flagChanges: Array<{ rel: string; have: string; want: string }>;
  /**
   * Live paths whose stat identity is not the recorded one (changed since the backup, or not
   * in it): only these can have other extended attributes than the listing says.
   */
  unsettled: string[];
}

/** Compare the live tree with a listing and say what must change. Reads only; changes nothing. */
export async function planRestore(
  root: string,
  { entries: listing, takenAtMs }: Listing,
  exclude: readonly string[],
  recordedOdd: readonly string[] = [],
): Promise<RestorePlan> {
  const odd: OddName[] = [];
  const walked = walkTree(root, compileExcludes(exclude), odd) ?? [];
  const wanted = new Map(listing.map((e) => [e.rel, e]));
  const live = new Map(walked.map((w) => [w.rel, w]));
  // Live paths whose stat identity is not the recorded one (changed since the backup, or not in
  // it): only their flags and extended attributes can differ from the listing's, since setting
  // either moves ctime. The others' flags are the recorded ones.
  const unsettled: WalkedPath[] = [];
  const liveFlags = new Map<string, string>();
  // Top-most paths to remove, in walk order; the set answers "is an ancestor removed?" in the
  // path's depth, not in the number of removals (an update that adds 100,000 files to existing
  // directories makes 100,000 of them).
  const removals: string[] = [];
  const removed = new Set<string>();
  const changes: RestoreAction[] = [];

  for (const w of walked) {
    const entry = wanted.get(w.rel);
    if (entry && sameStatIdentity(entry, w.stats, takenAtMs)) {
      if (entry.flags) liveFlags.set(w.rel, entry.flags);
    } else {
      unsettled.push(w);
    }
    const wrongKind =
      entry !== undefined && entry.kind !== "absent" && entry.kind !== kindOf(w.stats);
    if (
      (entry === undefined || entry.kind === "absent" || wrongKind) &&
      !underRemoved(w.rel, removed)
    ) {
      removals.push(w.rel);
      removed.add(w.rel);
    }
  }
  await readLiveFlags(unsettled, liveFlags);
  for (const entry of listing) {
    if (entry.kind === "absent") continue;
    const current = live.get(entry.rel);
    if (!current || removed.has(entry.rel) || underRemoved(entry.rel, removed)) {
      changes.push({ op: "write", entry });
    } else if (
      !sameContents(entry, current.stats, current.abs, takenAtMs) ||
      !sameLink(entry, current.stats, live) ||
      // A file that had holes and now has none (a copy filled them) takes more room: rewrite it.
      (entry.sparse && !isSparse(current.stats))
    ) {
      changes.push({ op: "write", entry });
    } else if (!sameMetadata(entry, current.stats)) {
      changes.push({ op: "metadata", entry });
    }
  }
  const neededHashes = new Set<string>();
  for (const action of changes) {
    if (action.op === "write" && action.entry.kind === "file") neededHashes.add(action.entry.hash!);
  }
  // A name that is not valid UTF-8: one the backup saw is left as it is (it could not be
  // recorded); one it did not see is the update's, and goes, by its bytes.
  const recorded = new Set(recordedOdd);
  const oddKept: string[] = [];
  const oddRemovals: RestoreAction[] = [];
  for (const o of odd) {
    if (underRemoved(o.rel, removed)) continue;
    if (recorded.has(o.rel)) oddKept.push(o.rel);
    else oddRemovals.push({ op: "remove", rel: o.rel, bytes: o.abs });
  }
  const rewritten = new Set(changes.flatMap((c) => (c.op === "write" ? [c.entry.rel] : [])));
  const flagChanges = listing.flatMap((e) => {
    if (e.kind !== "file" && e.kind !== "dir") return [];
    // A path written anew has no flags until they are put back.
    const have = rewritten.has(e.rel) ? "" : (liveFlags.get(e.rel) ?? "");
    const want = e.flags ?? "";
    return have === want ? [] : [{ rel: e.rel, have, want }];
  });
  return {
    root,
    actions: [
      ...removals.map((rel) => ({ op: "remove" as const, rel })),
      ...oddRemovals,
      ...changes,
    ],
    neededHashes,
    directories: listing.filter((e) => e.kind === "dir"),
    entries: listing,
    oddKept,
    flagged: walked.filter((w) => liveFlags.has(w.rel)).map((w) => w.abs),
    flagChanges,
    unsettled: unsettled.map((w) => w.rel),
  };
}

/**
 * The immutable/append-only flags of the unsettled live files and directories, read with lsattr,
 * into `flags`. Where lsattr is missing, none are known: a restore that meets one then fails,
 * named.
 */
async function readLiveFlags(
  unsettled: readonly WalkedPath[],
  flags: Map<string, string>,
): Promise<void> {
  const ask = unsettled.filter((w) => w.stats.isFile() || w.stats.isDirectory());
  try {
    const found = await readFlags(ask.map((w) => w.abs));
    for (const w of ask) {
      const got = found.get(w.abs);
      if (got) flags.set(w.rel, got);
    }
  } catch (error) {
    if (!(error instanceof FlagsUnavailable)) throw error;
  }
}

/** True when the root ("") or one of `rel`'s ancestors is in `removed`. */
function underRemoved(rel: string, removed: ReadonlySet<string>): boolean {
  if (removed.size === 0) return false;
  if (removed.has("")) return true;
  for (let i = rel.indexOf("/"); i !== -1; i = rel.indexOf("/", i + 1)) {
    if (removed.has(rel.slice(0, i))) return true;
  }
  return false;
}

function sameContents(entry: Entry, stats: PathStats, abs: string, takenAtMs: number): boolean {
  switch (entry.kind) {
    case "file":
      if (entry.size !== stats.size) return false;
      // ctime cannot be set back by a user, so an unchanged stat identity means unchanged bytes.
      if (sameStatIdentity(entry, stats, takenAtMs)) return true;
      return hashFileSync(abs) === entry.hash;
    case "symlink":
      return readlinkSync(abs) === entry.target;
    case "char":
    case "block":
      return entry.rdev === stats.rdev;
    default:
      return true;
  }
}

/** Mtimes are compared, and restored, to the microsecond: the precision of utimes in Node. */
export function sameMicros(a: bigint, b: bigint): boolean {
  return a / 1000n === b / 1000n;
}

export function sameMetadata(entry: Entry, stats: PathStats): boolean {
  const sameOwner = entry.uid === stats.uid && entry.gid === stats.gid;
  if (entry.kind === "symlink") return sameOwner && sameMicros(entry.mtimeNs, stats.mtimeNs);
  return (
    sameOwner && entry.mode === (stats.mode & 0o7777) && sameMicros(entry.mtimeNs, stats.mtimeNs)
  );
}

/** A file recorded as a hard link of another entry must still share that entry's inode. */
export function sameLink(
  entry: Entry,
  stats: PathStats,
  live: ReadonlyMap<string, { stats: PathStats }>,
): boolean {
  if (entry.kind !== "file" || entry.target === null) return true;
  const primary = live.get(entry.target);
  return (
    primary !== undefined && primary.stats.ino === stats.ino && primary.stats.dev === stats.dev
  );
}
