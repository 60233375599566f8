import { execFileSync } from "node:child_process";
import {
  chmodSync,
  chownSync,
  lchownSync,
  linkSync,
  lstatSync,
  lutimesSync,
  mkdirSync,
  renameSync,
  rmSync,
  symlinkSync,
  utimesSync,
} from "node:fs";
import { dirname, join } from "node:path";
import { syncPaths, tempNameBeside } from "../../store/durable.js";
import type { ObjectStore } from "../../store/objects.js";
import { pausePoint } from "../../util/pause-point.js";
import { runSystemCommand } from "../../util/system-command.js";
import type { Entry } from "./entry.js";
import { liftFlags, putFlags } from "./flags.js";
import { PathStats } from "./path-stats.js";
import { type RestorePlan, sameMetadata } from "./restore-plan.js";
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
 * restore, run again, finishes. Synchronous calls, as in the walk: many tiny operations.
 */
export async function applyRestore(
  objects: ObjectStore,
  plan: RestorePlan,
): Promise<RestoreCounts> {
  const counts: RestoreCounts = { removed: 0, written: 0, metadata: 0, warnings: [] };
  // The root's parents exist and are real directories: restoreTarget made and checked them.
  const at = (rel: string) => (rel === "" ? plan.root : join(plan.root, rel));
  // An immutable or append-only path can be neither changed nor removed, nor can an immutable
  // directory's entries: lift every flag first, when anything at all is to change (extended
  // attributes too); the recorded ones are put back at the end.
  const lifted =
    plan.flagged.length > 0 &&
    (plan.actions.length > 0 ||
      plan.flagChanges.length > 0 ||
      (await attributeChanges(plan)).length > 0);
  if (lifted) await liftFlags(plan.flagged);
  // What must reach the disk before the restore is called done: each changed path and each
  // directory that gained or lost a name (syncPaths opens only regular files and directories).
  const toSync = new Set<string>();
  const changed = (path: string) => {
    toSync.add(path);
    toSync.add(dirname(path));
  };
  for (const action of plan.actions) {
    switch (action.op) {
      case "remove": {
        const path = action.bytes ?? at(action.rel);
        rmSync(path, { recursive: true, force: true });
        toSync.add(dirname(at(action.rel)));
        counts.removed++;
        break;
      }
      case "write": {
        const { entry } = action;
        // A hard link of an earlier entry (already right: it sorts first) is linked to it again.
        const linkTo =
          entry.kind === "file" && entry.target !== null ? at(entry.target) : undefined;
        await writeEntry(objects, entry, at(entry.rel), counts, linkTo);
        changed(at(entry.rel));
        counts.written++;
        pausePoint("restore:write");
        break;
      }
      case "metadata":
        setMetadata(action.entry, at(action.entry.rel));
        changed(at(action.entry.rel));
        counts.metadata++;
        break;
    }
  }
  // Writing into a directory moves its mtime, so directories are finished last, deepest first.
  for (const dir of [...plan.directories].reverse()) {
    const path = at(dir.rel);
    if (!sameMetadata(dir, new PathStats(lstatSync(path, { bigint: true })))) {
      setMetadata(dir, path);
      toSync.add(path);
    }
  }
  // Extended attributes, ACLs and capabilities after: a write or a chown clears a capability,
  // and a file written anew has none, so they are compared only now. setxattr moves no mtime,
  // so the directories' restored mtimes stand.
  const changes = await attributeChanges(plan);
  if (changes.length) await writeXattrs(changes);
  counts.metadata += changes.length;
  // The flags last: nothing can be changed on an immutable path once they are back.
  if (lifted || plan.actions.length > 0 || changes.length > 0 || plan.flagChanges.length > 0) {
    const wanted = new Map(
      plan.entries.flatMap((e) => (e.flags ? [[at(e.rel), e.flags] as const] : [])),
    );
    if (wanted.size) await putFlags(wanted);
    counts.metadata += plan.flagChanges.length;
    for (const change of changes) toSync.add(change.path);
    for (const path of wanted.keys()) toSync.add(path);
    await syncPaths(toSync, dirname(plan.root));
  }
  return counts;
}

async function writeEntry(
  objects: ObjectStore,
  entry: Entry,
  path: string,
  counts: RestoreCounts,
  linkTo?: string,
): Promise<void> {
  switch (entry.kind) {
    case "dir":
      mkdirSync(path, { mode: 0o700 });
      // Owner and mode are set once its contents are in place (see the end of applyRestore).
      return;
    case "file":
    case "symlink":
    case "fifo":
    case "char":
    case "block": {
      const temp = tempNameBeside(path);
      try {
        if (!(linkTo && tryLink(linkTo, temp))) await createAt(objects, entry, temp);
        setMetadata(entry, temp);
        renameSync(temp, path);
      } catch (error) {
        rmSync(temp, { force: true });
        throw error;
      }
      return;
    }
    case "socket":
      counts.warnings.push(`${path}: a socket cannot be restored; its owner recreates it`);
      return;
    case "absent":
      return;
  }
}

async function createAt(objects: ObjectStore, entry: Entry, path: string): Promise<void> {
  switch (entry.kind) {
    case "file":
      if (entry.sparse) objects.copySparseTo(entry.hash!, path);
      else objects.copyTo(entry.hash!, path);
      return;
    case "symlink":
      symlinkSync(entry.target!, path);
      return;
    case "fifo":
      await runSystemCommand("mkfifo", ["-m", "600", "--", path]);
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
        path,
        type,
        String(major),
        String(minor),
      ]);
    }
  }
}

/** Put back owner, mode and mtime. Owner before mode: chown clears setuid and setgid bits. */
export function setMetadata(entry: Entry, path: string): void {
  if (entry.kind === "symlink") {
    ignoreIfNotRoot(() => lchownSync(path, entry.uid, entry.gid));
  } else {
    ignoreIfNotRoot(() => chownSync(path, entry.uid, entry.gid));
    chmodSync(path, entry.mode);
  }
  setTimes(entry, path);
}

function setTimes(entry: Entry, path: string): void {
  if (entry.mtimeNs < 0n) {
    // Node's utimes takes a negative time for "now" (an mtime before 1970 came back as today,
    // and every later restore rewrote it). touch takes the exact nanoseconds, signs included.
    const abs = -entry.mtimeNs;
    const stamp = `@-${abs / 1_000_000_000n}.${String(abs % 1_000_000_000n).padStart(9, "0")}`;
    execFileSync("touch", [...(entry.kind === "symlink" ? ["-h"] : []), "-d", stamp, "--", path]);
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
async function attributeChanges(plan: RestorePlan): Promise<XattrChange[]> {
  if (plan.entries[0]?.kind === "absent") return [];
  const read = new Set([
    ...plan.unsettled,
    ...plan.actions.flatMap((a) => (a.op === "remove" ? [] : [a.entry.rel])),
  ]);
  const live = await readXattrs(plan.root, [...read]);
  const changes: XattrChange[] = [];
  for (const entry of plan.entries) {
    if (entry.kind === "socket" || entry.kind === "absent" || !read.has(entry.rel)) continue;
    const path = entry.rel === "" ? plan.root : join(plan.root, entry.rel);
    const change = xattrChange(path, entry.xattrs, live.byRel.get(entry.rel));
    if (change) changes.push(change);
  }
  if (live.unavailable && changes.length) throw new Error(live.unavailable);
  return changes;
}

// A hard link across a mount point inside the tree cannot be made: a copy is what is left.
function tryLink(existing: string, path: string): boolean {
  try {
    linkSync(existing, path);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "EXDEV") return false;
    throw error;
  }
}
