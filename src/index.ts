// The public API of rollpoint. Everything not exported here is internal and may change.
export type {
  Consistency,
  ContainerConfig,
  ContainerEngineName,
  WrittenContainerConfig as ContainerMemberSpec,
} from "./backups/containers/config.js";
export type {
  DatabaseConfig,
  PostgresDatabase,
  SqliteDatabase,
} from "./backups/databases/config.js";
export type { Entry as ListingEntry, EntryKind } from "./backups/files/entry.js";
export type { ServiceAction, ServiceManager, UnitState } from "./backups/services/manager.js";
export type { UnitOutcome } from "./backups/services/restore.js";
export { SystemdServiceManager } from "./backups/services/systemd.js";
export { type ErrorCode, type ErrorContext, GlobalRollbackError } from "./errors.js";
export {
  backupFileSimple,
  createGlobalRollback,
  restoreBackupSimple,
} from "./library/convenience.js";
export { GlobalRollback, type GlobalRollbackOptions } from "./library/global-rollback.js";
export { type PostgresPreflight, preflightPostgres } from "./library/postgres-preflight.js";
export type {
  BackupInfo,
  BackupType,
  CleanupOptions,
  CleanupResult,
  FileTarget,
  RestorePreview,
  RetentionDecision,
  RetentionPolicy,
  RollbackOperation,
  RollbackPoint,
  RollbackPointSpec,
  RollbackResult,
  VerifyProblem,
  VerifyReport,
} from "./library/types.js";
export { defaultStoreDir } from "./store/location.js";
