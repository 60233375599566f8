import { isSparse, kindOf } from "./entry.js";
import { canonicalParent } from "./parents.js";
import { type PinnedTree, pinnedTreeAt, SwappedPath } from "./pinned.js";
import {
  type OrderedListing,
  planRestore,
  type RestoreAction,
  sameMicros,
} from "./restore-plan.js";
import { xattrChange } from "./xattrs.js";

/** What a read-back found: how many paths differ, and a line for each of the first ones. */
export interface Differences {
  total: number;
  /** At most MAX_LINES: a tree an update rebuilt whole would otherwise fill memory with text. */
  lines: string[];
}

const MAX_LINES = 1000;

/**
 * A restore proves itself: after it is applied, the live tree is walked afresh and compared with
 * the listing, attribute by attribute, by the same comparison that planned the restore (the same
 * merge, in walk order, holding no more than it does). What is left to do is what differs; only
 * an empty answer may be reported as restored. One line per differing path, naming what
 * differs. Sockets are left out: they cannot be restored and were warned about when backed up.
 */
export async function differencesAfterRestore(
  root: string,
  listing: OrderedListing,
  exclude: readonly string[],
  recordedOdd: readonly string[] = [],
): Promise<Differences> {
  const found: Differences = { total: 0, lines: [] };
  const say = (line: string) => {
    found.total++;
    if (found.lines.length < MAX_LINES) found.lines.push(line);
  };
  if (canonicalParent(root) === null) {
    // No parent directory: nothing is there, which is right only for a path recorded absent.
    await planRestore(root, listing, exclude, recordedOdd, (a) => {
      if (a.op === "write") say(`${root}: missing (a ${a.entry.kind} at backup time)`);
    });
    return found;
  }
  const tree = pinnedTreeAt(root);
  try {
    await planRestore(root, listing, exclude, recordedOdd, (a) => {
      const line = describe(tree, a);
      if (line !== undefined) say(line);
    });
  } finally {
    tree.close();
  }
  return found;
}

/** What one action left to do says about the tree, or nothing (sockets, directories left). */
function describe(tree: PinnedTree, action: RestoreAction): string | undefined {
  const at = (rel: string) => tree.shown(rel);
  const lstatAt = (rel: string) => {
    try {
      return tree.lstat(rel);
    } catch (error) {
      // A directory on the way was swapped: what is there is not what was restored.
      if (error instanceof SwappedPath) return undefined;
      throw error;
    }
  };
  switch (action.op) {
    case "leave":
      return undefined;
    case "remove":
      return `${at(action.rel)}: exists, but did not at backup time`;
    case "flags":
      return `${at(action.rel)}: flags ${flagText(action.have)}, expected ${flagText(action.want)}`;
    case "attributes": {
      const { entry } = action;
      if (action.unavailable)
        return `${at(entry.rel)}: extended attributes cannot be read back (${action.unavailable})`;
      const change = xattrChange(entry.rel, entry.xattrs, action.live);
      if (!change) return undefined;
      const names = [
        ...Object.keys(change.set).map((n) =>
          `${n} ${entry.xattrs?.[n] === undefined ? "" : "missing or different"}`.trim(),
        ),
        ...change.remove.map((n) => `${n} present, but not at backup time`),
      ];
      return `${at(entry.rel)}: extended attributes differ: ${names.join("; ")}`;
    }
    case "write": {
      const { entry } = action;
      if (entry.kind === "socket") return undefined;
      const path = at(entry.rel);
      const stats = lstatAt(entry.rel);
      if (!stats) return `${path}: missing (a ${entry.kind} at backup time)`;
      const kind = kindOf(stats);
      if (kind === "file" && entry.kind === "file" && entry.target !== null) {
        const primary = lstatAt(entry.target);
        if (primary?.ino !== stats.ino)
          return `${path}: not a hard link of ${at(entry.target)}, as at backup time`;
      }
      if (kind === "file" && entry.sparse && !isSparse(stats))
        return `${path}: allocated without holes, but sparse at backup time`;
      return kind === entry.kind
        ? `${path}: ${entry.kind === "symlink" ? "link target differs" : entry.kind === "file" ? "contents differ" : "device numbers differ"}`
        : `${path}: a ${kind}, but a ${entry.kind} at backup time`;
    }
    case "metadata": {
      const { entry } = action;
      if (entry.kind === "socket") return undefined;
      const path = at(entry.rel);
      const stats = lstatAt(entry.rel);
      if (!stats) return `${path}: missing (a ${entry.kind} at backup time)`;
      const differ: string[] = [];
      if (entry.uid !== stats.uid || entry.gid !== stats.gid)
        differ.push(`owner ${stats.uid}:${stats.gid}, expected ${entry.uid}:${entry.gid}`);
      if (entry.kind !== "symlink" && entry.mode !== (stats.mode & 0o7777))
        differ.push(
          `mode ${(stats.mode & 0o7777).toString(8).padStart(4, "0")}, expected ${entry.mode.toString(8).padStart(4, "0")}`,
        );
      if (!sameMicros(entry.mtimeNs, stats.mtimeNs))
        differ.push(`mtime ${nsText(stats.mtimeNs)}, expected ${nsText(entry.mtimeNs)}`);
      return `${path}: ${differ.join("; ") || "metadata differs"}`;
    }
  }
}

function nsText(ns: bigint): string {
  return new Date(Number(ns / 1_000_000n)).toISOString();
}

/** `+i+a`, `+i`, or `none`: the immutable/append-only flags as chattr would set them. */
function flagText(flags: string): string {
  return flags ? [...flags].map((f) => `+${f}`).join("") : "none";
}
