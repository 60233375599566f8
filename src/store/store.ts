import { existsSync } from "node:fs";
import { chmod, lstat, mkdir, readdir, rm } from "node:fs/promises";
import { join, resolve } from "node:path";
import { describeError, GlobalRollbackError } from "../errors.js";
import { type BackupRow, Catalog } from "./catalog.js";
import { syncDirectory } from "./durable.js";
import { StoreLock } from "./lock.js";
import { ObjectStore } from "./objects.js";
import { OperationLog } from "./oplog.js";
import { SpaceReserve } from "./reserve.js";
import {
  checkAncestors,
  checkCatalogPresent,
  checkStoreDirectory,
  checkStoreEntries,
} from "./trust.js";

/** Drops what a backup keeps outside the store; the backup kinds register it (see below). */
export type ExternalDiscard = (row: BackupRow) => Promise<void>;
let externalDiscard: ExternalDiscard | undefined;

/**
 * The store knows no backup kind (it sits below them); the database kinds register how to drop
 * their external parts, so that crash cleanup can do it for the pending backups it removes.
 */
export function setExternalDiscard(discard: ExternalDiscard): void {
  externalDiscard = discard;
}

/** What crash recovery found and cleaned when a dead holder's lock was taken over. */
export interface CrashCleanup {
  previousPid: number;
  droppedBackups: string[];
  droppedPoints: string[];
  removedObjects: number;
  /**
   * What the dead holder's incomplete backups keep or hold outside the store and could not be
   * dropped or put back (a container left paused): recover reports these as work for a person.
   */
  leaks: string[];
}

/**
 * A store directory: the catalog, the objects, the audit log and the lock. Reading needs no lock;
 * every change happens inside `exclusive()`.
 */
export class Store {
  private lock: StoreLock | undefined;
  // Not AsyncLocalStorage for re-entrancy: it turns on promise hooks that slow every await.
  private queue: Promise<void> = Promise.resolve();
  /** Set when this process took over from a holder that died, after cleaning up its leftovers. */
  lastCrashCleanup: CrashCleanup | undefined;
  /** Space kept back so that a run's progress and outcome can be recorded on a full disk. */
  readonly reserve: SpaceReserve;

  private constructor(
    readonly dir: string,
    readonly catalog: Catalog,
    readonly objects: ObjectStore,
    readonly log: OperationLog,
    readonly tempDir: string,
    /** The time backups are stamped with; injected by tests that need files to look old. */
    readonly clock: () => number,
    reserve: SpaceReserve,
  ) {
    this.reserve = reserve;
  }

  /**
   * Open the store at `dir`, creating it unless `mustExist`: a command that only reads never
   * creates one (a mistyped --store is an error, not an empty store that says "no backups").
   */
  static async open(
    dir: string,
    options: { clock?: () => number; mustExist?: boolean } = {},
  ): Promise<Store> {
    const root = resolve(dir);
    try {
      // The directories above first: a store below a swappable one is refused even if missing.
      checkAncestors(root);
      if (
        options.mustExist &&
        !existsSync(join(root, "catalog.db")) &&
        !existsSync(join(root, "objects"))
      ) {
        throw new GlobalRollbackError("INVALID_ARGUMENT", `no rollpoint store at ${root}`, {
          context: { store: root },
        });
      }
      if (checkStoreDirectory(root)) {
        checkStoreEntries(root);
        checkCatalogPresent(root);
      }
      await mkdir(root, { recursive: true, mode: 0o700 });
      // mkdir's mode is filtered by the umask, and an existing directory keeps its own mode.
      await chmod(root, 0o700);
      const tempDir = join(root, "tmp");
      await mkdir(tempDir, { recursive: true, mode: 0o700 });
      await mkdir(join(root, "objects"), { recursive: true, mode: 0o700 });
      if (!existsSync(join(root, "objects", "packs"))) {
        await mkdir(join(root, "objects", "packs"), { mode: 0o700 });
        // Its name must outlive a power cut: packs recorded in the catalog live in it.
        await syncDirectory(join(root, "objects"));
      }
      // Made or checked just now; the store is 0700 and ours, so no one else can swap them.
      checkStoreEntries(root);
      // On a full disk SQLite cannot even open the catalog (the WAL index is made anew at each
      // first open): the reserve is given up for it, or recover could never run there.
      const reserve = new SpaceReserve(join(root, "reserve"));
      const catalog = reserve.withSpace(() => new Catalog(join(root, "catalog.db")));
      return new Store(
        root,
        catalog,
        new ObjectStore(join(root, "objects"), tempDir, catalog.packs),
        new OperationLog(join(root, "operations.log")),
        tempDir,
        options.clock ?? Date.now,
        reserve,
      );
    } catch (error) {
      if (error instanceof GlobalRollbackError) throw error;
      // A damaged catalog (its schema pages too) is said as such, with what to do (cli/main.ts).
      const code = (error as { code?: unknown }).code;
      if (typeof code === "string" && /^SQLITE_(CORRUPT|NOTADB)/.test(code)) throw error;
      throw new GlobalRollbackError(
        "STORE_ERROR",
        `cannot open store ${root}: ${describeError(error)}`,
        {
          cause: error,
          context: { store: root },
        },
      );
    }
  }

  close(): void {
    this.lock?.release();
    this.lock = undefined;
    this.catalog.close();
  }

  get lockHolder() {
    return this.lock?.holder;
  }

  /**
   * Run `fn` holding the store's lock. Callers in this process queue behind each other (so `fn`
   * must not call `exclusive` itself: it works on the store directly). Throws STORE_LOCKED at
   * once when another process holds the lock.
   */
  async exclusive<T>(command: string, fn: () => Promise<T>, runId?: string): Promise<T> {
    const turn = this.queue.then(() => this.holdLockFor(command, fn, runId));
    this.queue = turn.then(
      () => undefined,
      () => undefined,
    );
    return turn;
  }

  private async holdLockFor<T>(command: string, fn: () => Promise<T>, runId?: string): Promise<T> {
    // On a full disk (a step filled it, then its runner died) the lock, the crash cleanup and
    // the run's records get the reserve: recover must work on the disk as the update left it.
    this.lock = await this.reserve.withSpaceAsync(() =>
      StoreLock.acquire(this.dir, runId === undefined ? { command } : { command, runId }),
    );
    try {
      const previous = this.lock.previousHolder;
      this.reserve.ensure();
      if (previous) await this.reserve.withSpaceAsync(() => this.cleanUpAfterCrash(previous.pid));
      return await fn();
    } finally {
      this.lock.release();
      this.lock = undefined;
    }
  }

  // A holder that died mid-backup leaves a pending row and objects that were never synced. The
  // backup is dropped (it was never complete) and every object no complete backup references is
  // deleted, so that a torn object is not later taken as a good copy by deduplication.
  private async cleanUpAfterCrash(previousPid: number): Promise<void> {
    // A backup may keep a part outside the store (a clone's snapshot database, the size of the
    // database): a half-made one is dropped with its row, or it would stay forever. First, while
    // the rows still say where (deleting a pending point deletes its members' rows).
    const pending = this.catalog.pendingBackups();
    const droppedPoints = this.catalog.pendingPoints();
    // A pending point's members may be complete (a clone member taken, the runner killed before
    // the next member): their outside parts go with the point too.
    const members = droppedPoints.flatMap((point) =>
      this.catalog.pointMembers(point).filter((m) => m.status !== "pending"),
    );
    const leaks: string[] = [];
    for (const row of [...pending, ...members]) {
      await externalDiscard?.(row).catch((error: unknown) =>
        leaks.push(`${row.id} (${row.source}): ${describeError(error)}`),
      );
    }
    if (leaks.length) {
      // Nothing else knows where they are once the rows go: the audit log names them.
      this.log.append({
        op: "crash-cleanup",
        outcome: "failed",
        detail: `could not drop what these incomplete backups keep outside the store; drop it by hand: ${leaks.join("; ")}`,
      });
    }
    for (const point of droppedPoints) this.catalog.deletePoint(point);
    const droppedBackups = pending.map((b) => b.id);
    for (const id of droppedBackups) this.catalog.deleteBackup(id);
    await this.clearTemp();
    const removedObjects = await this.objects.collectGarbage(this.catalog.referencedHashes());
    this.lastCrashCleanup = {
      previousPid,
      droppedBackups,
      droppedPoints,
      removedObjects,
      leaks,
    };
    this.log.append({
      op: "crash-cleanup",
      outcome: "ok",
      detail: `holder pid ${previousPid} died; dropped ${droppedBackups.length} incomplete backups, ${removedObjects} unreferenced objects`,
    });
  }

  /** Remove our own temporary files (`object-*`); nothing else, and never into a directory. */
  async clearTemp(): Promise<void> {
    for (const name of await readdir(this.tempDir)) {
      if (!name.startsWith("object-")) continue;
      const path = join(this.tempDir, name);
      if ((await lstat(path)).isDirectory()) continue;
      await rm(path, { force: true });
    }
  }
}
