import { type Entry, isSparse, kindOf, type Listing, sameStatIdentity } from "./entry.js";
import { compileExcludes } from "./exclude.js";
import { FlagsUnavailable, readFlags } from "./flags.js";
import { hasRawBytes, readLinkAt, shownName } from "./names.js";
import type { PathStats } from "./path-stats.js";
import { type PinnedTree, pinnedTreeAt } from "./pinned.js";
import { hashChecked } from "./steady-read.js";
import { type WalkedPath, walkLazily } from "./walk.js";

/** One change that brings a live path back to its backed-up state. */
export type RestoreAction =
  /** The path exists but did not at backup time, or has another type now. */
  | { op: "remove"; rel: string }
  /** The path must be written anew from the backup (missing, another type, other contents). */
  | { op: "write"; entry: Entry }
  /** Contents are right; mode, owner or mtime are not. `live`: the inode the plan saw there. */
  | { op: "metadata"; entry: Entry; live: { dev: bigint; ino: bigint } };

export interface RestorePlan {
  root: string;
  /** In order: removals (top-most only), then writes and metadata, parents before children. */
  actions: RestoreAction[];
  /** Objects that writes will read: each is verified before anything is touched. */
  neededHashes: Set<string>;
  /** Directories of the backup, to have their metadata put back last (children change it). */
  directories: Entry[];
  /** The inode of each of those directories that is live and kept: only it is changed. */
  identities: ReadonlyMap<string, { dev: bigint; ino: bigint }>;
  /** The whole listing: after the writes, every entry's extended attributes are made right. */
  entries: readonly Entry[];
  /**
   * Backups taken before names were bytes (before 2026-12) did not record a name that is not
   * valid UTF-8 and listed it, escaped, in their `oddNames`: those found again are left as they
   * are (escaped here, as recorded).
   */
  oddKept: string[];
  /** Live paths (relative) with the immutable or append-only flag: lifted before any change. */
  flagged: string[];
  /** Paths of the listing whose flags are not as recorded: `have` now, `want` recorded. */
  flagChanges: Array<{ rel: string; have: string; want: string }>;
  /**
   * Live paths whose stat identity is not the recorded one (changed since the backup, or not
   * in it): only these can have other extended attributes than the listing says.
   */
  unsettled: string[];
}

/** What the plan keeps of a live path: its stat, and whether its contents are the entry's. */
interface LivePath {
  stats: PathStats;
  sameContents: boolean;
}

/**
 * Compare the live tree with a listing and say what must change. Reads only; changes nothing.
 * The walk does not go into a directory the listing has no directory for (it is removed whole,
 * however deep an update built it); contents are compared as the walk goes, through its open
 * directories (see walk.ts), so a file swapped for a link or a FIFO is another kind, never read.
 */
export async function planRestore(
  root: string,
  { entries: listing, takenAtMs }: Listing,
  exclude: readonly string[],
  recordedOdd: readonly string[] = [],
): Promise<RestorePlan> {
  const wanted = new Map(listing.map((e) => [e.rel, e]));
  const walked =
    walkLazily(root, compileExcludes(exclude), {
      descend: (rel) => wanted.get(rel)?.kind === "dir",
    }) ?? [];
  const recorded = new Set(recordedOdd);
  const oddKept: string[] = [];
  const live = new Map<string, LivePath>();
  // Live paths whose stat identity is not the recorded one (changed since the backup, or not in
  // it): only their flags and extended attributes can differ from the listing's, since setting
  // either moves ctime. The others' flags are the recorded ones.
  const unsettled: string[] = [];
  const askFlags: string[] = [];
  const liveFlags = new Map<string, string>();
  // Top-most paths to remove, in walk order; the set answers "is an ancestor removed?" in the
  // path's depth, not in the number of removals (an update that adds 100,000 files to existing
  // directories makes 100,000 of them).
  const removals: string[] = [];
  const removed = new Set<string>();
  const changes: RestoreAction[] = [];

  for (const w of walked) {
    const entry = wanted.get(w.rel);
    if (!entry && recorded.size && hasRawBytes(w.rel) && recorded.has(shownName(w.rel))) {
      oddKept.push(shownName(w.rel));
      continue;
    }
    if (entry && sameStatIdentity(entry, w.stats, takenAtMs)) {
      if (entry.flags) liveFlags.set(w.rel, entry.flags);
    } else {
      unsettled.push(w.rel);
      if (w.stats.isFile() || w.stats.isDirectory()) askFlags.push(w.rel);
    }
    const wrongKind =
      entry !== undefined && entry.kind !== "absent" && entry.kind !== kindOf(w.stats);
    if (entry === undefined || entry.kind === "absent" || wrongKind) {
      if (!underRemoved(w.rel, removed)) {
        removals.push(w.rel);
        removed.add(w.rel);
      }
      live.set(w.rel, { stats: w.stats, sameContents: false });
      continue;
    }
    live.set(w.rel, { stats: w.stats, sameContents: sameContents(entry, w, takenAtMs) });
  }
  const tree = live.size ? pinnedTreeAt(root) : undefined;
  try {
    if (tree) await readLiveFlags(tree, askFlags, liveFlags);
  } finally {
    tree?.close();
  }
  // Names each inode had in the backup, by its first name (a hard link's `target`).
  const names = new Map<string, number>();
  for (const e of listing) {
    if (e.kind === "file") names.set(e.target ?? e.rel, (names.get(e.target ?? e.rel) ?? 0) + 1);
  }
  const written = new Set<string>();
  for (const entry of listing) {
    if (entry.kind === "absent") continue;
    const current = live.get(entry.rel);
    if (!current || removed.has(entry.rel) || underRemoved(entry.rel, removed)) {
      changes.push({ op: "write", entry });
      written.add(entry.rel);
    } else if (
      !current.sameContents ||
      !sameLink(entry, current.stats, live) ||
      // A file that had holes and now has none (a copy filled them) takes more room: rewrite it.
      (entry.sparse && !isSparse(current.stats)) ||
      // A file with more names than the backup knew of (a hard link made since, maybe to a
      // file outside the tree) is given a new inode: changing its metadata in place would
      // change the other name's too.
      (entry.kind === "file" &&
        current.stats.nlink > (names.get(entry.target ?? entry.rel) ?? 1)) ||
      // The links of a first name written anew are made again to the new inode.
      (entry.kind === "file" && entry.target !== null && written.has(entry.target))
    ) {
      changes.push({ op: "write", entry });
      written.add(entry.rel);
    } else if (!sameMetadata(entry, current.stats)) {
      changes.push({ op: "metadata", entry, live: current.stats });
    }
  }
  const neededHashes = new Set<string>();
  for (const action of changes) {
    if (action.op === "write" && action.entry.kind === "file") neededHashes.add(action.entry.hash!);
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
    actions: [...removals.map((rel) => ({ op: "remove" as const, rel })), ...changes],
    neededHashes,
    directories: listing.filter((e) => e.kind === "dir"),
    identities: new Map(
      listing.flatMap((e) => {
        const current = e.kind === "dir" ? live.get(e.rel) : undefined;
        return current && !rewritten.has(e.rel) ? [[e.rel, current.stats] as const] : [];
      }),
    ),
    entries: listing,
    oddKept,
    flagged: [...liveFlags.keys()].filter((rel) => live.has(rel)),
    flagChanges,
    unsettled,
  };
}

/**
 * The immutable/append-only flags of the unsettled live files and directories, read with lsattr,
 * into `flags`. Where lsattr is missing, none are known: a restore that meets one then fails,
 * named.
 */
async function readLiveFlags(
  tree: PinnedTree,
  rels: readonly string[],
  flags: Map<string, string>,
): Promise<void> {
  try {
    for (const [rel, got] of await readFlags(tree, rels)) flags.set(rel, got);
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

function sameContents(entry: Entry, w: WalkedPath, takenAtMs: number): boolean {
  switch (entry.kind) {
    case "file":
      if (entry.size !== w.stats.size) return false;
      // ctime cannot be set back by a user, so an unchanged stat identity means unchanged bytes.
      if (sameStatIdentity(entry, w.stats, takenAtMs)) return true;
      return hashChecked(w.at, w.stats) === entry.hash;
    case "symlink":
      return readLinkAt(w.at) === entry.target;
    case "char":
    case "block":
      return entry.rdev === w.stats.rdev;
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
