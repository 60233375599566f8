import type { DatabaseConfig } from "../backups/databases/config.js";
import { databaseKind } from "../backups/databases/kind.js";
import { backupFiles } from "../backups/files/kind.js";
import { PointRestore } from "../backups/point.js";
import { previewRestore } from "../backups/preview.js";
import { failedOperation, prepareRestore } from "../backups/restore.js";
import { cleanUp } from "../backups/retention.js";
import { backupServices } from "../backups/services/kind.js";
import type { ServiceManager } from "../backups/services/manager.js";
import { SystemdServiceManager } from "../backups/services/systemd.js";
import { verifyBackupObjects } from "../backups/verify.js";
import { GlobalRollbackError } from "../errors.js";
import type { BackupRow } from "../store/catalog.js";
import type { Entry } from "../store/entry.js";
import { assertValidId } from "../store/ids.js";
import { defaultStoreDir } from "../store/location.js";
import { Store } from "../store/store.js";
import { toBackupInfo } from "./convert.js";
import { createRollbackPoint, loadPoint, restoreRollbackPoint } from "./rollback-point.js";
import type {
  BackupInfo,
  BackupType,
  CleanupOptions,
  CleanupResult,
  RestorePreview,
  RollbackOperation,
  RollbackPoint,
  RollbackPointSpec,
  RollbackResult,
  VerifyReport,
} from "./types.js";

/** Options for {@link GlobalRollback}. */
export interface GlobalRollbackOptions {
  /** The store directory; defaults to `ROLLPOINT_STORE` or the per-user default. */
  backupDir?: string;
  /** Named in the store's lock, so a second writer's error says who holds it. */
  command?: string;
  /**
   * The clock backups are stamped with (milliseconds since the epoch). For tests: a file changed
   * within two seconds of a backup is always re-read by the next one, and a clock set ahead makes
   * a freshly written tree count as settled.
   */
  clock?: () => number;
  /** How services are queried and driven; systemd's `systemctl` by default. */
  serviceManager?: ServiceManager;
  /** Never create the store: a missing one is an error (`INVALID_ARGUMENT`, "no rollpoint store"). */
  mustExist?: boolean;
}

/**
 * Backups and rollback points in one store: the original utility's API, made safe. Every
 * change takes the store's lock for its duration; reads do not.
 *
 * @example
 * const rollback = new GlobalRollback({ backupDir: "/var/backups/rollpoint" });
 * const point = await rollback.createRollbackPoint({ moduleName: "app", description: "pre 2.1", files: ["/etc/app"] });
 * try { await update(); } catch { await rollback.restoreRollbackPoint(point); }
 */
export class GlobalRollback {
  /** The store directory in use. */
  readonly backupDir: string;
  private readonly command: string;
  private readonly clock: (() => number) | undefined;
  private readonly services: ServiceManager;
  private storePromise: Promise<Store> | undefined;
  private readonly mustExist: boolean;

  constructor(options: GlobalRollbackOptions = {}) {
    this.backupDir = options.backupDir ?? defaultStoreDir();
    this.command = options.command ?? `library (${process.argv[1] ?? "node"})`;
    this.clock = options.clock;
    this.services = options.serviceManager ?? new SystemdServiceManager();
    this.mustExist = options.mustExist ?? false;
  }

  /**
   * The opened store; opened on first use. For the CLI and tests; not a stable API.
   * @internal
   */
  store(): Promise<Store> {
    this.storePromise ??= Store.open(this.backupDir, {
      ...(this.clock ? { clock: this.clock } : {}),
      mustExist: this.mustExist,
    });
    return this.storePromise;
  }

  /** Close the catalog. The instance can not be used afterwards. */
  async close(): Promise<void> {
    if (this.storePromise) (await this.storePromise).close();
    this.storePromise = undefined;
  }

  private async exclusive<T>(fn: (store: Store) => Promise<T>): Promise<T> {
    const store = await this.store();
    return store.exclusive(this.command, () => fn(store));
  }

  /**
   * Back up a file, a directory tree, or a path that does not exist (recorded as absent, so a
   * restore removes what the update created there).
   * @throws GlobalRollbackError `BACKUP_FAILED`, `INVALID_ARGUMENT`, `STORE_LOCKED`
   */
  async backupFile(
    path: string,
    description: string,
    moduleName: string,
    options: { exclude?: string[] } = {},
  ): Promise<BackupInfo> {
    requireText({ description, moduleName });
    return this.exclusive(async (store) =>
      toBackupInfo(
        await backupFiles(store, { path, exclude: options.exclude ?? [], description, moduleName }),
      ),
    );
  }

  /**
   * Put a backup back. Every object it needs is re-hashed first; a damaged one fails with
   * `VERIFY_FAILED` and nothing live is touched. Only what differs is rewritten, so restoring
   * twice is harmless. Resolves to `true`; every failure is a thrown {@link GlobalRollbackError}
   * (the original returned `false` and lost the reason).
   */
  async restoreBackup(backupId: string): Promise<boolean> {
    const operation = await this.restoreBackupDetailed(backupId);
    return operation.outcome !== "failed";
  }

  /** Like {@link restoreBackup}, with what changed. */
  async restoreBackupDetailed(backupId: string): Promise<RollbackOperation> {
    return this.exclusive(async (store) => {
      const row = requireBackup(store, backupId);
      const prepared = await prepareRestore(store, row, this.services);
      const operation = await prepared.apply().catch((error) => failedOperation(row, error));
      store.log.append({
        op: "restore",
        outcome: operation.outcome === "failed" ? "failed" : "ok",
        backupId,
        path: row.source,
        ...(operation.error ? { detail: operation.error.message } : {}),
      });
      if (operation.error) {
        throw new GlobalRollbackError(operation.error.code, operation.error.message, {
          context: { backupId },
        });
      }
      return operation;
    });
  }

  /**
   * Record the state (ActiveState, UnitFileState) of systemd units. A unit that does not exist
   * fails the backup, naming it.
   */
  async backupServices(
    services: string[],
    description: string,
    moduleName: string,
  ): Promise<BackupInfo> {
    requireText({ description, moduleName });
    return this.exclusive(async (store) =>
      toBackupInfo(
        await backupServices(store, this.services, services, { description, moduleName }),
      ),
    );
  }

  /**
   * Back up a SQLite database (online backup API, integrity-checked) or a PostgreSQL database
   * (`strategy: "dump"`, pg_dump into the store, or `"clone"`, a template copy on the server).
   */
  async backupDatabase(
    config: DatabaseConfig,
    description: string,
    moduleName: string,
  ): Promise<BackupInfo> {
    requireText({ description, moduleName });
    return this.exclusive(async (store) =>
      toBackupInfo(
        await databaseKind(config.type).backup(store, config, { description, moduleName }),
      ),
    );
  }

  /**
   * Back up everything an update touches, whole or not at all: if any member fails, the members
   * already taken are removed and `ROLLBACK_POINT_FAILED` is thrown.
   */
  async createRollbackPoint(spec: RollbackPointSpec): Promise<RollbackPoint> {
    requireText({ description: spec.description, moduleName: spec.moduleName });
    return this.exclusive((store) => createRollbackPoint(store, this.services, spec));
  }

  /** A rollback point by id, as `createRollbackPoint` returned it. */
  async getRollbackPoint(pointId: string): Promise<RollbackPoint> {
    assertValidId(pointId, "rollback point id");
    return loadPoint(await this.store(), pointId);
  }

  /**
   * Restore a rollback point in the documented order (docs/rollback-semantics.md): verify every member, stop the point's
   * services, restore databases and files in reverse order of backup, then return the services
   * to their recorded states. Every member is attempted and reported; `ok` only if all were.
   */
  async restoreRollbackPoint(point: RollbackPoint | string): Promise<RollbackResult> {
    const pointId = typeof point === "string" ? point : point.pointId;
    assertValidId(pointId, "rollback point id");
    return this.exclusive((store) => restoreRollbackPoint(store, this.services, pointId));
  }

  /**
   * What restoring a backup or a rollback point (`p-…`) would change, member by member, read
   * from the live system: paths and the attributes that differ, unit actions, databases that
   * would be replaced. Changes nothing and takes no lock.
   */
  async previewRestore(id: string): Promise<RestorePreview[]> {
    const store = await this.store();
    if (id.startsWith("p-")) {
      assertValidId(id, "rollback point id");
      const members = new PointRestore(store, this.services, id).membersInRestoreOrder();
      return previewRestore(store, this.services, members);
    }
    return previewRestore(store, this.services, [requireBackup(store, id)]);
  }

  /** Complete backups, newest first, optionally of one module or one type. */
  async listBackups(
    filter: { moduleName?: string; backupType?: BackupType } = {},
  ): Promise<BackupInfo[]> {
    const store = await this.store();
    return store.catalog
      .listBackups({
        ...(filter.moduleName === undefined ? {} : { module: filter.moduleName }),
        ...(filter.backupType === undefined ? {} : { type: filter.backupType }),
      })
      .map(toBackupInfo);
  }

  /** One complete backup. @throws `BACKUP_NOT_FOUND`, `INVALID_BACKUP_ID` */
  async getBackup(backupId: string): Promise<BackupInfo> {
    return toBackupInfo(requireBackup(await this.store(), backupId));
  }

  /** The listing of a file backup: every path with its type, mode, owner, mtime and hash. */
  async getListing(backupId: string) {
    const store = await this.store();
    requireBackup(store, backupId);
    return store.catalog.entries(backupId);
  }

  /**
   * The same listing one entry at a time, in memory bounded at any size. A damaged listing may
   * throw only at its end (`VERIFY_FAILED`). @throws `BACKUP_NOT_FOUND`, `INVALID_BACKUP_ID`
   */
  async eachListingEntry(backupId: string): Promise<Iterable<Entry>> {
    const store = await this.store();
    requireBackup(store, backupId);
    return store.catalog.eachEntry(backupId);
  }

  /** Re-hash every object of a backup (all backups when no id is given). */
  async verifyBackups(backupId?: string): Promise<VerifyReport[]> {
    const store = await this.store();
    const rows =
      backupId === undefined ? store.catalog.listBackups() : [requireBackup(store, backupId)];
    const reports: VerifyReport[] = [];
    for (const row of rows) reports.push(await verifyBackupObjects(store, row));
    return reports;
  }

  /**
   * Remove old backups: per module, those older than `maxAgeDays` beyond the newest
   * `keepMinimum`; never a rollback point an unfinished run needs. Returns how many were removed.
   */
  async cleanupOldBackups(options: CleanupOptions): Promise<number> {
    return (await this.cleanupOldBackupsDetailed(options)).removedBackups.length;
  }

  /** Like {@link cleanupOldBackups}, with what was removed and what was held. */
  async cleanupOldBackupsDetailed(options: CleanupOptions): Promise<CleanupResult> {
    if (!(options.maxAgeDays >= 0) || !(options.keepMinimum >= 0)) {
      throw new GlobalRollbackError(
        "INVALID_ARGUMENT",
        `maxAgeDays and keepMinimum must be numbers >= 0, got ${options.maxAgeDays} and ${options.keepMinimum}`,
      );
    }
    return this.exclusive((store) => cleanUp(store, options));
  }
}

function requireBackup(store: Store, backupId: string): BackupRow {
  assertValidId(backupId);
  const row = store.catalog.getBackup(backupId);
  if (row?.status !== "complete") {
    throw new GlobalRollbackError(
      "BACKUP_NOT_FOUND",
      `no backup ${backupId} in store ${store.dir}`,
      {
        context: { backupId, store: store.dir },
      },
    );
  }
  return row;
}

function requireText(fields: Record<string, unknown>): void {
  for (const [name, value] of Object.entries(fields)) {
    if (typeof value !== "string" || value.trim() === "") {
      throw new GlobalRollbackError(
        "INVALID_ARGUMENT",
        `${name} must be a non-empty string, got ${JSON.stringify(value)}`,
      );
    }
  }
}
