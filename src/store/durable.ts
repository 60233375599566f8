import { randomBytes } from "node:crypto";
import {
  chmodSync,
  closeSync,
  constants as fsConstants,
  fsync,
  lstatSync,
  openSync,
} from "node:fs";
import { lstat, open, rename, rm } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { forEachLimited } from "../util/pool.js";
import { runSystemCommand } from "../util/system-command.js";

/** A name beside `path` that nobody else will pick, for write-then-rename. */
export function tempNameBeside(path: string): string {
  return join(dirname(path), `.${basename(path)}.rollpoint-${randomBytes(6).toString("hex")}.tmp`);
}

/** Write a small file so that a reader sees either the old or the new contents, never a mix. */
export async function writeFileAtomic(path: string, data: string | Uint8Array, mode = 0o600) {
  const temp = tempNameBeside(path);
  try {
    const handle = await open(temp, "wx", mode);
    try {
      await handle.writeFile(data);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temp, path);
  } catch (error) {
    await rm(temp, { force: true });
    throw error;
  }
  await syncDirectory(dirname(path));
}

/**
 * Make `path` (and SQLite's `-wal`/`-shm` beside it, which SQLite creates with the database's
 * mode) private before SQLite opens it: created 0600 when missing, whatever the umask, and
 * tightened when an older rollpoint left it 0644.
 */
export function privateFile(path: string): void {
  try {
    closeSync(
      openSync(path, fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_EXCL, 0o600),
    );
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
  }
  for (const file of [path, `${path}-wal`, `${path}-shm`]) {
    const stats = lstatSync(file, { throwIfNoEntry: false });
    if (stats?.isFile() && (stats.mode & 0o077) !== 0) chmodSync(file, stats.mode & 0o700);
  }
}

/** Make a rename or a new name in `dir` durable. */
export async function syncDirectory(dir: string): Promise<void> {
  await fsyncAt(dir, fsConstants.O_RDONLY | fsConstants.O_DIRECTORY);
}

async function fsyncAt(path: string, flags: number): Promise<void> {
  const handle = await open(path, flags);
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

// One syncfs(2) flushes everything dirty on a file system, anyone's: the fallback of syncPaths
// for a restore that rewrote thousands of paths. Node has no syncfs binding, and coreutils'
// `sync -f` is exactly that call.
async function syncFileSystem(path: string): Promise<void> {
  await runSystemCommand("sync", ["-f", path]);
}

// Measured on journaled ext4 (bench/run.mjs): fsyncs issued a few at a time share journal
// commits, and a few hundred cost tens of milliseconds; past a few thousand, one syncfs of a file
// system where our writes are most of what is dirty costs less.
const SYNCFS_FROM = 2048;

/**
 * Make what was written to `paths` durable: regular files and directories, each fsynced (its
 * data, its inode, the names in it), four at a time. Nothing else on the file system is flushed,
 * so a database or a log writer busy beside costs nothing. With more than a few thousand paths
 * and `wholeFileSystem` given, one syncfs of that file system instead. Only regular files and
 * directories are opened (opening a fifo waits for a writer, opening a device can act on it);
 * other kinds are carried by their directory's fsync. A path gone meanwhile is skipped. With
 * `openFor`, each path is opened by the caller (a descriptor to sync, or undefined to skip).
 */
export async function syncPaths(
  paths: Iterable<string>,
  wholeFileSystem?: string,
  openFor?: (path: string) => number | undefined,
): Promise<void> {
  const unique = [...new Set(paths)];
  if (wholeFileSystem !== undefined && unique.length > SYNCFS_FROM) {
    await syncFileSystem(wholeFileSystem);
    return;
  }
  await forEachLimited(unique, 4, async (path) => {
    if (openFor) {
      // The caller opens (a restore: through its checked directories), this syncs and closes.
      const fd = openFor(path);
      if (fd === undefined) return;
      await new Promise<void>((resolve, reject) =>
        fsync(fd, (error) => {
          closeSync(fd);
          if (error) reject(error);
          else resolve();
        }),
      );
      return;
    }
    try {
      const stats = await lstat(path);
      if (!stats.isFile() && !stats.isDirectory()) return;
      await fsyncAt(path, fsConstants.O_RDONLY | fsConstants.O_NOFOLLOW | fsConstants.O_NONBLOCK);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === "ENOENT" || code === "ELOOP") return;
      throw error;
    }
  });
}

/**
 * Paths to make durable, gathered as a restore goes: fsynced one by one at the end (syncPaths),
 * or, once there are more than a few thousand, forgotten for one syncfs of `wholeFileSystem`
 * instead, so that what is held stays bounded however many paths are changed.
 */
export class PathSyncer {
  private paths = new Set<string>();
  private whole = false;

  constructor(
    private readonly wholeFileSystem: string,
    private readonly openFor: (path: string) => number | undefined,
  ) {}

  add(path: string): void {
    if (this.whole) return;
    this.paths.add(path);
    if (this.paths.size > SYNCFS_FROM) {
      this.whole = true;
      this.paths = new Set();
    }
  }

  async finish(): Promise<void> {
    if (this.whole) await syncFileSystem(this.wholeFileSystem);
    else await syncPaths(this.paths, undefined, this.openFor);
  }
}
