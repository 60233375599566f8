// What a run reports and takes: shared by the runner, its effects, recover and the CLI.
import type { RollbackResult } from "../backups/operation.js";
import type { ServiceManager } from "../backups/services/manager.js";
import type { WrittenManifest } from "../manifest/types.js";
import type { NotificationReport } from "../notify/send.js";
import type { Plan } from "../plan/plan.js";
import type { Store } from "../store/store.js";
import type { Clock } from "../util/clock.js";
import type { WatchProcess } from "./watch.js";

export type Outcome =
  | "committed"
  | "rolledBack"
  | "rollbackFailed"
  | "notStarted"
  | "failed"
  | "failedForward"
  /** A committed run its watch rolled back: a check failed within the window after the commit. */
  | "watchRolledBack";

export interface StepReport {
  id: string;
  status: "succeeded" | "failed" | "skipped" | "pending" | "failedContinued";
  durationMs?: number;
  error?: string;
  /**
   * Why it failed, for scripts: a StepFailureCode (TIMEOUT, INTERRUPTED, EXIT, SIGNAL, CHECK,
   * SQL, UNKNOWN_KIND) or the code of the error it raised (SERVICE_FAILED, ...).
   */
  code?: string;
  /** The last lines the step printed, for the report of a failed step. */
  lastLines?: string[];
}

export interface UndoReport {
  stepId: string;
  ok: boolean;
  detail: string;
}

export interface RunResult {
  runId: string;
  outcome: Outcome;
  pointId: string | null;
  error: string | null;
  steps: StepReport[];
  undos: UndoReport[];
  rollback?: RollbackResult;
  /** Why the rollback could not begin: a step's processes that even SIGKILL did not stop. */
  survivors?: string;
  /** The `finally` steps that ran after the outcome (their failures never change it). */
  finally?: StepReport[];
  /** For a `rollpoint rollback` run: the run it reverted. */
  reverts?: string;
  /** keepFailedState: the rollback point holding the state the failure left, taken first. */
  evidencePointId?: string;
  /** A committed run's watch: until when, where it runs; or why it could not start. */
  watch?: { until: string | null; unit?: string; pid?: number; error?: string };
  /** The notifications sent of the outcome (their failures never change it). */
  notifications?: NotificationReport[];
}

/** What the runner tells its caller as it goes (the CLI prints it). */
export type Progress =
  | { type: "state"; state: string }
  | { type: "step-start"; stepId: string }
  | { type: "step-lines"; stepId: string; lines: string[] }
  | { type: "step-end"; step: StepReport };

export interface RunOptions {
  manifestFile: string;
  manifest: WrittenManifest;
  plan: Plan;
  store: Store;
  services: ServiceManager;
  noRollback?: boolean;
  onProgress?: (p: Progress) => void;
  /** Starts the process of a committed run's watch (the CLI's; without it, no watch starts). */
  startWatch?: (runId: string) => WatchProcess;
  /** The run's clock: the machine's timeout, checks, retries (the system's when absent). */
  clock?: Clock;
}

/** A run under way: its result, and a way to interrupt it (SIGINT, SIGTERM). */
export interface RunHandle {
  runId: string;
  result: Promise<RunResult>;
  /** Roll back now; returns false when a rollback is already under way. */
  interrupt(reason: string): boolean;
}

export const OUTCOME_STATES = new Set([
  "committed",
  "rolledBack",
  "rollbackFailed",
  "notStarted",
  "failed",
  "failedForward",
]);
