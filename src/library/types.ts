import type { RollbackOperation, RollbackResult } from "../backups/outcomes.js";
import type { PointSpec } from "../backups/point-spec.js";
import type { BackupType } from "../store/rows.js";

// The restore's outcome types belong to the core (backups/); the facade re-exports them.
export type { BackupType, RollbackOperation, RollbackResult };

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

/** One problem `verifyBackup` found. */
export interface VerifyProblem {
  backupId: string;
  path: string;
  hash: string;
  /** `listing`: the backup's listing itself is damaged (`hash` is empty, `detail` says how). */
  problem: "missing" | "mismatch" | "listing" | "external";
  detail?: string;
}

export interface VerifyReport {
  backupId: string;
  ok: boolean;
  objectsChecked: number;
  problems: VerifyProblem[];
  /** What is worth knowing and is not damage (a clone snapshot a rollback used). */
  notes?: string[];
}

export interface CleanupOptions {
  /** Backups older than this many days may be removed... */
  maxAgeDays: number;
  /** ...but the newest `keepMinimum` of each module are always kept. */
  keepMinimum: number;
  /**
   * Instead of the two above, a policy in restic's terms: a unit (a backup, or a whole rollback
   * point) is kept when any rule keeps it. Per module.
   */
  policy?: RetentionPolicy;
  /** Decide and report, remove nothing. */
  dryRun?: boolean;
}

/** Which units to keep, per module; a unit any rule keeps is kept. */
export interface RetentionPolicy {
  /** The newest n. */
  keepLast?: number;
  /** The newest of each of the last n days that have one (local time). */
  keepDaily?: number;
  /** The newest of each of the last n ISO weeks that have one. */
  keepWeekly?: number;
  /** The newest of each of the last n months that have one. */
  keepMonthly?: number;
  /** Every one newer than this many milliseconds. */
  keepWithinMs?: number;
}

export interface CleanupResult {
  /** True when nothing was removed on purpose: `decisions` says what a real run would do. */
  dryRun: boolean;
  removedBackups: string[];
  removedPoints: string[];
  /** Points kept only because an unfinished run may still need them. */
  heldPoints: string[];
  /** Backups kept because what they hold outside the store could not be dropped. */
  kept: Array<{ backupId: string; reason: string }>;
  removedObjects: number;
  /**
   * Finished runs whose rollback point is gone (removed now, or before), with their logs: a run
   * record outlives nothing it could roll back. Runs without a point are kept.
   */
  removedRuns: string[];
  /** Every unit of every module, newest first, and why it is kept or removed. */
  decisions: RetentionDecision[];
}

/** What retention does with one unit (a standalone backup, or a whole rollback point). */
export interface RetentionDecision {
  module: string;
  /** The point's id, or the backup's. */
  unit: string;
  backupIds: string[];
  createdAt: Date;
  action: "keep" | "remove";
  /** For a kept unit, every rule that keeps it (`keep-last`, `keep-daily 2026-11-25`, ...). */
  reasons: string[];
}

/** What restoring one backup would change, read from the live system; nothing is changed. */
export interface RestorePreview {
  backupId: string;
  backupType: BackupType;
  source: string;
  /** One line per path, unit or database that differs from the backup, saying how. */
  changes: string[];
}
