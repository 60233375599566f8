import { closeSync, constants, fstatSync, lstatSync, openSync, readdirSync } from "node:fs";
import { basename } from "node:path";
import { GlobalRollbackError } from "../../errors.js";
import { processIsOurs } from "../../util/owned-process.js";
import type { ExcludeMatcher } from "./exclude.js";
import { nameFromBytes } from "./names.js";
import { canonicalParent } from "./parents.js";
import { PathStats } from "./path-stats.js";
import { type Name, nameIn, openComponents, SwappedPath } from "./pinned.js";
import { MetadataReadAhead } from "./read-ahead.js";

export interface WalkedPath {
  /** Relative to the root; a byte that is not UTF-8 is carried as names.ts says. */
  readonly rel: string;
  /**
   * The path below the root's real parent (see walkLazily), for messages and for reads that
   * check the inode they open (steady-read.ts); never for a write.
   */
  readonly abs: string;
  readonly stats: PathStats;
  /**
   * The path through the walk's open parent directory (`/proc/self/fd/N/name`, bytes when the
   * name holds some that are not UTF-8): valid only until the walk is asked for its next path,
   * and safe from a parent swapped meanwhile.
   */
  readonly at: Name;
}

/** How many directories deep below its root a walk goes; deeper is refused (see TooDeep). */
export const MAX_DEPTH = 256;

/** A tree deeper than MAX_DEPTH: a backup refuses it rather than record part of it. */
export class TooDeep extends GlobalRollbackError {
  constructor(path: string) {
    super(
      "BACKUP_FAILED",
      `${path} is more than ${MAX_DEPTH} directories below the protected path: such a tree is not backed up (exclude it, or protect a path nearer to it)`,
      { context: { path } },
    );
  }
}

export interface WalkOptions {
  /** Whether to read a directory's contents (a restore does not read what it removes whole). */
  descend?: (rel: string) => boolean;
  /**
   * Whether a large walk may start a read-ahead (read-ahead.ts; the default). A first
   * backup does not: its time goes to reading contents, which the read-ahead would compete with.
   */
  readAhead?: boolean;
}

/**
 * Every path under `root` (itself first, then depth first, each directory's names sorted by
 * their bytes, a parent before its children), lstat'ed so that symlinks are never followed.
 * Returns `undefined` when `root` does not exist. A path that vanishes between readdir and lstat
 * is skipped: it is no longer there to back up.
 * Every directory is opened from its already-open parent without following a link, and checked
 * to be the inode its parent's listing showed (pinned.ts says why), so what the walk reports is
 * the tree below `root`, not one a local user swapped in. A directory swapped meanwhile is
 * skipped as vanished.
 * Synchronous on purpose: tens of thousands of tiny metadata calls are several times faster
 * without a promise each. Lazy: only the open directories' remaining names are held, never
 * the tree (there is deliberately no version that returns an array).
 */
export function walkLazily(
  root: string,
  exclude: ExcludeMatcher,
  options: WalkOptions = {},
): Iterable<WalkedPath> | undefined {
  // The parent's real location: a legitimate link above the root (Debian's /lib -> usr/lib) is
  // resolved once, here, and nothing below is resolved through a link again.
  const base = canonicalParent(root);
  if (base === null) return undefined;
  let baseFd: number;
  try {
    baseFd = openComponents(base);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "ENOENT" || error instanceof SwappedPath) return undefined;
    throw error;
  }
  const at = `/proc/self/fd/${baseFd}/${basename(root)}`;
  const rootStats = lstatSync(at, { bigint: true, throwIfNoEntry: false });
  if (!rootStats) {
    closeSync(baseFd);
    return undefined;
  }
  return walking(
    {
      rel: "",
      abs: base === "/" ? `/${basename(root)}` : `${base}/${basename(root)}`,
      stats: new PathStats(rootStats),
      at,
    },
    baseFd,
    exclude,
    options,
  );
}

/**
 * A walked path whose `at` is made only when asked for: most paths of a repeat backup are never
 * opened, and a name through the descriptor for each was 3% of its CPU and 7% of its garbage.
 */
class Walked implements WalkedPath {
  constructor(
    readonly rel: string,
    readonly abs: string,
    readonly stats: PathStats,
    private readonly parentFd: number,
    private readonly name: Buffer,
  ) {}

  get at(): Name {
    return nameIn(`/proc/self/fd/${this.parentFd}`, this.name);
  }
}

interface OpenDir {
  fd: number;
  rel: string;
  abs: string;
  names: Buffer[];
  next: number;
  /** The lstat of names[statsFrom + i] (undefined: vanished since readdir). */
  stats: (PathStats | undefined)[];
  statsFrom: number;
}

/** Paths walked before a read-ahead starts: below that the walk is over sooner. */
const READ_AHEAD_FROM = 4096;

/** How many names of one directory are lstat'ed in one go (what a walk holds per open directory). */
const STAT_BATCH = 512;

function* walking(
  top: WalkedPath,
  baseFd: number,
  exclude: ExcludeMatcher,
  { descend, readAhead: mayReadAhead = true }: WalkOptions,
): Generator<WalkedPath> {
  const stack: OpenDir[] = [];
  // Started only for a tree large enough to repay a child process (read-ahead.ts).
  let readAhead: MetadataReadAhead | undefined;
  let walked = 0;
  try {
    yield top;
    if (top.stats.isDirectory() && (descend?.("") ?? true)) {
      const opened = openChecked(`/proc/self/fd/${baseFd}/${basename(top.abs)}`, top.stats);
      if (opened !== undefined) stack.push(listDir(opened, "", top.abs));
    }
    while (stack.length) {
      const dir = stack[stack.length - 1]!;
      if (dir.next === dir.names.length) {
        stack.pop();
        closeSync(dir.fd);
        continue;
      }
      const index = dir.next++;
      if (index === dir.statsFrom + dir.stats.length) {
        dir.statsFrom = index;
        dir.stats = lstatBatch(dir.fd, dir.names, index);
        walked += dir.stats.length;
        if (mayReadAhead && walked >= READ_AHEAD_FROM) readAhead ??= new MetadataReadAhead(top.abs);
        readAhead?.walked(walked);
      }
      const stats = dir.stats[index - dir.statsFrom];
      if (!stats) continue;
      const bytes = dir.names[index]!;
      const name = nameFromBytes(bytes);
      const rel = dir.rel === "" ? name : `${dir.rel}/${name}`;
      const abs = dir.abs === "/" ? `/${name}` : `${dir.abs}/${name}`;
      // After lstat: a pattern with a trailing slash matches directories only.
      if (exclude(rel, stats.isDirectory())) continue;
      const path = new Walked(rel, abs, stats, dir.fd, bytes);
      yield path;
      if (!stats.isDirectory() || !(descend?.(rel) ?? true)) continue;
      if (stack.length >= MAX_DEPTH) throw new TooDeep(abs);
      const opened = openChecked(path.at, stats);
      if (opened !== undefined) stack.push(listDir(opened, rel, abs));
    }
  } finally {
    readAhead?.stop();
    for (const dir of stack) closeSync(dir.fd);
    closeSync(baseFd);
  }
}

/** Open the directory at `at` if it is still the inode `stats` describes; else undefined. */
function openChecked(at: Name, stats: PathStats): number | undefined {
  let fd: number;
  try {
    fd = openSync(at, constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "ENOENT" || code === "ELOOP" || code === "ENOTDIR") return undefined;
    throw error;
  }
  const now = fstatSync(fd, { bigint: true });
  if (now.ino !== stats.ino || now.dev !== stats.dev) {
    closeSync(fd);
    return undefined;
  }
  return fd;
}

/** A directory's names, sorted by their bytes. */
function listDir(fd: number, rel: string, abs: string): OpenDir {
  const names = readdirSync(`/proc/self/fd/${fd}`, { encoding: "buffer" });
  // Byte order is UTF-8's code point order; the order of a listing does not depend on it.
  names.sort(Buffer.compare);
  return { fd, rel, abs, names, next: 0, stats: [], statsFrom: 0 };
}

/** The lstat of up to STAT_BATCH names of the directory open as `fd`, from `from` on. */
function lstatBatch(fd: number, names: Buffer[], from: number): (PathStats | undefined)[] {
  const end = Math.min(names.length, from + STAT_BATCH);
  const out: (PathStats | undefined)[] = [];
  // Resolving `/proc/self/fd/N/name` costs the kernel a procfs magic-link lookup per path; a
  // name relative to the working directory is one component, as `fstatat` would be (Node has
  // no `fstatat`), and as safe from a swapped parent: the working directory is then the inode
  // the descriptor holds, not a path. Only where the process is ours (owned-process.ts), and
  // back before any other JavaScript runs.
  const home = processIsOurs() ? enterDirectory(fd) : undefined;
  try {
    for (let i = from; i < end; i++) {
      // A name from readdir is one component: relative to the directory we are in, or through
      // the descriptor's magic link.
      const name = home === undefined ? nameIn(`/proc/self/fd/${fd}`, names[i]!) : names[i]!;
      const raw = lstatSync(name, { bigint: true, throwIfNoEntry: false });
      out.push(raw ? new PathStats(raw) : undefined);
    }
  } finally {
    if (home !== undefined) leaveDirectory(home);
  }
  return out;
}

/** Moves into the directory open as `fd`; returns a descriptor of where we were, or undefined
 * (the batch then goes through /proc/self/fd). */
function enterDirectory(fd: number): number | undefined {
  let home: number;
  try {
    home = openSync(".", constants.O_RDONLY | constants.O_DIRECTORY);
  } catch {
    return undefined;
  }
  try {
    process.chdir(`/proc/self/fd/${fd}`);
  } catch {
    closeSync(home);
    return undefined;
  }
  return home;
}

function leaveDirectory(home: number): void {
  try {
    // Back to the very directory we left, whatever was renamed meanwhile.
    process.chdir(`/proc/self/fd/${home}`);
  } finally {
    closeSync(home);
  }
}
