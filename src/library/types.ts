import type { PointSpec } from "../backups/point-spec.js";
import type { BackupType } from "../store/rows.js";

// The restore's outcome types belong to the core (backups/); the facade re-exports them.
export type {
  CleanupOptions,
  CleanupResult,
  RestorePreview,
  RetentionDecision,
  RetentionPolicy,
  RollbackOperation,
  RollbackResult,
  VerifyProblem,
  VerifyReport,
} from "../backups/outcomes.js";
export type { BackupType };

/** A backup in the store, as `backupFile` returns it and `listBackups` lists it. */
export interface BackupInfo {
  backupId: string;
  backupType: BackupType;
  moduleName: string;
  description: string;
  createdAt: Date;
  /** Seconds since the epoch, as the original utility gave it. */
  timestamp: number;
  /** What was backed up: an absolute path for a file backup. */
  source: string;
  /** The rollback point this backup belongs to, if any. */
  pointId?: string;
  /** Counts, excludes and warnings recorded with the backup. */
  metadata: Record<string, unknown>;
}

/** A set of backups taken together, restored together. */
export interface RollbackPoint {
  pointId: string;
  moduleName: string;
  description: string;
  createdAt: Date;
  members: BackupInfo[];
}

/** A file or directory to protect, with optional exclude globs. */
export type FileTarget = string | { path: string; exclude?: string[] };

/** What a rollback point holds (files, services, databases), under a module and a description. */
export type RollbackPointSpec = PointSpec;
