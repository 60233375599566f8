import { execFileSync } from "node:child_process";
import {
  chmodSync,
  chownSync,
  closeSync,
  constants,
  fstatSync,
  lchownSync,
  linkSync,
  lutimesSync,
  openSync,
  renameSync,
  rmSync,
  symlinkSync,
  utimesSync,
} from "node:fs";
import { dirname } from "node:path";
import { GlobalRollbackError } from "../../errors.js";
import { PathSyncer, syncPaths } from "../../store/durable.js";
import type { ObjectStore } from "../../store/objects.js";
import { O_PATH } from "../../util/o-path.js";
import { pausePoint } from "../../util/pause-point.js";
import { runSystemCommand } from "../../util/system-command.js";
import type { Entry } from "./entry.js";
import { liftFlags, putFlags } from "./flags.js";
import { kernelName } from "./names.js";
import { PathStats } from "./path-stats.js";
import {
  type Expected,
  type Name,
  type PinnedTree,
  pinnedTreeAt,
  type Rel,
  SwappedPath,
} from "./pinned.js";
import {
  type Identity,
  type RestoreAction,
  type RestorePlan,
  sameMetadata,
} from "./restore-plan.js";
import { readXattrs, writeXattrs, type XattrChange, xattrChange } from "./xattrs.js";
/** What a restore changed, for reports and the audit log. */
export interface RestoreCounts {
  removed: number;
  written: number;
  metadata: number;
  warnings: string[];
  /** What the restore could not read back and compare (see RollbackOperation.unproven). */
  unproven?: string;
}

/**
 * Carry out a verified plan. Each file is written to a temporary name in its own directory with
 * its final owner, mode and mtime, then renamed over the live path, so a reader sees the old file
 * or the restored one, never a half-written one; a crash part-way leaves a tree that the same
 * restore, run again, finishes. Every call goes through the tree's open directories and every
 * metadata change through a descriptor checked first (pinned.ts): a path a local user swapped
 * for a link, or for another file, fails by its name and nothing is done through it.
 * Synchronous calls, as in the walk: many tiny operations.
 */
export async function applyRestore(
  objects: ObjectStore,
  plan: RestorePlan,
  actions: Iterable<RestoreAction>,
): Promise<RestoreCounts> {
  // The root's parents exist and are real directories: restoreTarget made and checked them.
  const tree = pinnedTreeAt(plan.root);
  try {
    return await applyPinned(objects, plan, actions, tree);
  } finally {
    tree.close();
  }
}

// Actions applied before their paths' extended attributes are put back and the changed paths
// are synced, a batch at a time (one getfattr, one setfattr, one round of fsyncs per batch).
const BATCH = 2048;

async function applyPinned(
  objects: ObjectStore,
  plan: RestorePlan,
  actions: Iterable<RestoreAction>,
  tree: PinnedTree,
): Promise<RestoreCounts> {
  const counts: RestoreCounts = { removed: 0, written: 0, metadata: 0, warnings: [] };
  if (plan.changes === 0) return counts;
  // An immutable or append-only path can be neither changed nor removed, nor can an immutable
  // directory's entries: lift every flag first; the recorded ones are put back at the end.
  if (plan.flagged.length > 0) await liftFlags(tree, plan.flagged);
  // What must reach the disk before the restore is called done: each changed path and each
  // directory that gained or lost a name (only regular files and directories are opened).
  const toSync = new PathSyncer(dirname(plan.root), (rel) => openForSync(tree, rel));
  let parentChanged = false;
  const changed = (rel: string) => {
    toSync.add(rel);
    changedIn(rel);
  };
  // The directory that gained or lost a name; the root's own parent is synced by its path.
  const changedIn = (rel: string) => {
    if (rel === "") parentChanged = true;
    else toSync.add(parentRel(rel));
  };
  // Directories this restore made, by the inode it made, until their metadata is set.
  const made = new Map<string, Identity>();
  // Directories chowned or chmodded on the way in: compared when they are left.
  const dirAttributes = new Set<string>();
  // Paths whose extended attributes must be compared once the batch's writes are done: those
  // the plan found different, and everything written or chowned (a new file has none, or its
  // directory's default ACL; a chown clears a capability).
  let attributes: Entry[] = [];
  let applied = 0;
  for (const action of actions) {
    const rel = action.op === "remove" || action.op === "flags" ? action.rel : action.entry.rel;
    await named(tree, rel, () => applyAction(action));
    if (++applied % BATCH === 0) await settle();
  }
  await settle();
  // The flags last: nothing can be changed on an immutable path once they are back.
  if (plan.flags.size) await putFlags(tree, plan.flags);
  for (const rel of plan.flags.keys()) toSync.add(rel);
  await toSync.finish();
  if (parentChanged) await syncPaths([dirname(plan.root)]);
  return counts;

  async function applyAction(action: RestoreAction): Promise<void> {
    switch (action.op) {
      case "remove": {
        tree.removeTree(action.rel);
        changedIn(action.rel);
        counts.removed++;
        break;
      }
      case "write": {
        const { entry } = action;
        // A hard link of an earlier entry (already right: it comes first) is linked to it again.
        const linkTo = entry.kind === "file" && entry.target !== null ? entry.target : undefined;
        const dir = await writeEntry(objects, tree, entry, counts, linkTo);
        if (dir) made.set(entry.rel, dir);
        else if (entry.kind !== "socket") attributes.push(entry);
        changed(entry.rel);
        counts.written++;
        pausePoint("restore:write");
        break;
      }
      case "metadata":
        setMetadata(tree, action.entry.rel, action.entry, { identity: action.live });
        changed(action.entry.rel);
        counts.metadata++;
        // A chown clears a capability.
        if (action.entry.kind === "dir") dirAttributes.add(action.entry.rel);
        else attributes.push(action.entry);
        break;
      case "attributes":
        // Before or after its directory's own mode, as it comes: chmod sets an ACL's mask to
        // the group bits, which are the recorded mask when the mode is the recorded one.
        attributes.push(action.entry);
        break;
      case "flags":
        counts.metadata++;
        break;
      case "leave": {
        // Writing into a directory moves its mtime: it is finished once its subtree is.
        const { entry } = action;
        const identity = action.live ?? made.get(entry.rel);
        let check = made.delete(entry.rel) || dirAttributes.delete(entry.rel);
        const fd = tree.pin(entry.rel, { type: constants.S_IFDIR, identity });
        try {
          if (!sameMetadata(entry, new PathStats(fstatSync(fd, { bigint: true })))) {
            setMetadataOn(fd, entry, tree, entry.rel);
            toSync.add(entry.rel);
            check = true;
          }
        } finally {
          closeSync(fd);
        }
        if (check) attributes.push(entry);
        break;
      }
    }
  }

  /**
   * Extended attributes, ACLs and capabilities of the batch, after its writes: a write or a
   * chown clears a capability, and a file written anew has none, so they are compared only now.
   * setxattr moves no mtime, so the directories' restored mtimes stand.
   */
  async function settle(): Promise<void> {
    const batch = attributes;
    attributes = [];
    if (batch.length) {
      const live = await readXattrs(
        tree,
        batch.map((e) => e.rel),
      );
      const changes: XattrChange[] = [];
      for (const entry of batch) {
        const change = xattrChange(entry.rel, entry.xattrs, live.byRel.get(entry.rel));
        if (change) changes.push(change);
      }
      if (live.unavailable && changes.length) throw new Error(live.unavailable);
      if (changes.length) await writeXattrs(tree, changes);
      counts.metadata += changes.length;
      for (const change of changes) toSync.add(change.rel);
    }
  }
}

/**
 * Run one change of `rel`; a system call's error names the path a person knows, not the
 * descriptor path it was made through (`/proc/self/fd/…`).
 */
async function named(tree: PinnedTree, rel: string, change: () => unknown): Promise<void> {
  try {
    await change();
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (error instanceof GlobalRollbackError || typeof code !== "string") throw error;
    const what = (error as Error).message.replace(/, \w+ '\/proc\/[^']*'( -> '[^']*')?$/, "");
    throw Object.assign(new Error(`${tree.shown(rel)}: ${what}`, { cause: error }), { code });
  }
}

function parentRel(rel: string): string {
  const slash = rel.lastIndexOf("/");
  return slash < 0 ? "" : rel.slice(0, slash);
}

/** A descriptor to fsync `rel` through, if it is a regular file or a directory. */
export function openForSync(tree: PinnedTree, rel: string): number | undefined {
  let fd: number;
  try {
    fd = openSync(tree.at(rel), O_PATH | constants.O_NOFOLLOW);
  } catch (error) {
    if (error instanceof SwappedPath) return undefined;
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "ENOENT" || code === "ENOTDIR") return undefined;
    throw error;
  }
  try {
    const stats = fstatSync(fd);
    if (!stats.isFile() && !stats.isDirectory()) return undefined;
    return openSync(`/proc/self/fd/${fd}`, constants.O_RDONLY);
  } finally {
    closeSync(fd);
  }
}

const TYPE_OF: Record<string, number> = {
  file: constants.S_IFREG,
  dir: constants.S_IFDIR,
  symlink: constants.S_IFLNK,
  fifo: constants.S_IFIFO,
  char: constants.S_IFCHR,
  block: constants.S_IFBLK,
};

/**
 * Write one entry. Returns the identity of a directory it made (its metadata is set last, on
 * that inode only).
 */
async function writeEntry(
  objects: ObjectStore,
  tree: PinnedTree,
  entry: Entry,
  counts: RestoreCounts,
  linkTo?: string,
): Promise<{ dev: bigint; ino: bigint } | undefined> {
  switch (entry.kind) {
    case "dir": {
      tree.mkdir(entry.rel);
      // Owner and mode are set once its contents are in place (see the end of applyRestore), on
      // the directory made here: root's, 0700, empty, when first opened.
      const fd = tree.pin(entry.rel, { type: constants.S_IFDIR, fresh: true });
      try {
        const stats = fstatSync(fd, { bigint: true });
        return { dev: stats.dev, ino: stats.ino };
      } finally {
        closeSync(fd);
      }
    }
    case "file":
    case "symlink":
    case "fifo":
    case "char":
    case "block": {
      const temp = tree.tempBeside(entry.rel);
      let made: { dev: bigint; ino: bigint } | undefined;
      try {
        if (linkTo && tryLink(tree, linkTo, temp)) {
          // The same inode as the entry it links to, whose metadata is already the recorded one.
          made = tree.lstat(linkTo);
        } else {
          await createAt(objects, tree, entry, temp);
          made = setMetadata(tree, temp, entry, { fresh: true });
        }
        renameSync(tree.at(temp), tree.at(entry.rel));
      } catch (error) {
        rmSync(tree.at(temp), { force: true });
        throw error;
      }
      // The temporary name is in a directory others may write to: what the rename moved into
      // place must be what was made, not something put there between the check and the rename.
      const now = tree.lstat(entry.rel);
      if (!made || now?.ino !== made.ino || now.dev !== made.dev)
        throw new SwappedPath(tree.shown(entry.rel), "was replaced by another file");
      return undefined;
    }
    case "socket":
      counts.warnings.push(
        `${tree.shown(entry.rel)}: a socket cannot be restored; its owner recreates it`,
      );
      return undefined;
    case "absent":
      return undefined;
  }
}

async function createAt(
  objects: ObjectStore,
  tree: PinnedTree,
  entry: Entry,
  rel: Rel,
): Promise<void> {
  // Each call creates its name anew (O_EXCL, symlink, mknod): none follows a link there.
  switch (entry.kind) {
    case "file":
      if (entry.sparse) objects.copySparseTo(entry.hash!, String(tree.at(rel)));
      else objects.copyTo(entry.hash!, String(tree.at(rel)));
      return;
    case "symlink":
      symlinkSync(kernelName(entry.target!), tree.at(rel));
      return;
    case "fifo":
      await runSystemCommand("mkfifo", ["-m", "600", "--", tree.forChild(rel)]);
      return;
    default: {
      // Linux's dev_t encoding, as glibc's major()/minor() read it. In BigInt: JavaScript's
      // number shifts are 32-bit (`x >> 32` is `x`), which broke every major >= 16.
      const rdev = BigInt(entry.rdev);
      const major = ((rdev >> 8n) & 0xfffn) | ((rdev >> 32n) & ~0xfffn);
      const minor = (rdev & 0xffn) | ((rdev >> 12n) & ~0xffn);
      const type = entry.kind === "char" ? "c" : "b";
      await runSystemCommand("mknod", [
        "-m",
        "600",
        "--",
        tree.forChild(rel),
        type,
        String(major),
        String(minor),
      ]);
    }
  }
}

/**
 * Put back owner, mode and mtime of `rel`, on the inode `expect` says is there (a file this
 * restore just made, or the one the plan saw): opened O_PATH without following it, checked, and
 * changed through its descriptor. A symlink's own owner and times are set through its parent.
 */
export function setMetadata(
  tree: PinnedTree,
  rel: Rel,
  entry: Entry,
  expect: Omit<Expected, "type">,
): { dev: bigint; ino: bigint } {
  const fd = tree.pin(rel, { ...expect, type: TYPE_OF[entry.kind]! });
  try {
    setMetadataOn(fd, entry, tree, rel);
    const { dev, ino } = fstatSync(fd, { bigint: true });
    return { dev, ino };
  } finally {
    closeSync(fd);
  }
}

/** Owner before mode: chown clears setuid and setgid bits. */
function setMetadataOn(fd: number, entry: Entry, tree: PinnedTree, rel: Rel): void {
  const self = `/proc/self/fd/${fd}`;
  if (entry.kind === "symlink") {
    ignoreIfNotRoot(() => lchownSync(tree.at(rel), entry.uid, entry.gid));
  } else {
    ignoreIfNotRoot(() => chownSync(self, entry.uid, entry.gid));
    chmodSync(self, entry.mode);
  }
  setTimes(
    entry,
    entry.kind === "symlink" ? tree.at(rel) : self,
    entry.kind === "symlink" ? tree.forChild(rel) : `/proc/${process.pid}/fd/${fd}`,
  );
}

function setTimes(entry: Entry, path: Name, forChild: string): void {
  if (entry.mtimeNs < 0n) {
    // Node's utimes takes a negative time for "now" (an mtime before 1970 came back as today,
    // and every later restore rewrote it). touch takes the exact nanoseconds, signs included.
    const abs = -entry.mtimeNs;
    const stamp = `@-${abs / 1_000_000_000n}.${String(abs % 1_000_000_000n).padStart(9, "0")}`;
    execFileSync("touch", [
      ...(entry.kind === "symlink" ? ["-h"] : []),
      "-d",
      stamp,
      "--",
      forChild,
    ]);
    return;
  }
  // The middle of the microsecond, so that utimes' truncation to microseconds lands on it.
  const seconds = (Number(entry.mtimeNs / 1000n) + 0.5) / 1e6;
  if (entry.kind === "symlink") lutimesSync(path, seconds, seconds);
  else utimesSync(path, seconds, seconds);
}

// An unprivileged user restoring their own files cannot give them away; the rest still applies.
function ignoreIfNotRoot(change: () => void): void {
  try {
    change();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "EPERM" && process.getuid?.() !== 0) return;
    throw error;
  }
}

/**
 * Every path whose live attributes differ from its entry's (sockets and absent paths aside).
 * Only paths changed since the backup, or by this restore, are read (see readXattrs): the others
 * have the attributes the listing recorded.
 */
// A hard link across a mount point inside the tree cannot be made: a copy is what is left.
// link(2) does not follow a symlink at `existing`: a name swapped for one is linked as the link.
function tryLink(tree: PinnedTree, existing: string, rel: Rel): boolean {
  try {
    linkSync(tree.at(existing), tree.at(rel));
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "EXDEV") return false;
    throw error;
  }
}
