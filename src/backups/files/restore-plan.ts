import { digestOf } from "../../store/entry.js";
import { type Entry, isSparse, kindOf, sameStatIdentity } from "./entry.js";
import { compileExcludes } from "./exclude.js";
import { FlagsUnavailable, readFlags } from "./flags.js";
import { hasRawBytes, readLinkAt, shownName } from "./names.js";
import type { PathStats } from "./path-stats.js";
import { type PinnedTree, pinnedTreeAt } from "./pinned.js";
import { hashChecked } from "./steady-read.js";
import { type WalkedPath, walkLazily } from "./walk.js";
import { compareWalkOrder } from "./walk-order.js";
import { readXattrs, type Xattrs, xattrChange } from "./xattrs.js";

/** An inode, as a plan saw it. */
export interface Identity {
  dev: bigint;
  ino: bigint;
}

/** One change that brings a live path back to its backed-up state, in walk order. */
export type RestoreAction =
  /** The path exists but did not at backup time, or has another type now (removed whole). */
  | { op: "remove"; rel: string }
  /** The path must be written anew from the backup (missing, another type, other contents). */
  | { op: "write"; entry: Entry }
  /** Contents are right; mode, owner or mtime are not. `live`: the inode the plan saw there. */
  | { op: "metadata"; entry: Entry; live: Identity }
  /**
   * A directory of the listing whose subtree is done with: its owner, mode and mtime are put
   * back now (writing into it moved its mtime). `live`: the inode the plan kept there, if any.
   */
  | { op: "leave"; entry: Entry; live?: Identity }
  /**
   * Its extended attributes are not the listing's: `live` is what they are (read because its
   * stat identity moved since the backup); `unavailable` when they could not be read.
   */
  | { op: "attributes"; entry: Entry; live?: Xattrs; unavailable?: string }
  /** Its immutable/append-only flags are not the listing's: `have` now, `want` recorded. */
  | { op: "flags"; rel: string; have: string; want: string };

/** What a plan found, besides the actions it gave its sink. */
export interface RestorePlan {
  root: string;
  /** Actions that change something (every one but `leave`): 0 means the tree is as recorded. */
  changes: number;
  /** Live paths (relative) with the immutable or append-only flag: lifted before any change. */
  flagged: string[];
  /** The listing's paths with flags, and which: put back last. */
  flags: Map<string, string>;
  /**
   * Backups taken before names were bytes (before 2026-12) did not record a name that is not
   * valid UTF-8 and listed it, escaped, in their `oddNames`: those found again are left as they
   * are (escaped here, as recorded).
   */
  oddKept: string[];
}

/** A listing to plan against: its entries in walk order (walk-order.ts), and when it was taken. */
export interface OrderedListing {
  entries(): Iterable<Entry>;
  takenAtMs: number;
  /** How many entries are hard links of an earlier one, when the backup recorded it. */
  hardLinks?: number;
}

/** Where a plan's actions go, one at a time: a spool for the apply, or the proof's report. */
export type RestoreSink = (action: RestoreAction) => void | Promise<void>;

// Paths whose flags or extended attributes must be read (their stat identity moved), read in
// batches of this many by one lsattr or getfattr; only these batches and the directories the
// merge is inside are held, whatever the size of the tree.
const BATCH = 2048;

interface Deferred {
  rel: string;
  entry?: Entry;
  /** Its flags must be read (a file or directory whose stat identity moved). */
  askFlags: boolean;
  /** Its attributes must be read and compared with `entry`'s. */
  askAttributes: boolean;
  /** Written anew: it has no flags until they are put back. */
  rewritten: boolean;
}

/**
 * Compare the live tree with a listing and say, action by action in walk order, what must
 * change. Reads only; changes nothing. The live walk and the listing are merged (both in walk
 * order), so what is held is the directories the merge is in and a batch of paths whose flags
 * and attributes are being read, never the tree. The walk does not go into a directory the
 * listing has no directory for (it is removed whole, however deep an update built it);
 * contents are compared as the walk goes, through its open directories (see walk.ts), so a file
 * swapped for a link or a FIFO is another kind, never read.
 */
export async function planRestore(
  root: string,
  listing: OrderedListing,
  exclude: readonly string[],
  recordedOdd: readonly string[],
  sink: RestoreSink,
): Promise<RestorePlan> {
  const { takenAtMs } = listing;
  const plan: RestorePlan = { root, changes: 0, flagged: [], flags: new Map(), oddKept: [] };
  const emit = async (action: RestoreAction) => {
    if (action.op !== "leave") plan.changes++;
    await sink(action);
  };
  // Hard links: how many names each linked inode had (by its first name), from a first pass
  // over the listing; and, as the merge goes, what each such first name is now.
  const names = new Map<string, number>();
  if (listing.hardLinks !== 0)
    for (const e of listing.entries())
      if (e.kind === "file" && e.target !== null)
        names.set(e.target, (names.get(e.target) ?? 1) + 1);
  const primaries = new Map<string, PathStats>();
  const writtenPrimaries = new Set<string>();
  const recorded = new Set(recordedOdd);

  // The listing's directories the merge is inside, innermost last.
  const open: Array<{ entry: Entry; live?: Identity }> = [];
  const leaveUntil = async (rel: string) => {
    while (open.length) {
      const top = open[open.length - 1]!.entry.rel;
      if (top === "" || rel.startsWith(`${top}/`)) break;
      const done = open.pop()!;
      await emit({ op: "leave", ...done });
    }
  };
  let deferred: Deferred[] = [];
  let tree: PinnedTree | undefined;
  let flagsUnavailable = false;

  const missing = async (entry: Entry) => {
    await leaveUntil(entry.rel);
    if (entry.kind === "absent") return;
    await emit({ op: "write", entry });
    if (names.has(entry.rel)) writtenPrimaries.add(entry.rel);
    if (entry.flags) {
      plan.flags.set(entry.rel, entry.flags);
      await emit({ op: "flags", rel: entry.rel, have: "", want: entry.flags });
    }
    if (entry.kind === "dir") open.push({ entry });
  };

  // The walk asks, right after a path, whether to go into it: only into a directory of the
  // listing that is a directory now too.
  let descendInto: string | undefined;
  const walked =
    walkLazily(root, compileExcludes(exclude), { descend: (rel) => rel === descendInto }) ?? [];
  const entries = listing.entries()[Symbol.iterator]();
  const nextEntry = () => {
    const step = entries.next();
    return step.done ? undefined : step.value;
  };
  let head = nextEntry();
  try {
    for (const w of walked) {
      while (head !== undefined && compareWalkOrder(head.rel, w.rel) < 0) {
        await missing(head);
        head = nextEntry();
      }
      let entry: Entry | undefined;
      if (head?.rel === w.rel) {
        entry = head;
        head = nextEntry();
      }
      await leaveUntil(w.rel);
      descendInto = undefined;
      if (!entry && recorded.size && hasRawBytes(w.rel) && recorded.has(shownName(w.rel))) {
        plan.oddKept.push(shownName(w.rel));
        continue;
      }
      await present(w, entry);
      if (deferred.length >= BATCH) await settle();
    }
    while (head !== undefined) {
      await missing(head);
      head = nextEntry();
    }
    // The root last of all (its own entries moved its mtime).
    while (open.length) await emit({ op: "leave", ...open.pop()! });
    await settle();
  } finally {
    tree?.close();
  }
  return plan;

  async function present(w: WalkedPath, entry: Entry | undefined): Promise<void> {
    if (names.has(w.rel)) primaries.set(w.rel, w.stats);
    const settled = entry !== undefined && sameStatIdentity(entry, w.stats, takenAtMs);
    const fileOrDir = w.stats.isFile() || w.stats.isDirectory();
    if (settled && entry.flags) plan.flagged.push(w.rel);
    const wrongKind =
      entry !== undefined && entry.kind !== "absent" && entry.kind !== kindOf(w.stats);
    if (entry === undefined || entry.kind === "absent" || wrongKind) {
      // Its flags are needed only to lift them before it goes.
      if (!settled && fileOrDir) deferred.push(only(w.rel, { askFlags: true }));
      await emit({ op: "remove", rel: w.rel });
      if (entry && wrongKind) await missing(entry);
      return;
    }
    let rewrite = false;
    if (
      !sameContents(entry, w, takenAtMs) ||
      !sameLink(entry, w.stats, primaries) ||
      // A file that had holes and now has none (a copy filled them) takes more room: rewrite it.
      (entry.sparse && !isSparse(w.stats)) ||
      // A file with more names than the backup knew of (a hard link made since, maybe to a
      // file outside the tree) is given a new inode: changing its metadata in place would
      // change the other name's too.
      (entry.kind === "file" && w.stats.nlink > (names.get(entry.target ?? entry.rel) ?? 1)) ||
      // The links of a first name written anew are made again to the new inode.
      (entry.kind === "file" && entry.target !== null && writtenPrimaries.has(entry.target))
    ) {
      rewrite = true;
      await emit({ op: "write", entry });
      if (names.has(entry.rel)) writtenPrimaries.add(entry.rel);
    } else if (!sameMetadata(entry, w.stats)) {
      await emit({ op: "metadata", entry, live: w.stats });
    }
    if (entry.flags) plan.flags.set(entry.rel, entry.flags);
    if (settled) {
      // Unchanged since the backup: its flags and attributes are the recorded ones, unless it is
      // written anew (no flags until they are put back).
      if (rewrite && entry.flags)
        await emit({ op: "flags", rel: entry.rel, have: "", want: entry.flags });
    } else {
      deferred.push({
        rel: w.rel,
        entry,
        askFlags: fileOrDir,
        askAttributes: entry.kind !== "socket",
        rewritten: rewrite,
      });
    }
    if (entry.kind === "dir") {
      open.push(rewrite ? { entry } : { entry, live: w.stats });
      if (!rewrite) descendInto = w.rel;
    }
  }

  /** Read the batch's flags and attributes; say which are not the listing's. */
  async function settle(): Promise<void> {
    const batch = deferred;
    deferred = [];
    if (batch.length === 0) return;
    tree ??= pinnedTreeAt(root);
    const live = new Map<string, string>();
    if (!flagsUnavailable) {
      try {
        for (const [rel, got] of await readFlags(
          tree,
          batch.filter((d) => d.askFlags).map((d) => d.rel),
        ))
          live.set(rel, got);
      } catch (error) {
        // Where lsattr is missing, no flags are known: a restore that meets one fails, named.
        if (!(error instanceof FlagsUnavailable)) throw error;
        flagsUnavailable = true;
      }
    }
    for (const rel of live.keys()) plan.flagged.push(rel);
    const attributes = await readXattrs(
      tree,
      batch.filter((d) => d.askAttributes).map((d) => d.rel),
    );
    for (const d of batch) {
      const { entry } = d;
      if (!entry) continue;
      if (entry.kind === "file" || entry.kind === "dir") {
        const have = d.rewritten ? "" : (live.get(d.rel) ?? "");
        const want = entry.flags ?? "";
        if (have !== want) await emit({ op: "flags", rel: d.rel, have, want });
      }
      if (!d.askAttributes) continue;
      const now = attributes.byRel.get(d.rel);
      if (xattrChange(d.rel, entry.xattrs, now))
        await emit({
          op: "attributes",
          entry,
          ...(now ? { live: now } : {}),
          ...(attributes.unavailable ? { unavailable: attributes.unavailable } : {}),
        });
    }
  }
}

function only(rel: string, ask: { askFlags: boolean }): Deferred {
  return { rel, askFlags: ask.askFlags, askAttributes: false, rewritten: false };
}

function sameContents(entry: Entry, w: WalkedPath, takenAtMs: number): boolean {
  switch (entry.kind) {
    case "file":
      if (entry.size !== w.stats.size) return false;
      // ctime cannot be set back by a user, so an unchanged stat identity means unchanged bytes.
      if (sameStatIdentity(entry, w.stats, takenAtMs)) return true;
      return hashChecked(w.at, w.stats, digestOf(entry)) === entry.hash;
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
function sameLink(entry: Entry, stats: PathStats, primaries: ReadonlyMap<string, PathStats>) {
  if (entry.kind !== "file" || entry.target === null) return true;
  const primary = primaries.get(entry.target);
  return primary !== undefined && primary.ino === stats.ino && primary.dev === stats.dev;
}
