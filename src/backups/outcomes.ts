// What a restore reports, apart from the code that restores: the public declarations name these
// types, and they must not pull in the store's (better-sqlite3's) types with them.
import type { ErrorCode } from "../errors.js";
import type { BackupType } from "../store/rows.js";
import type { UnitOutcome } from "./services/restore.js";

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
  /** Set when the member was restored but could not be read back and compared: no proof. */
  unproven?: string;
  error?: { code: ErrorCode; message: string };
}

/** What `restoreRollbackPoint` did, member by member, in the order it did it. */
export interface RollbackResult {
  pointId: string;
  ok: boolean;
  /** The point's services stopped before any data was restored (the order docs/rollback-semantics.md gives). */
  stopped: UnitOutcome[];
  operations: RollbackOperation[];
}

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
