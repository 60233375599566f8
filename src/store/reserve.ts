import { closeSync, existsSync, fsyncSync, openSync, rmSync, statfsSync, writeSync } from "node:fs";
import { dirname } from "node:path";

/** How much space the store keeps back for recording a run's outcome on a full disk. */
const RESERVE_BYTES = 2 * 2 ** 20;

/**
 * A file of zeros the store keeps while it is locked, given back when the disk fills up: on a
 * full disk the catalog can still record where a run is and how it ended, so a rollback started
 * for lack of space is not itself lost for lack of space. (Classic: databases and mail servers
 * keep such a ballast file.) Made again at the next lock when there is room.
 */
export class SpaceReserve {
  constructor(readonly path: string) {}

  /**
   * At each lock: made when there is room for it and as much again; given up at once when the
   * disk has less free than the reserve itself (the lock's holder needs the space now: a recover
   * on the disk a step filled). So a released reserve is not made again on the same full disk.
   */
  ensure(): void {
    const free = freeBytes(dirname(this.path));
    if (existsSync(this.path)) {
      if (free !== undefined && free < RESERVE_BYTES) rmSync(this.path, { force: true });
      return;
    }
    if (free !== undefined && free < 2 * RESERVE_BYTES) return;
    let fd: number | undefined;
    try {
      fd = openSync(this.path, "wx", 0o600);
      const zeros = Buffer.alloc(2 ** 20);
      for (let written = 0; written < RESERVE_BYTES; written += zeros.length) writeSync(fd, zeros);
      fsyncSync(fd);
    } catch {
      // No room for it now: the store works without, as it did before.
      rmSync(this.path, { force: true });
    } finally {
      if (fd !== undefined) closeSync(fd);
    }
  }

  /** Run `write`; if it fails for lack of space while the reserve exists, free it and retry once. */
  withSpace<T>(write: () => T): T {
    try {
      return write();
    } catch (error) {
      if (!isOutOfSpace(error) || !existsSync(this.path)) throw error;
      rmSync(this.path, { force: true });
      return write();
    }
  }

  /** The same for work that is asynchronous; `write` must be safe to run again after a failure. */
  async withSpaceAsync<T>(write: () => Promise<T>): Promise<T> {
    try {
      return await write();
    } catch (error) {
      if (!isOutOfSpace(error) || !existsSync(this.path)) throw error;
      rmSync(this.path, { force: true });
      return write();
    }
  }
}

// Root may write into the blocks a file system keeps back from others.
function freeBytes(dir: string): number | undefined {
  try {
    const fs = statfsSync(dir);
    return (process.getuid?.() === 0 ? fs.bfree : fs.bavail) * fs.bsize;
  } catch {
    return undefined;
  }
}

export function isOutOfSpace(error: unknown): boolean {
  const { code, cause } = (error ?? {}) as { code?: unknown; cause?: unknown };
  // SHMSIZE: SQLite could not size its WAL index (-shm), which on a full disk is ENOSPC.
  return (
    code === "SQLITE_FULL" ||
    code === "SQLITE_IOERR_SHMSIZE" ||
    code === "ENOSPC" ||
    code === "EDQUOT" ||
    // Wrapped with what it was doing (the lock's holder file): still a full disk.
    (cause !== undefined && cause !== error && isOutOfSpace(cause))
  );
}
