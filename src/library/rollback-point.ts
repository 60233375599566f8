import { completePointMembers, createPoint, restorePoint } from "../backups/point.js";
import type { ServiceManager } from "../backups/services/manager.js";
import type { Store } from "../store/store.js";
import { toBackupInfo } from "./convert.js";
import type { RollbackPoint, RollbackPointSpec, RollbackResult } from "./types.js";

/** Take a rollback point (see backups/point.ts) and describe it as the library does. */
export async function createRollbackPoint(
  store: Store,
  services: ServiceManager,
  spec: RollbackPointSpec,
): Promise<RollbackPoint> {
  return loadPoint(store, await createPoint(store, services, spec));
}

export function restoreRollbackPoint(
  store: Store,
  services: ServiceManager,
  pointId: string,
): Promise<RollbackResult> {
  return restorePoint(store, services, pointId);
}

export function loadPoint(store: Store, pointId: string): RollbackPoint {
  const members = completePointMembers(store, pointId);
  const point = store.catalog.getPoint(pointId)!;
  return {
    pointId,
    moduleName: point.module,
    description: point.description,
    createdAt: new Date(point.createdAt),
    members: members.map(toBackupInfo),
  };
}
