import { lstatSync, readdirSync, realpathSync, type Stats } from "node:fs";
import { dirname, join, sep } from "node:path";
import { GlobalRollbackError } from "../errors.js";

/**
 * The store trusts only what it made (as ssh's StrictModes does for ~/.ssh). rollpoint runs as
 * root and deletes, writes and restores from what the store says; a store that someone else could
 * have planted or can still swap would turn that into their will. Refused, with exit 3:
 *
 * - a store directory that is a symlink, not a directory, not owned by the invoking user, or
 *   writable by group or others;
 * - a directory above it that is neither owned by root nor by the invoking user, or that is
 *   writable by group or others without the sticky bit (anyone could rename the store away and
 *   put their own in its place);
 * - any of the store's own entries (`tmp`, `objects`, `objects/packs`, `logs`, the catalog, the lock files, the
 *   audit log) that is a symlink or of the wrong type.
 */

const OWN_DIRECTORIES = ["tmp", "objects", "objects/packs", "logs"];
const OWN_FILES = [
  "catalog.db",
  "catalog.db-wal",
  "catalog.db-shm",
  "lock.db",
  "lock.json",
  "operations.log",
  "reserve",
];

function untrusted(store: string, why: string): never {
  throw new GlobalRollbackError("STORE_UNTRUSTED", `refusing the store ${store}: ${why}`, {
    context: { store },
  });
}

const uid = () => process.geteuid?.() ?? 0;

/** Check the directories above `store` (which may not exist yet). */
export function checkAncestors(store: string): void {
  let existing = dirname(store);
  for (;;) {
    try {
      existing = realpathSync(existing);
      break;
    } catch {
      const up = dirname(existing);
      if (up === existing) return;
      existing = up;
    }
  }
  let path = "";
  for (const part of ["", ...existing.split(sep).filter(Boolean)]) {
    path = part === "" ? "/" : `${path === "/" ? "" : path}/${part}`;
    const stats = lstatSync(path);
    if (stats.uid !== 0 && stats.uid !== uid()) {
      untrusted(
        store,
        `${path} above it is owned by uid ${stats.uid}, who could replace the store`,
      );
    }
    if ((stats.mode & 0o022) !== 0 && (stats.mode & 0o1000) === 0) {
      untrusted(
        store,
        `${path} above it is writable by group or others (mode ${octal(stats)}) without the sticky bit: anyone could swap the store; chmod go-w ${path}`,
      );
    }
  }
}

/** Check the store directory itself, when it exists. Returns whether it exists. */
export function checkStoreDirectory(store: string): boolean {
  const stats = lstatSync(store, { throwIfNoEntry: false });
  if (!stats) return false;
  if (stats.isSymbolicLink()) untrusted(store, "it is a symlink; name the real directory");
  if (!stats.isDirectory()) untrusted(store, "it is not a directory");
  if (stats.uid !== uid()) {
    untrusted(
      store,
      `it is owned by uid ${stats.uid}, not by you (uid ${uid()}); a store is used only by its owner`,
    );
  }
  if ((stats.mode & 0o022) !== 0) {
    untrusted(
      store,
      `it is writable by group or others (mode ${octal(stats)}): its contents cannot be trusted; check them, then chmod 700 ${store}`,
    );
  }
  return true;
}

/** Check the store's own entries: never a link, always the type we made them. */
export function checkStoreEntries(store: string): void {
  for (const name of [...OWN_DIRECTORIES, ...OWN_FILES]) {
    const path = join(store, name);
    const stats = lstatSync(path, { throwIfNoEntry: false });
    if (!stats) continue;
    const wanted = OWN_DIRECTORIES.includes(name) ? "directory" : "regular file";
    if (stats.isSymbolicLink()) untrusted(store, `${path} is a symlink; the store never made one`);
    if (wanted === "directory" ? !stats.isDirectory() : !stats.isFile()) {
      untrusted(store, `${path} is not a ${wanted}`);
    }
    if (stats.uid !== uid()) untrusted(store, `${path} is owned by uid ${stats.uid}, not by you`);
  }
}

/**
 * A catalog that is missing or empty while objects exist is a damaged store, not a new one:
 * recreating it would make every object look unreferenced, and `prune` would delete them all.
 */
export function checkCatalogPresent(store: string): void {
  const catalog = lstatSync(join(store, "catalog.db"), { throwIfNoEntry: false });
  if (catalog && catalog.size > 0) return;
  const objects = countObjects(join(store, "objects"));
  if (objects === 0) return;
  throw new GlobalRollbackError(
    "STORE_ERROR",
    `catalog missing or empty in ${store}: objects present (${objects} files under objects/) and nothing says what they belong to; restore ${join(store, "catalog.db")} from a copy (nothing was changed, nothing will be deleted)`,
    { context: { store } },
  );
}

function countObjects(dir: string): number {
  let n = 0;
  let shards: string[];
  try {
    shards = readdirSync(dir);
  } catch {
    return 0;
  }
  for (const shard of shards) {
    try {
      n += readdirSync(join(dir, shard)).length;
    } catch {
      // Not a shard directory.
    }
  }
  return n;
}

function octal(stats: Stats): string {
  return (stats.mode & 0o7777).toString(8).padStart(4, "0");
}
