import { existsSync, readFileSync, rmSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { describeError, GlobalRollbackError } from "../errors.js";
import { pausePoint } from "../util/pause-point.js";
import { privateFile, writeFileAtomic } from "./durable.js";

/** Who holds a store's lock; written to `lock.json` beside the lock itself. */
export interface LockHolder {
  pid: number;
  hostname: string;
  command: string;
  startedAt: string;
  runId?: string;
}

/**
 * One writer per store. The lock itself is an exclusive SQLite transaction on `lock.db`, which is
 * an fcntl(2) lock: the kernel drops it the instant its process dies, however it dies, so a dead
 * holder can never keep the store locked and no pid-liveness guessing is needed. `lock.json`
 * names the holder for the message a second writer gets; finding it present when the lock was
 * free means the previous holder died without releasing, and its work must be recovered.
 */
export class StoreLock {
  private constructor(
    private readonly db: Database.Database,
    private readonly infoPath: string,
    readonly holder: LockHolder,
    /** The holder that died while holding the store, if any. */
    readonly previousHolder: LockHolder | undefined,
  ) {}

  static async acquire(
    storeDir: string,
    who: { command: string; runId?: string },
  ): Promise<StoreLock> {
    const infoPath = join(storeDir, "lock.json");
    const lockPath = join(storeDir, "lock.db");
    let db: Database.Database;
    try {
      privateFile(lockPath);
      db = new Database(lockPath, { timeout: 0 });
    } catch (error) {
      throw damagedLock(lockPath, error);
    }
    try {
      db.exec("BEGIN EXCLUSIVE");
    } catch (error) {
      db.close();
      if ((error as { code?: string }).code === "SQLITE_BUSY") {
        throw lockedError(storeDir, readHolder(infoPath));
      }
      throw damagedLock(lockPath, error);
    }
    // A lock.json that is there but unreadable still means a holder died without releasing:
    // its leftovers are cleaned up as for any dead holder.
    const previousHolder =
      readHolder(infoPath) ??
      (existsSync(infoPath)
        ? { pid: 0, hostname: "?", command: "unknown (lock.json was damaged)", startedAt: "?" }
        : undefined);
    const holder: LockHolder = {
      pid: process.pid,
      hostname: hostname(),
      command: who.command,
      startedAt: new Date().toISOString(),
      ...(who.runId === undefined ? {} : { runId: who.runId }),
    };
    // Tests park a command here, holding the lock before anything else exists, to signal it.
    pausePoint("lock");
    try {
      await writeFileAtomic(infoPath, `${JSON.stringify(holder)}\n`);
    } catch (error) {
      // Not held after all (a full disk, an I/O error): the caller may fix it and try again.
      db.exec("ROLLBACK");
      db.close();
      throw new GlobalRollbackError(
        "STORE_ERROR",
        `could not take the store's lock: writing ${infoPath} failed (${describeError(error)}); nothing was done`,
        { cause: error, context: { path: infoPath } },
      );
    }
    return new StoreLock(db, infoPath, holder, previousHolder);
  }

  release(): void {
    rmSync(this.infoPath, { force: true });
    this.db.exec("ROLLBACK");
    this.db.close();
  }
}

export function readHolder(infoPath: string): LockHolder | undefined {
  try {
    return JSON.parse(readFileSync(infoPath, "utf8")) as LockHolder;
  } catch {
    return undefined;
  }
}

function lockedError(storeDir: string, holder: LockHolder | undefined): GlobalRollbackError {
  const who = holder
    ? `pid ${holder.pid} on ${holder.hostname} (${holder.command}${holder.runId ? `, run ${holder.runId}` : ""}, since ${holder.startedAt})`
    : "another process";
  return new GlobalRollbackError("STORE_LOCKED", `store ${storeDir} is locked by ${who}`, {
    context: { store: storeDir, ...(holder ? { holderPid: holder.pid } : {}) },
  });
}

// lock.db holds no data, only the lock: a damaged one is safe to delete once no rollpoint runs.
function damagedLock(lockPath: string, error: unknown): GlobalRollbackError {
  return new GlobalRollbackError(
    "STORE_ERROR",
    `the store's lock file ${lockPath} is damaged (${describeError(error)}); it holds no data: remove it when no rollpoint is running, then try again`,
    { cause: error, context: { path: lockPath } },
  );
}

/**
 * Who holds the store's lock, without taking it for more than an instant and without writing:
 * `held` when another process holds it now; `stale` when lock.json names a holder that died
 * (the next writer cleans up after it); `free` otherwise.
 */
export function probeLock(storeDir: string): {
  state: "free" | "held" | "stale";
  holder?: LockHolder;
} {
  const holder = readHolder(join(storeDir, "lock.json"));
  const lockPath = join(storeDir, "lock.db");
  if (!existsSync(lockPath)) return holder ? { state: "stale", holder } : { state: "free" };
  const db = new Database(lockPath, { timeout: 0 });
  try {
    db.exec("BEGIN EXCLUSIVE");
    db.exec("ROLLBACK");
  } catch (error) {
    if ((error as { code?: string }).code === "SQLITE_BUSY")
      return holder ? { state: "held", holder } : { state: "held" };
    throw damagedLock(lockPath, error);
  } finally {
    db.close();
  }
  return holder ? { state: "stale", holder } : { state: "free" };
}
