import { backupDatabase } from "../backups/databases/kind.js";
import { discardSnapshot } from "../backups/databases/postgres-restore.js";
import { backupFiles } from "../backups/files/kind.js";
import { failedOperation, type PreparedRestore, prepareRestore } from "../backups/restore.js";
import { backupServices, recordedUnits } from "../backups/services/kind.js";
import type { ServiceManager } from "../backups/services/manager.js";
import { stopUnits, type UnitOutcome } from "../backups/services/restore.js";
import { describeError, GlobalRollbackError } from "../errors.js";
import { newId } from "../store/ids.js";
import type { Store } from "../store/store.js";
import { toBackupInfo } from "./convert.js";
import type {
  RollbackOperation,
  RollbackPoint,
  RollbackPointSpec,
  RollbackResult,
} from "./types.js";

/**
 * Take every member of a rollback point, or none: files first, then databases, then services
 * (recorded last, so they describe the state just before the update). A failed member removes
 * the members already taken (and a clone's snapshot database) and throws ROLLBACK_POINT_FAILED.
 */
export async function createPoint(
  store: Store,
  services: ServiceManager,
  spec: RollbackPointSpec,
): Promise<RollbackPoint> {
  const pointId = newId("point");
  store.catalog.insertPoint({
    id: pointId,
    module: spec.moduleName,
    description: spec.description,
    createdAt: store.clock(),
  });
  let seq = 0;
  const label = () => ({
    description: spec.description,
    moduleName: spec.moduleName,
    pointId,
    pointSeq: seq++,
  });
  try {
    for (const target of spec.files ?? []) {
      const { path, exclude } = typeof target === "string" ? { path: target, exclude: [] } : target;
      await backupFiles(store, { path, exclude: exclude ?? [], ...label() });
    }
    for (const database of spec.databases ?? []) await backupDatabase(store, database, label());
    if (spec.services?.length) await backupServices(store, services, spec.services, label());
    store.catalog.completePoint(pointId);
  } catch (error) {
    for (const member of store.catalog.pointMembers(pointId))
      await discardSnapshot(member).catch(() => undefined);
    try {
      store.catalog.deletePoint(pointId);
      await store.objects.collectGarbage(store.catalog.referencedHashes());
    } catch {
      // A full disk can refuse even this catalog write: the point stays pending, and crash
      // cleanup at the next lock drops it and its objects. What is reported is the first failure.
    }
    store.log.append({
      op: "rollback-point",
      outcome: "failed",
      pointId,
      detail: describeError(error),
    });
    throw new GlobalRollbackError(
      "ROLLBACK_POINT_FAILED",
      `rollback point for ${spec.moduleName} not created: ${describeError(error)}`,
      {
        cause: error,
        context: { pointId, ...(error instanceof GlobalRollbackError ? error.context : {}) },
      },
    );
  }
  store.log.append({ op: "rollback-point", outcome: "ok", pointId, moduleName: spec.moduleName });
  return loadPoint(store, pointId);
}

/**
 * Restore a rollback point in DESIGN.md's order: verify every member first (a member that fails
 * verification is left untouched and reported); stop the point's services; restore databases and
 * files in reverse order of backup; return the services to their recorded states. Every member
 * is attempted and reported; `ok` only if all succeeded.
 */
export async function restorePoint(
  store: Store,
  services: ServiceManager,
  pointId: string,
): Promise<RollbackResult> {
  const members = loadPoint(store, pointId).members.map(
    (m) => store.catalog.getBackup(m.backupId)!,
  );
  const prepared: Array<PreparedRestore | RollbackOperation> = [];
  for (const row of members) {
    prepared.push(
      await prepareRestore(store, row, services).catch((error) => failedOperation(row, error)),
    );
  }
  const units = members.filter((m) => m.type === "service").flatMap(recordedUnits);
  const stopped: UnitOutcome[] = await stopUnits(services, units);
  const operations: RollbackOperation[] = [];
  const run = async (item: PreparedRestore | RollbackOperation) =>
    "apply" in item ? await item.apply().catch((error) => failedOperation(item.row, error)) : item;
  for (const item of [...prepared].reverse())
    if (kindOf(item) !== "service") operations.push(await run(item));
  for (const item of prepared) if (kindOf(item) === "service") operations.push(await run(item));
  const ok = operations.every((o) => o.outcome !== "failed") && stopped.every((s) => s.ok);
  store.log.append({ op: "restore-point", outcome: ok ? "ok" : "failed", pointId });
  return { pointId, ok, stopped, operations };
}

function kindOf(item: PreparedRestore | RollbackOperation): string {
  return "apply" in item ? item.row.type : item.backupType;
}

export function loadPoint(store: Store, pointId: string): RollbackPoint {
  const point = store.catalog.getPoint(pointId);
  if (point?.status !== "complete") {
    throw new GlobalRollbackError(
      "BACKUP_NOT_FOUND",
      `no rollback point ${pointId} in store ${store.dir}`,
      {
        context: { pointId, store: store.dir },
      },
    );
  }
  return {
    pointId,
    moduleName: point.module,
    description: point.description,
    createdAt: new Date(point.createdAt),
    members: store.catalog.pointMembers(pointId).map(toBackupInfo),
  };
}
