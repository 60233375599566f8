import type { BackupRow } from "../store/catalog.js";
import type { BackupInfo } from "./types.js";

export function toBackupInfo(row: BackupRow): BackupInfo {
  return {
    backupId: row.id,
    backupType: row.type,
    moduleName: row.module,
    description: row.description,
    createdAt: new Date(row.createdAt),
    timestamp: row.createdAt / 1000,
    source: row.source,
    ...(row.pointId ? { pointId: row.pointId } : {}),
    metadata: { moduleName: row.module, ...row.meta },
  };
}
