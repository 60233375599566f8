import { closeSync, existsSync, fsyncSync, openSync, rmSync, writeSync } from "node:fs";

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

  ensure(): void {
    if (existsSync(this.path)) return;
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
}

export function isOutOfSpace(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return code === "SQLITE_FULL" || code === "ENOSPC" || code === "EDQUOT";
}
