import { GlobalRollback } from "./global-rollback.js";

/** A {@link GlobalRollback} on `backupDir` (or the default store). */
export function createGlobalRollback(backupDir?: string): GlobalRollback {
  return new GlobalRollback(backupDir === undefined ? {} : { backupDir });
}

/** Back up one path in the default store (or `backupDir`) and return the backup's id. */
export async function backupFileSimple(
  path: string,
  description: string,
  moduleName: string,
  backupDir?: string,
): Promise<string> {
  const rollback = createGlobalRollback(backupDir);
  try {
    return (await rollback.backupFile(path, description, moduleName)).backupId;
  } finally {
    await rollback.close();
  }
}

/** Restore one backup from the default store (or `backupDir`). */
export async function restoreBackupSimple(backupId: string, backupDir?: string): Promise<boolean> {
  const rollback = createGlobalRollback(backupDir);
  try {
    return await rollback.restoreBackup(backupId);
  } finally {
    await rollback.close();
  }
}
