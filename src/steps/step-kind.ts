// What every step kind supplies, and what it is given: the contract of the kinds in kinds/,
// registered in kinds/index.ts (the one table of step kinds).

import type { ServiceManager } from "../backups/services/manager.js";
import type { WrittenDatabase, WrittenStep } from "../manifest/types.js";
import type { Containment } from "../processes/containment.js";
import type { Clock } from "../util/clock.js";

export interface StepContext {
  manifestFile: string;
  databases: readonly WrittenDatabase[];
  services: ServiceManager;
  containment: Containment;
  signal: AbortSignal;
  onLines: (lines: string[], stream: "stdout" | "stderr") => void;
  /** For retries' backoff, checks' intervals and settle windows (the run's clock). */
  clock?: Clock;
}

/**
 * Why a step failed, for scripts (`--json`, history): it timed out, was interrupted, exited
 * non-zero, was killed by a signal, its check or SQL failed, or its kind is unknown.
 */
export type StepFailureCode =
  | "TIMEOUT"
  | "INTERRUPTED"
  | "EXIT"
  | "SIGNAL"
  | "CHECK"
  | "SQL"
  | "UNKNOWN_KIND";

/**
 * A step that did not succeed, with why, for the run's report. (`failure`, not `code`: an
 * error's `code` is an errno's to describeError, which would put it before the message.)
 */
export class StepFailure extends Error {
  constructor(
    message: string,
    readonly failure: StepFailureCode,
  ) {
    super(message);
  }

  get timedOut(): boolean {
    return this.failure === "TIMEOUT";
  }
}

/** One kind of step: how `plan` names it in one line, and how it runs (once: retries are
 * executeStep's). A failure throws, best a StepFailure with its code. */
export interface StepKindModule {
  summary(step: WrittenStep): string;
  execute(step: WrittenStep, ctx: StepContext): Promise<void>;
}
