import { randomBytes } from "node:crypto";
import {
  closeSync,
  constants,
  fstatSync,
  lstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  realpathSync,
  renameSync,
  rmdirSync,
  unlinkSync,
} from "node:fs";
import { basename, dirname } from "node:path";
import { GlobalRollbackError } from "../../errors.js";
import { O_PATH } from "../../util/o-path.js";
import { hasRawBytes, kernelName, nameFromBytes, shownName } from "./names.js";
import { PathStats } from "./path-stats.js";

/**
 * A tree a root-run restore writes to may hold directories that a local user owns (uploads/, a
 * home, a service's data). Such a user can swap a directory for a symlink to /etc between the
 * restore's check of a path and its write: a path handed to the kernel is resolved again at every
 * call, so every check made on a path is only as good as the instant it was made. So below the
 * protected root nothing is done through a path. Each directory is opened without following
 * links (O_DIRECTORY|O_NOFOLLOW), one component at a time from the already-open parent, and the
 * calls name their object as `/proc/self/fd/<dir>/<name>`: the kernel resolves that through the
 * open directory itself (a magic link), never through the names above it, and a final symlink is
 * refused (O_NOFOLLOW) or acted on as a link (lchown, rename, unlink). An object whose metadata
 * is changed is opened with O_PATH first and checked (type, identity) on that descriptor, and the
 * change goes through `/proc/self/fd/<fd>`, which is the inode checked, whatever its name is by
 * then. Child processes (getfattr, setfattr, chattr, mknod) get `/proc/<pid>/fd/...` paths.
 *
 * Why this and not openat2(RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS) through a native addon: it needs
 * no build step on every host, works on every kernel rollpoint runs on, and gives child
 * processes the same protection; the cost is one open per directory, not per file.
 */

const DIR_FLAGS = constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW;
// Reopening an open directory through its /proc/self/fd link follows that (magic) link: the
// inode it names, never a path.
const REOPEN_FLAGS = constants.O_RDONLY | constants.O_DIRECTORY;
// Directories held open at once: far below any descriptor limit, enough for a restore's order
// (parents before children) to find its directory open nearly every time.
const CACHE = 64;
// Paths per child process (getfattr, setfattr, lsattr, chattr): far below the argument limit.
const CHILD_BATCH = 2000;
// How deep a removal goes before it moves the directory it is in up to its top (see removeTree).
const HOIST_DEPTH = 256;

/** A path below the protected root was swapped (a link, another type, another inode) while in use. */
export class SwappedPath extends GlobalRollbackError {
  constructor(path: string, why: string) {
    super(
      "RESTORE_FAILED",
      `${path} ${why} while rollpoint was working on it: nothing was done through it`,
      { context: { path } },
    );
  }
}

/** A path in a tree: relative to its root, or a name beside it that `tempBeside` made. */
export type Rel = string | { readonly key: string };

/** A name as the kernel takes it: text, or bytes for a name that is not valid UTF-8. */
export type Name = string | Buffer;

/** `dir/name` for a system call: bytes when the name holds some that are not UTF-8 (names.ts). */
export function nameIn(dir: string, name: Name): Name {
  const raw = typeof name === "string" ? kernelName(name) : name;
  return typeof raw === "string" ? `${dir}/${raw}` : Buffer.concat([Buffer.from(`${dir}/`), raw]);
}

function fdPath(fd: number): string {
  return `/proc/self/fd/${fd}`;
}

/**
 * The directories of one tree, opened one component at a time below `base` (a canonical path
 * whose components contain no link: see parents.ts), each key a path relative to `base`.
 */
export class PinnedTree {
  private readonly open = new Map<string, number>();
  private baseFd: number;

  /** `base` must exist and contain no link; the tree's root is `top` inside it. */
  constructor(
    readonly base: string,
    readonly top: string,
  ) {
    this.baseFd = openComponents(base);
  }

  /** The key of a tree-relative path (`""` is the root). */
  private key(rel: Rel): string {
    if (typeof rel !== "string") return rel.key;
    return rel === "" ? this.top : `${this.top}/${rel}`;
  }

  /** A fresh temporary name beside `rel` (the root's is beside the root, outside the tree). */
  tempBeside(rel: string): Rel {
    const key = this.key(rel);
    const slash = key.lastIndexOf("/");
    // Always valid UTF-8, so that a child process (mkfifo, mknod, touch) can be given it.
    const leaf = key.slice(slash + 1);
    const name = `.${hasRawBytes(leaf) ? "" : leaf}.rollpoint-${randomBytes(6).toString("hex")}.tmp`;
    return { key: slash < 0 ? name : `${key.slice(0, slash)}/${name}` };
  }

  /** The descriptor of the directory at `key` (relative to base; "" is base), opened if needed. */
  private dirFd(key: string): number {
    if (key === "") return this.baseFd;
    const cached = this.open.get(key);
    if (cached !== undefined) {
      // Most recently used last: eviction takes the first.
      this.open.delete(key);
      this.open.set(key, cached);
      return cached;
    }
    const slash = key.lastIndexOf("/");
    const parent = this.dirFd(slash < 0 ? "" : key.slice(0, slash));
    const fd = openDirAt(parent, key.slice(slash + 1), shownName(`${this.base}/${key}`));
    if (this.open.size >= CACHE) {
      const [oldest, oldFd] = this.open.entries().next().value as [string, number];
      this.open.delete(oldest);
      closeSync(oldFd);
    }
    this.open.set(key, fd);
    return fd;
  }

  /** What a call in this process names `rel` by: its name in its open parent directory. */
  at(rel: Rel, name?: Name): Name {
    const key = this.key(rel);
    if (name !== undefined) return nameIn(fdPath(this.dirFd(key)), name);
    const slash = key.lastIndexOf("/");
    return nameIn(fdPath(this.dirFd(slash < 0 ? "" : key.slice(0, slash))), key.slice(slash + 1));
  }

  /** The same for a child process: `/proc/<pid>/fd/...`, valid while this tree is open. */
  forChild(rel: Rel): string {
    const at = this.at(rel);
    // A child's arguments are text: a name of raw bytes reaches it only through inBatches.
    if (typeof at !== "string")
      throw new GlobalRollbackError(
        "RESTORE_FAILED",
        `${this.shown(rel)}: its name is not valid UTF-8 and cannot be handed to a helper program here`,
        { context: { path: this.shown(rel) } },
      );
    return at.replace(/^\/proc\/self\//, `/proc/${process.pid}/`);
  }

  /** The path a person reads: for messages only, never for a call. */
  shown(rel: Rel): string {
    return shownName(`${this.base === "/" ? "" : this.base}/${this.key(rel)}`);
  }

  /** A new descriptor of the directory `rel`, the caller's to close (for calls that outlive others). */
  acquireDir(rel: string): number {
    return openSync(fdPath(this.dirFd(this.key(rel))), REOPEN_FLAGS);
  }

  /** Forget open directories under `rel` (it is about to be removed or replaced). */
  forget(rel: string): void {
    const key = this.key(rel);
    for (const [k, fd] of [...this.open]) {
      if (k === key || k.startsWith(`${key}/`)) {
        this.open.delete(k);
        closeSync(fd);
      }
    }
  }

  /** lstat of `rel` through its open parent; undefined when nothing is there. */
  lstat(rel: Rel): PathStats | undefined {
    const stats = lstatSync(this.at(rel), { bigint: true, throwIfNoEntry: false });
    return stats && new PathStats(stats);
  }

  /**
   * Open `rel` as O_PATH without following it and check what is there: its type (the bits of
   * `mode & S_IFMT`) and, when given, its inode. Calls on `fdPath(fd)` then act on that inode.
   */
  pin(rel: Rel, expect: Expected): number {
    let fd: number;
    try {
      fd = openSync(this.at(rel), O_PATH | constants.O_NOFOLLOW);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT")
        throw new SwappedPath(this.shown(rel), "disappeared");
      throw error;
    }
    try {
      checkExpected(new PathStats(fstatSync(fd, { bigint: true })), expect, this.shown(rel));
    } catch (error) {
      closeSync(fd);
      throw error;
    }
    return fd;
  }

  /** Make the directory `rel` (its parent open), owned by this process until its metadata is set. */
  mkdir(rel: string): void {
    mkdirSync(this.at(rel), { mode: 0o700 });
  }

  /**
   * Remove whatever is at `rel`, however deep a tree it is, without following any link in it:
   * each directory is opened from its parent's descriptor and emptied through its own. A chain
   * deeper than HOIST_DEPTH is moved up to `rel`'s parent directory as it goes, so neither the
   * path length nor the number of open descriptors grows with the depth.
   */
  removeTree(rel: string, name?: Name): number {
    const slashed = this.key(rel);
    const parentKey =
      name !== undefined
        ? slashed
        : slashed.includes("/")
          ? slashed.slice(0, slashed.lastIndexOf("/"))
          : "";
    const leaf: Name = name ?? slashed.slice(slashed.lastIndexOf("/") + 1);
    if (name === undefined) this.forget(rel);
    return removeBelow(this.dirFd(parentKey), leaf, this.shown(rel));
  }

  /**
   * Run `run` over `rels` in batches, each path given as a child process names it through an
   * open parent directory (see forChild); the descriptors live until its batch's run ends. A path
   * whose directory is gone or was swapped is left out (there is nothing of it to read or set).
   * A path is bytes when its name holds some that are not UTF-8 (see execWithPaths); `relOf`
   * is keyed by its text (names.ts).
   */
  async inBatches(
    rels: readonly string[],
    run: (paths: Name[], relOf: ReadonlyMap<string, string>) => Promise<void>,
  ): Promise<void> {
    for (let i = 0; i < rels.length; ) {
      const held = new Map<string, number>();
      const relOf = new Map<string, string>();
      const paths: Name[] = [];
      try {
        for (; i < rels.length && paths.length < CHILD_BATCH; i++) {
          const rel = rels[i]!;
          const key = this.key(rel);
          const slash = key.lastIndexOf("/");
          const dirKey = slash < 0 ? "" : key.slice(0, slash);
          if (!held.has(dirKey) && held.size >= CACHE) break;
          let fd = held.get(dirKey);
          if (fd === undefined) {
            try {
              fd = openSync(fdPath(this.dirFd(dirKey)), REOPEN_FLAGS);
            } catch (error) {
              if (
                error instanceof SwappedPath ||
                (error as NodeJS.ErrnoException).code === "ENOENT"
              )
                continue;
              throw error;
            }
            held.set(dirKey, fd);
          }
          const path = nameIn(`/proc/${process.pid}/fd/${fd}`, key.slice(slash + 1));
          paths.push(path);
          relOf.set(typeof path === "string" ? path : nameFromBytes(path), rel);
        }
        if (paths.length) await run(paths, relOf);
      } finally {
        for (const fd of held.values()) closeSync(fd);
      }
    }
  }

  /** Close every descriptor. */
  close(): void {
    for (const fd of this.open.values()) closeSync(fd);
    this.open.clear();
    if (this.baseFd >= 0) closeSync(this.baseFd);
    this.baseFd = -1;
  }
}

/** The tree whose root is `root`: its parent's real location, with `root`'s name in it. */
export function pinnedTreeAt(root: string): PinnedTree {
  return new PinnedTree(realpathSync(dirname(root)), basename(root));
}

/** What `pin` checks on the descriptor. */
export interface Expected {
  /** The type bits (`constants.S_IFREG`, ...). */
  type: number;
  /** The inode the walk saw there, when the path must still be that object. */
  identity?: { dev: bigint; ino: bigint };
  /** A file this process just made: owned by it, with no other name (nobody put theirs in its place). */
  fresh?: boolean;
}

function checkExpected(stats: PathStats, expect: Expected, shown: string): void {
  if ((stats.mode & constants.S_IFMT) !== expect.type)
    throw new SwappedPath(shown, "was replaced by another kind of file");
  if (expect.identity && (stats.ino !== expect.identity.ino || stats.dev !== expect.identity.dev))
    throw new SwappedPath(shown, "was replaced by another file");
  if (expect.fresh) {
    const uid = process.geteuid?.();
    if ((uid !== undefined && stats.uid !== uid) || (!stats.isDirectory() && stats.nlink !== 1))
      throw new SwappedPath(shown, "was replaced by a file rollpoint did not make");
  }
}

/** Open every component of `path` (absolute, no links expected) from `/`, never following one. */
export function openComponents(path: string): number {
  let fd = openSync("/", DIR_FLAGS);
  let shown = "";
  for (const part of path.split("/").filter(Boolean)) {
    shown = `${shown}/${part}`;
    try {
      const next = openDirAt(fd, part, shown);
      closeSync(fd);
      fd = next;
    } catch (error) {
      closeSync(fd);
      throw error;
    }
  }
  return fd;
}

function openDirAt(parent: number, name: Name, shown: string): number {
  try {
    return openSync(nameIn(fdPath(parent), name), DIR_FLAGS);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "ELOOP") throw new SwappedPath(shown, "was replaced by a symlink");
    if (code === "ENOTDIR") throw new SwappedPath(shown, "is no longer a directory");
    throw error;
  }
}

/** Remove `name` in the open directory `parent` and everything under it; returns paths removed. */
function removeBelow(parent: number, name: Name, shown: string): number {
  const top = fdPath(parent);
  const first = lstatSync(nameIn(top, name), { throwIfNoEntry: false });
  if (!first) return 0;
  if (!first.isDirectory()) {
    unlinkSync(nameIn(top, name));
    return 1;
  }
  let removed = 0;
  // Chains moved up beside `name`, each emptied in turn with a stack of its own.
  const pending: Name[] = [name];
  while (pending.length) {
    // The directories being emptied: each with its descriptor, its name in the one above it and
    // the names it held when it was opened (read once: a wide directory is not re-read).
    const stack: Array<{ fd: number; name: Name; parentFd: number; names: Buffer[] }> = [];
    const push = (parentFd: number, child: Name) => {
      const fd = openDirAt(parentFd, child, shown);
      stack.push({
        fd,
        name: child,
        parentFd,
        names: readdirSync(fdPath(fd), { encoding: "buffer" }),
      });
    };
    try {
      push(parent, pending.pop()!);
      while (stack.length) {
        const current = stack[stack.length - 1]!;
        const dir = fdPath(current.fd);
        let descended = false;
        while (current.names.length) {
          const child = current.names.pop()!;
          const childPath = nameIn(dir, child);
          const stats = lstatSync(childPath, { throwIfNoEntry: false });
          if (!stats) continue;
          if (!stats.isDirectory()) {
            unlinkSync(childPath);
            removed++;
          } else if (stack.length >= HOIST_DEPTH) {
            // Too deep to go on from here: move the rest of the chain up beside the top.
            const hoisted = `.rollpoint-rm-${randomBytes(6).toString("hex")}`;
            renameSync(childPath, nameIn(top, hoisted));
            pending.push(hoisted);
          } else {
            push(current.fd, child);
            descended = true;
            break;
          }
        }
        if (descended) continue;
        // Names made since it was read (a writer still at work) are read again before rmdir.
        const late = readdirSync(dir, { encoding: "buffer" });
        if (late.length) {
          current.names = late;
          continue;
        }
        stack.pop();
        closeSync(current.fd);
        rmdirSync(nameIn(fdPath(current.parentFd), current.name));
        removed++;
      }
    } finally {
      for (const open of stack) closeSync(open.fd);
    }
  }
  return removed;
}
