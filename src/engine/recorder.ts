import { closeSync, mkdirSync, openSync, writeSync } from "node:fs";
import { join } from "node:path";
import { PointRestore } from "../backups/point.js";
import type { ServiceManager } from "../backups/services/manager.js";
import { describeError, GlobalRollbackError } from "../errors.js";
import { StepFailure } from "../steps/execute.js";
import type { Store } from "../store/store.js";
import type { RunOptions, RunResult, StepReport, UndoReport } from "./types.js";

/**
 * How much of one step's output the run's log keeps: a step stuck printing in a loop must not
 * fill the store's disk, which the rollback needs.
 */
const STEP_LOG_LIMIT = 64 * 2 ** 20;

/** Step reports and the run's log file. */
export class StepRecorder {
  private readonly byId = new Map<string, StepReport>();
  readonly undos: UndoReport[] = [];
  survivors: string | undefined;
  /** keepFailedState: the point holding the failed state, taken before the rollback. */
  evidencePointId: string | undefined;
  private readonly kindOf = new Map<string, "step" | "finally">();
  private readonly finallyReports: StepReport[] = [];
  private restore: PointRestore | undefined;
  private fd: number | undefined;

  private readonly continuing = new Set<string>();

  constructor(
    private readonly options: Pick<RunOptions, "plan" | "store" | "onProgress">,
    runId: string,
  ) {
    for (const s of options.plan.steps) {
      this.byId.set(s.id, { id: s.id, status: "pending" });
      if (s.continueOnError) this.continuing.add(s.id);
    }
    const dir = join(options.store.dir, "logs");
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    this.fd = openSync(join(dir, `${runId}.log`), "a", 0o600);
  }

  /**
   * Append lines to the run's log, one write per batch: a step printing 50 MB costs a write per
   * 64 KiB read from it, not one per line.
   */
  /** Output of something that is not a step (an undo): into the log, and shown as it comes. */
  relay(source: string, lines: readonly string[]): void {
    this.log(source, lines);
    this.options.onProgress?.({ type: "step-lines", stepId: source, lines: [...lines] });
  }

  log(source: string, lines: readonly string[]): number {
    if (this.fd === undefined || lines.length === 0) return 0;
    const prefix = `${new Date().toISOString()} [${source}] `;
    try {
      return writeSync(this.fd, `${prefix}${lines.join(`\n${prefix}`)}\n`);
    } catch {
      // The log is the run's record, not the run: a full disk stops the log, never the update
      // or its rollback.
      return 0;
    }
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }

  async run(
    stepId: string,
    work: (onLines: (lines: string[]) => void) => Promise<unknown>,
    kind: "step" | "finally" = "step",
  ): Promise<void> {
    this.kindOf.set(stepId, kind);
    let tail: string[] = [];
    let logged = 0;
    let dropped = 0;
    const started = performance.now();
    this.options.onProgress?.({ type: "step-start", stepId });
    this.log(stepId, ["started"]);
    const onLines = (lines: string[]) => {
      tail = [...tail, ...lines.slice(-20)].slice(-20);
      // Only the lines that fit in what is left of the step's share; the rest are counted.
      const prefix = `${new Date().toISOString()} [${stepId}] `.length;
      let fit = 0;
      let cost = 0;
      while (
        fit < lines.length &&
        logged + cost + prefix + lines[fit]!.length + 1 <= STEP_LOG_LIMIT
      )
        cost += prefix + lines[fit++]!.length + 1;
      if (fit > 0) logged += this.log(stepId, fit === lines.length ? lines : lines.slice(0, fit));
      dropped += lines.length - fit;
      this.options.onProgress?.({ type: "step-lines", stepId, lines });
    };
    const noteDropped = () => {
      if (dropped)
        this.log(stepId, [
          `… ${dropped} more lines not logged: a step keeps at most ${STEP_LOG_LIMIT / 2 ** 20} MiB of output in the run's log`,
        ]);
    };
    const continues = this.continuing.has(stepId);
    try {
      await work(onLines);
      noteDropped();
      this.finish({ id: stepId, status: "succeeded", durationMs: performance.now() - started });
    } catch (error) {
      const message = describeError(error);
      noteDropped();
      this.log(stepId, [`failed: ${message}`]);
      this.finish({
        id: stepId,
        status: continues ? "failedContinued" : "failed",
        durationMs: performance.now() - started,
        error: message,
        code: failureCode(error),
        lastLines: tail.slice(-10),
      });
      throw error;
    }
  }

  /**
   * `recover`: what the dead runner's steps did, as far as its last recorded state tells: the
   * completed ones succeeded, the one it was in was cut off (its durations and output are in the
   * log it wrote, not in the catalog).
   */
  resumeFrom(completed: readonly string[], interruptedIn: string): void {
    for (const id of completed) {
      const report = this.byId.get(id);
      if (report) this.byId.set(id, { ...report, status: "succeeded" });
    }
    const cut = interruptedIn.startsWith("step.") ? interruptedIn.slice("step.".length) : null;
    if (cut !== null && this.byId.has(cut) && !completed.includes(cut)) {
      this.byId.set(cut, {
        id: cut,
        status: "failed",
        error: "the runner died while this step ran",
        code: "INTERRUPTED",
      });
    }
  }

  private finish(report: StepReport): void {
    if (this.kindOf.get(report.id) === "finally") this.finallyReports.push(report);
    else this.byId.set(report.id, report);
    this.options.onProgress?.({ type: "step-end", step: report });
  }

  reports(): StepReport[] {
    return [...this.byId.values()];
  }

  /** The restore of the run's rollback point, made once and shared by the rollback's states. */
  pointRestore(store: Store, services: ServiceManager, pointId: string): PointRestore {
    this.restore ??= new PointRestore(store, services, pointId);
    return this.restore;
  }

  /** What a run's result says of its steps, undos and rollback. */
  outcomeDetails(): Pick<
    RunResult,
    "steps" | "undos" | "rollback" | "survivors" | "finally" | "evidencePointId"
  > {
    return {
      ...(this.evidencePointId ? { evidencePointId: this.evidencePointId } : {}),
      steps: this.reports(),
      ...(this.finallyReports.length ? { finally: this.finallyReports } : {}),
      undos: this.undos,
      ...(this.restore ? { rollback: this.restore.result() } : {}),
      ...(this.survivors ? { survivors: this.survivors } : {}),
    };
  }
}

/** The code a failed step reports: its own, or that of the error it raised. */
function failureCode(error: unknown): string {
  if (error instanceof StepFailure) return error.failure;
  if (error instanceof GlobalRollbackError) return error.code;
  return "ERROR";
}
