import { readdirSync, renameSync, rmSync, statSync, unlinkSync } from "node:fs";
import { basename, dirname } from "node:path";
import Database from "better-sqlite3";
import { describeError, GlobalRollbackError } from "../../../errors.js";
import { syncPaths } from "../../../store/durable.js";
import type { ObjectStore } from "../../../store/objects.js";
import { absentEntry, type Entry, entryFromStats, kindOf } from "../../files/entry.js";
import type { PathStats } from "../../files/path-stats.js";
import { type PinnedTree, pinnedTreeAt, SwappedPath } from "../../files/pinned.js";
import { openForSync, setMetadata } from "../../files/restore-apply.js";

/**
 * Copy a SQLite database through SQLite's online backup API into the store. The copy is
 * consistent even while other connections write (WAL or not): SQLite restarts the copy if the
 * source changes under it. The copy is integrity-checked before it is kept. A database file that
 * does not exist is recorded as absent, like a file.
 */
export async function backupSqlite(objects: ObjectStore, path: string): Promise<Entry> {
  const temp = objects.tempPath();
  let stats: PathStats | undefined;
  // Through the database's directory, opened without following links (files/pinned.ts): SQLite
  // is given the name in that open directory, so its -wal and -shm are looked up there too.
  const tree = pinnedTree(path);
  if (!tree) return absentEntry();
  try {
    stats = tree.lstat("");
    if (!stats) return absentEntry();
    if (!stats.isFile()) {
      throw new GlobalRollbackError(
        "DATABASE_FAILED",
        `SQLite database ${path} is not a regular file (a ${kindOf(stats)}): name the database file itself`,
        { context: { path } },
      );
    }
    const opened = openFds();
    const source = new Database(String(tree.at("")), { readonly: true, fileMustExist: true });
    try {
      // SQLite follows a link in the last name: the file it opened must be the one checked.
      if (!openedSince(opened, stats)) throw new SwappedPath(path, "was replaced");
      await source.backup(temp);
    } finally {
      source.close();
    }
  } catch (error) {
    // A copy that failed half-way (a full disk) leaves it and its journal in the store's tmp/.
    for (const suffix of ["", ...SIDE_FILES]) rmSync(temp + suffix, { force: true });
    throw error;
  } finally {
    tree.close();
  }
  try {
    const copy = new Database(temp, { readonly: true });
    try {
      const result = copy.pragma("integrity_check", { simple: true });
      if (result !== "ok") throw new Error(`integrity_check of the copy said: ${String(result)}`);
    } finally {
      copy.close();
    }
  } catch (error) {
    rmSync(temp, { force: true });
    throw error;
  } finally {
    // Opening a WAL-mode copy leaves empty -wal and -shm files beside it; the copy itself keeps
    // its header (WAL mode included), so the restored database is in the mode it was.
    for (const suffix of SIDE_FILES) rmSync(temp + suffix, { force: true });
  }
  const put = await objects.adoptTempFile(temp);
  return { ...entryFromStats("", stats), size: put.size, hash: put.hash };
}

/** The database's directory, pinned; undefined when it does not exist. */
function pinnedTree(path: string): PinnedTree | undefined {
  try {
    return pinnedTreeAt(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw error;
  }
}

function openFds(): Set<string> {
  return new Set(readdirSync("/proc/self/fd"));
}

/**
 * Whether SQLite opened the file `stats` describes. It opened a new descriptor, or took back one
 * it kept from an earlier connection to the same inode (a closed connection's, held for its
 * POSIX locks): either way a descriptor of this process is that file, and no descriptor opened
 * since `before` is another regular file (the one a link swapped in would lead to).
 */
function openedSince(before: Set<string>, stats: PathStats): boolean {
  let found = false;
  for (const fd of readdirSync("/proc/self/fd")) {
    const now = statSync(`/proc/self/fd/${fd}`, { bigint: true, throwIfNoEntry: false });
    if (!now?.isFile()) continue;
    if (now.dev === stats.dev && now.ino === stats.ino) found = true;
    else if (!before.has(fd)) return false;
  }
  return found;
}

const SIDE_FILES = ["-wal", "-shm", "-journal"];

/**
 * Put a database file back: the copy is written beside the target, the target's stale `-wal`,
 * `-shm` and `-journal` are removed (an old WAL replayed onto the restored file would corrupt it),
 * and the copy is renamed over the target. Owner, mode and mtime are the recorded ones.
 */
export async function restoreSqlite(
  objects: ObjectStore,
  path: string,
  entry: Entry,
): Promise<void> {
  // Through the database's directory, opened without following links (see files/pinned.ts):
  // the directory may be a service user's, who could swap a name in it for a link.
  let tree: PinnedTree | undefined;
  const name = basename(path);
  const unlink = (suffix: string) => {
    try {
      unlinkSync(tree!.at(`${name}${suffix}`));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
    }
  };
  try {
    try {
      tree = pinnedTreeAt(dirname(path));
    } catch (error) {
      // Nothing to remove where there is no directory.
      if (entry.kind === "absent" && (error as NodeJS.ErrnoException).code === "ENOENT") return;
      throw error;
    }
    if (entry.kind === "absent") {
      for (const suffix of ["", ...SIDE_FILES]) unlink(suffix);
      return;
    }
    const temp = tree.tempBeside(name);
    try {
      objects.copyTo(entry.hash!, String(tree.at(temp)));
      setMetadata(tree, temp, entry, { fresh: true });
      for (const suffix of SIDE_FILES) unlink(suffix);
      renameSync(tree.at(temp), tree.at(name));
    } catch (error) {
      rmSync(tree.at(temp), { force: true });
      throw error;
    }
    await syncPaths([name, ""], undefined, (rel) => openForSync(tree!, rel));
  } catch (error) {
    throw new GlobalRollbackError(
      "DATABASE_FAILED",
      `restore of SQLite database ${path} failed: ${describeError(error)}`,
      {
        cause: error,
        context: { path },
      },
    );
  } finally {
    tree?.close();
  }
}
