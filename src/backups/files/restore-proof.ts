import type { Listing } from "./entry.js";
import { isSparse, kindOf } from "./entry.js";
import { canonicalParent } from "./parents.js";
import { type PinnedTree, pinnedTreeAt, SwappedPath } from "./pinned.js";
import { planRestore, type RestorePlan, sameMicros } from "./restore-plan.js";
import { readXattrs, xattrChange } from "./xattrs.js";

/**
 * A restore proves itself: after it is applied, the live tree is walked afresh and compared with
 * the listing, attribute by attribute, by the same comparison that planned the restore. What is
 * left to do is what differs; only an empty answer may be reported as restored. Returns one line
 * per differing path, naming what differs. Sockets are left out: they cannot be restored and
 * were warned about when backed up.
 */
export async function differencesAfterRestore(
  root: string,
  listing: Listing,
  exclude: readonly string[],
  recordedOdd: readonly string[] = [],
): Promise<string[]> {
  const again = await planRestore(root, listing, exclude, recordedOdd);
  if (canonicalParent(root) === null) {
    // No parent directory: nothing is there, which is right only for a path recorded absent.
    return again.actions.map(
      (a) => `${root}: missing (a ${a.op === "remove" ? "path" : a.entry.kind} at backup time)`,
    );
  }
  const tree = pinnedTreeAt(root);
  try {
    return await differencesIn(tree, again, listing);
  } finally {
    tree.close();
  }
}

async function differencesIn(
  tree: PinnedTree,
  again: RestorePlan,
  listing: Listing,
): Promise<string[]> {
  // Attributes of what changed since the backup (the restore's own writes included: they moved
  // ctime); a path whose stat identity is the recorded one has the recorded attributes.
  const attributes = await readXattrs(tree, again.unsettled);
  const unsettled = new Set(again.unsettled);
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
  const out: string[] = [];
  for (const action of again.actions) {
    if (action.op === "remove") {
      out.push(`${at(action.rel)}: exists, but did not at backup time`);
      continue;
    }
    const { entry } = action;
    if (entry.kind === "socket") continue;
    const path = at(entry.rel);
    const stats = lstatAt(entry.rel);
    if (!stats) {
      out.push(`${path}: missing (a ${entry.kind} at backup time)`);
      continue;
    }
    if (action.op === "write") {
      const kind = kindOf(stats);
      if (kind === "file" && entry.kind === "file" && entry.target !== null) {
        const primary = lstatAt(entry.target);
        if (primary?.ino !== stats.ino) {
          out.push(`${path}: not a hard link of ${at(entry.target)}, as at backup time`);
          continue;
        }
      }
      if (kind === "file" && entry.sparse && !isSparse(stats)) {
        out.push(`${path}: allocated without holes, but sparse at backup time`);
        continue;
      }
      out.push(
        kind === entry.kind
          ? `${path}: ${entry.kind === "symlink" ? "link target differs" : entry.kind === "file" ? "contents differ" : "device numbers differ"}`
          : `${path}: a ${kind}, but a ${entry.kind} at backup time`,
      );
      continue;
    }
    const differ: string[] = [];
    if (entry.uid !== stats.uid || entry.gid !== stats.gid)
      differ.push(`owner ${stats.uid}:${stats.gid}, expected ${entry.uid}:${entry.gid}`);
    if (entry.kind !== "symlink" && entry.mode !== (stats.mode & 0o7777))
      differ.push(
        `mode ${(stats.mode & 0o7777).toString(8).padStart(4, "0")}, expected ${entry.mode.toString(8).padStart(4, "0")}`,
      );
    if (!sameMicros(entry.mtimeNs, stats.mtimeNs))
      differ.push(`mtime ${nsText(stats.mtimeNs)}, expected ${nsText(entry.mtimeNs)}`);
    out.push(`${path}: ${differ.join("; ") || "metadata differs"}`);
  }
  for (const { rel, have, want } of again.flagChanges) {
    out.push(`${at(rel)}: flags ${flagText(have)}, expected ${flagText(want)}`);
  }
  // Extended attributes, ACLs, capabilities: what a path has now against what it had.
  for (const entry of listing.entries) {
    if (entry.kind === "socket" || entry.kind === "absent" || !unsettled.has(entry.rel)) continue;
    const change = xattrChange(entry.rel, entry.xattrs, attributes.byRel.get(entry.rel));
    if (!change) continue;
    if (attributes.unavailable) {
      out.push(
        `${at(change.rel)}: extended attributes cannot be read back (${attributes.unavailable})`,
      );
      continue;
    }
    const names = [
      ...Object.keys(change.set).map((n) =>
        `${n} ${entry.xattrs?.[n] === undefined ? "" : "missing or different"}`.trim(),
      ),
      ...change.remove.map((n) => `${n} present, but not at backup time`),
    ];
    out.push(`${at(change.rel)}: extended attributes differ: ${names.join("; ")}`);
  }
  return out;
}

function nsText(ns: bigint): string {
  return new Date(Number(ns / 1_000_000n)).toISOString();
}

/** `+i+a`, `+i`, or `none`: the immutable/append-only flags as chattr would set them. */
function flagText(flags: string): string {
  return flags ? [...flags].map((f) => `+${f}`).join("") : "none";
}
