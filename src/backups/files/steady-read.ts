import { closeSync, constants, fstatSync, lstatSync, openSync } from "node:fs";
import { basename, dirname } from "node:path";
import { type Digest, hashFileSync } from "../../store/hash.js";
import { O_PATH } from "../../util/o-path.js";
import { readLinkAt } from "./names.js";
import { PathStats } from "./path-stats.js";
import { type Name, nameIn, openComponents } from "./pinned.js";

/**
 * Reading a file's bytes for a backup. The walk saw an inode at a path; the bytes stored must be
 * that inode's, read whole while it did not change:
 * - the path is opened O_PATH|O_NOFOLLOW (no FIFO wait, no device opened, no link followed) and
 *   checked on the descriptor to be a regular file and the walk's inode: a parent directory
 *   swapped for a link since the walk leads to another inode, and is never read (the store
 *   reads `/proc/self/fd/<fd>`, that inode, whatever its path is by then);
 * - its size, mtime and ctime are compared before and after the read: a file written meanwhile
 *   is read again, a bounded number of times, then kept with a warning (never silently torn).
 */

const ATTEMPTS = 3;

export type SteadyRead<T> =
  | { ok: true; put: T; stats: PathStats; torn: boolean }
  /** `gone`: nothing is at the path now; `replaced`: another inode or kind is (see relook). */
  | { ok: false; why: "gone" | "replaced" };

/** Open `path` as O_PATH if it is still the regular file `expect` describes (dev and inode). */
function pinRegular(
  path: Name,
  expect: { dev: bigint; ino: bigint },
): { fd: number; stats: PathStats } | "gone" | "replaced" {
  let fd: number;
  try {
    fd = openSync(path, O_PATH | constants.O_NOFOLLOW);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "ENOENT" || code === "ENOTDIR") return "gone";
    if (code === "ELOOP") return "replaced";
    throw error;
  }
  const stats = new PathStats(fstatSync(fd, { bigint: true }));
  if (!stats.isFile() || stats.ino !== expect.ino || stats.dev !== expect.dev) {
    closeSync(fd);
    return "replaced";
  }
  return { fd, stats };
}

function steady(a: PathStats, b: PathStats): boolean {
  return a.size === b.size && a.mtimeNs === b.mtimeNs && a.ctimeNs === b.ctimeNs;
}

/** Read the file at `path` through `put` (given a path naming the checked inode). */
export async function readSteadily<T>(
  path: Name,
  expect: { dev: bigint; ino: bigint },
  put: (source: string) => T | Promise<T>,
): Promise<SteadyRead<T>> {
  let last: { put: T; stats: PathStats } | undefined;
  for (let attempt = 1; attempt <= ATTEMPTS; attempt++) {
    const pinned = pinRegular(path, expect);
    if (typeof pinned === "string") return { ok: false, why: pinned };
    try {
      const result = await put(`/proc/self/fd/${pinned.fd}`);
      const after = new PathStats(fstatSync(pinned.fd, { bigint: true }));
      if (steady(pinned.stats, after)) return { ok: true, put: result, stats: after, torn: false };
      last = { put: result, stats: after };
    } finally {
      closeSync(pinned.fd);
    }
  }
  return { ok: true, ...last!, torn: true };
}

/** The digest of the regular file at `path` if it is still the inode `expect`; undefined if not. */
export function hashChecked(
  path: Name,
  expect: { dev: bigint; ino: bigint },
  digest: Digest = "plain",
): string | undefined {
  const pinned = pinRegular(path, expect);
  if (typeof pinned === "string") return undefined;
  try {
    return hashFileSync(`/proc/self/fd/${pinned.fd}`, digest);
  } finally {
    closeSync(pinned.fd);
  }
}

/**
 * Look `abs` (a canonical path) up from `/` without following a link on the way, and hand its
 * lstat and its path through the open parent to `use`; `undefined` when nothing is there.
 */
function lookedUp<T>(abs: string, use: (stats: PathStats, at: Name) => T): T | undefined {
  let dir: number;
  try {
    dir = openComponents(dirname(abs));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw error;
  }
  try {
    const at = nameIn(`/proc/self/fd/${dir}`, basename(abs));
    const raw = lstatSync(at, { bigint: true, throwIfNoEntry: false });
    return raw && use(new PathStats(raw), at);
  } finally {
    closeSync(dir);
  }
}

/**
 * SHA-256 of what is at `abs`: null when nothing is there, "other" when it is not a regular
 * file. Never opens a FIFO or a device.
 */
export function hashOfPath(abs: string): string | null | "other" {
  const hash = lookedUp(abs, (stats, at) =>
    stats.isFile() ? (hashChecked(at, stats) ?? "other") : "other",
  );
  return hash ?? null;
}

/** What a changed path is now: its stat, and a symlink's target, read through its parent. */
export function relook(abs: string): { stats: PathStats; target?: string } | undefined {
  return lookedUp(abs, (stats, at) =>
    stats.isSymbolicLink() ? { stats, target: readLinkAt(at) } : { stats },
  );
}

/** The warning for a file that kept changing while it was read. */
export function tornWarning(path: string): string {
  return `${path} changed while it was being read, ${ATTEMPTS} times: its stored copy may mix old and new contents (stop what writes to it, or protect it with a database kind)`;
}
