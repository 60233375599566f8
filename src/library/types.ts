import type { DatabaseConfig } from "../backups/databases/config.js";
import type { UnitOutcome } from "../backups/services/restore.js";
import type { ErrorCode } from "../errors.js";
import type { BackupType } from "../store/catalog.js";

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

/** One member's outcome in a restore. */
export interface RollbackOperation {
  backupId: string;
  backupType: BackupType;
  source: string;
  /** `restored`: something was changed back; `unchanged`: the live state already matched. */
  outcome: "restored" | "unchanged" | "failed";
  /** For a file backup: what was rewritten, removed, or only had its metadata put back. */
  changes?: { removed: number; written: number; metadata: number };
  /** For a service backup: every unit's outcome. */
  units?: UnitOutcome[];
  /** How it was done, in words (a database's restore path, say). */
  detail?: string;
  /** For a PostgreSQL swap: how long the database was unavailable, and the old copy's drop. */
  timings?: { swapMs: number; dropMs: number };
  warnings: string[];
  error?: { code: ErrorCode; message: string };
}

/** A set of backups taken together, restored together. */
export interface RollbackPoint {
  pointId: string;
  moduleName: string;
  description: string;
  createdAt: Date;
  members: BackupInfo[];
}

/** What `restoreRollbackPoint` did, member by member, in the order it did it. */
export interface RollbackResult {
  pointId: string;
  ok: boolean;
  /** The point's services stopped before any data was restored (DESIGN.md's order). */
  stopped: UnitOutcome[];
  operations: RollbackOperation[];
}

/** A file or directory to protect, with optional exclude globs. */
export type FileTarget = string | { path: string; exclude?: string[] };

export interface RollbackPointSpec {
  moduleName: string;
  description: string;
  files?: FileTarget[];
  /** systemd units whose enablement and activity to record. */
  services?: string[];
  databases?: DatabaseConfig[];
}

/** One problem `verifyBackup` found. */
export interface VerifyProblem {
  backupId: string;
  path: string;
  hash: string;
  /** `listing`: the backup's listing itself is damaged (`hash` is empty, `detail` says how). */
  problem: "missing" | "mismatch" | "listing";
  detail?: string;
}

export interface VerifyReport {
  backupId: string;
  ok: boolean;
  objectsChecked: number;
  problems: VerifyProblem[];
}

export interface CleanupOptions {
  /** Backups older than this many days may be removed... */
  maxAgeDays: number;
  /** ...but the newest `keepMinimum` of each module are always kept. */
  keepMinimum: number;
}
