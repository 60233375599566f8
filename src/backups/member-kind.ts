// What every member kind of a rollback point supplies. The kinds themselves live in their
// folders (files/, databases/, services/) and are registered in members.ts, the one table that
// says which kinds exist and in which order a point takes them.

import type { RuleCode } from "../manifest/diagnostics.js";
import type { Finding, RuleContext } from "../manifest/findings.js";
import type { WrittenRollbackPoint, WrittenStep } from "../manifest/types.js";
import type { StoredListing } from "../store/catalog.js";
import type { BackupRow, BackupType } from "../store/rows.js";
import type { Store } from "../store/store.js";
import type { ContainerConfig } from "./containers/config.js";
import type { DatabaseConfig } from "./databases/config.js";
import type { PreparedRestore } from "./operation.js";
import type { RollbackOperation } from "./outcomes.js";
import type { PackageEntry } from "./packages/config.js";
import type { BackupLabel } from "./record.js";
import type { ServiceManager } from "./services/manager.js";

/** One thing preflight looked at. */
export interface PreflightCheck {
  ok: boolean;
  /** Passes, but worth a look: a path that does not exist (a typo looks the same). */
  warning?: boolean;
  subject: string;
  detail: string;
}

/** What a kind's preflight found, and what its backup would add to the store. */
export interface KindPreflight {
  checks: PreflightCheck[];
  /** Bytes, in whole blocks, after deduplication (an estimate). */
  newBytes: number;
  /** Files (so inodes) it would add. */
  newFiles: number;
}

export interface PreflightContext {
  storeDir: string;
  services: ServiceManager;
  /** The store's block size: objects take whole blocks. */
  blockSize: number;
  /** The last complete listing of a file source, for what changed since. */
  previousListing(source: string): StoredListing | undefined;
}

export interface TakeContext {
  store: Store;
  services: ServiceManager;
  /** The label of the next backup of the point: each call is the next member (its seq). */
  label(): BackupLabel;
  /**
   * Aborted when the run is interrupted (a signal, its timeout) while the point is taken: a
   * kind that reads for long checks it between reads and throws (see `throwIfInterrupted`).
   */
  signal?: AbortSignal;
}

/** A member as the plan and the machine name it: `key` is its restore state's name. */
export interface PlannedMemberOf {
  key: string;
  target: string;
  /**
   * A member of another kind that this one takes along, with that kind's type and phase (the
   * services a packages member's packages ship: a state member, returned after all the data).
   */
  as?: { type: BackupType; phase: "data" | "state" };
}

/** What each kind's entries are in the resolved manifest (the library's RollbackPointSpec). */
export interface MemberEntries {
  files: { path: string; exclude: string[] };
  databases: DatabaseConfig;
  services: string;
  containers: ContainerConfig;
  packages: PackageEntry;
}

/**
 * One kind of rollback-point member. `data` members are restored last taken first while the
 * point's services are stopped; a `state` member (services) is returned after all of them.
 * `E` is an entry as the resolved manifest holds it, `W` as it is written.
 */
export interface MemberKind<E, W = E> {
  /** The catalog's type of its backups. */
  readonly type: BackupType;
  readonly phase: "data" | "state";
  /** How the outcome names what it proved: one, many; and how many an operation of it counts. */
  readonly noun: readonly [one: string, many: string];
  countOf?(operation: RollbackOperation): number;
  /** What validate finds that the schema cannot say; paths relative to the kind's list. */
  readonly rules?: {
    code: RuleCode;
    check(entries: readonly W[], context: RuleContext): Finding[];
  };
  /**
   * Fill in the entries' defaults once, with the caller's environment (`point`: the whole
   * rollback point, for a kind whose entries depend on another's). Absent: taken as written.
   */
  resolve?(
    entries: readonly W[],
    env: NodeJS.ProcessEnv,
    point: WrittenRollbackPoint,
    steps: readonly WrittenStep[],
  ): E[];
  /** The entries as `plan` prints them, a line each. */
  planLines(entries: readonly E[]): string[];
  /** The entries for the point that keeps the failed state (keepFailedState); as they are if absent. */
  forEvidence?(entries: readonly E[]): E[];
  /** One planned member per backup taking `entries` makes, in the order it makes them. */
  members(entries: readonly E[]): PlannedMemberOf[];
  /** Can its members be taken, and what will they cost? Reads only. */
  preflight(entries: readonly E[], context: PreflightContext): Promise<KindPreflight>;
  /** Take its members of the point, one backup per planned member, each with `label()`. */
  take(entries: readonly E[], context: TakeContext): Promise<void>;
  /** Verify what a restore of `row` reads (throws VERIFY_FAILED), and say how to apply it. */
  prepareRestore(store: Store, row: BackupRow, services: ServiceManager): Promise<PreparedRestore>;
  /** What a restore of `row` would change now, line by line (`restore --dry-run`). */
  preview(store: Store, row: BackupRow, services: ServiceManager): Promise<string[]>;
  /** Lines for `backups show` from a backup's metadata. */
  describeBackup(meta: Record<string, unknown>): string[];
  /**
   * Before any member of the point is restored, stop what would write into it (a member's
   * containers), so that nothing runs on half-restored data; returns what it stopped. Optional.
   */
  quiesce?(row: BackupRow): Promise<string[]>;
  /** Drop what a backup keeps outside the store (a clone's snapshot database), if anything. */
  discardExternal(row: BackupRow): Promise<void>;
  /**
   * What a committed run no longer needs outside the store (a clone's snapshot database); the
   * rest stays as long as the point does (a container member's images).
   */
  afterCommit(row: BackupRow): Promise<void>;
  /**
   * A restore uses its part outside the store up (a clone's snapshot is swapped in): once a run
   * restored it, its absence is no damage.
   */
  readonly restoreConsumesExternal?: boolean;
  /** What is wrong with the backup's part outside the store, if anything (`verify`). */
  checkExternal(row: BackupRow): Promise<string | undefined>;
}

/** For kinds that keep nothing outside the store. */
export const NOTHING_OUTSIDE = {
  discardExternal: async (): Promise<void> => {},
  afterCommit: async (): Promise<void> => {},
  checkExternal: async (): Promise<string | undefined> => undefined,
};
