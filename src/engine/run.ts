import { closeSync, mkdirSync, openSync, writeSync } from "node:fs";
import { join } from "node:path";
import { type AnyActorRef, createActor, type SnapshotFrom, waitFor } from "xstate";
import { discardExternal } from "../backups/databases/kind.js";
import type { RollbackResult } from "../backups/operation.js";
import type { ServiceManager } from "../backups/services/manager.js";
import { describeError, GlobalRollbackError } from "../errors.js";
import { createPoint, PointRestore } from "../library/rollback-point.js";
import { DEFAULTS } from "../manifest/defaults.js";
import type { WrittenManifest } from "../manifest/types.js";
import type { Plan } from "../plan/plan.js";
import { runPreflight } from "../plan/preflight.js";
import { Containment } from "../steps/containment.js";
import { executeStep } from "../steps/execute.js";
import { runCommand } from "../steps/process.js";
import { newId } from "../store/ids.js";
import type { Store } from "../store/store.js";
import { parseDuration } from "../util/duration.js";
import { pausePoint } from "../util/pause-point.js";
import { compileMachine, type EngineActions, type RunContext, stateName } from "./machine.js";

export type Outcome = "committed" | "rolledBack" | "rollbackFailed" | "notStarted" | "failed";

export interface StepReport {
  id: string;
  status: "succeeded" | "failed" | "skipped" | "pending" | "failedContinued";
  durationMs?: number;
  error?: string;
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
]);

/**
 * Run an update: the store stays locked for the whole run; the machine's snapshot is saved in
 * the catalog after every transition (then `ROLLPOINT_PAUSE_AT=transition#n` can stop it there);
 * a step's output goes to `logs/<run-id>.log` in the store.
 */
export function startRun(options: RunOptions): RunHandle {
  const runId = newId("run");
  let actor: AnyActorRef | undefined;
  let rollingBack = false;
  const result = options.store.exclusive(
    "rollpoint run",
    async () => {
      const unfinished = options.store.catalog.runs.unfinished();
      if (unfinished.length) {
        throw new GlobalRollbackError(
          "RUN_UNFINISHED",
          `run ${unfinished[0]!.id} (${unfinished[0]!.module}) did not finish; run \`rollpoint recover\` first`,
        );
      }
      options.store.catalog.runs.insert({
        id: runId,
        module: options.manifest.name,
        manifest: withoutPasswords(options.manifest),
        manifestPath: options.manifestFile,
        startedAt: Date.now(),
        noRollback: options.noRollback ?? false,
      });
      const recorder = new StepRecorder(options, runId);
      const containment = new Containment(options.store.catalog.stepProcesses, runId);
      recorder.log("run", [
        `steps contained by ${containment.mode === "cgroup" ? "cgroup v2 and process group" : "process group"}`,
      ]);
      const machine = compileMachine(options.plan, engineActions(options, recorder, containment), {
        ...(options.noRollback ? { noRollback: true } : {}),
      });
      actor = createActor(machine);
      persistTransitions(actor, options, runId, (state) => {
        if (state.startsWith("rollingBack")) rollingBack = true;
      });
      const timeoutMs = options.manifest.timeout
        ? parseDuration(options.manifest.timeout)
        : undefined;
      const timer = timeoutMs
        ? setTimeout(
            () =>
              actor?.send({
                type: "ABORT",
                reason: `the run's timeout (${options.manifest.timeout}) passed`,
              }),
            timeoutMs,
          )
        : undefined;
      actor.start();
      const final = (await waitFor(actor, (s) => s.status === "done", {
        timeout: Number.POSITIVE_INFINITY,
      })) as SnapshotFrom<typeof machine>;
      if (timer) clearTimeout(timer);
      const outcome = stateName(final.value) as Outcome;
      if (outcome === "committed" && final.context.pointId) {
        await dropCloneSnapshots(options.store, final.context.pointId, recorder);
      }
      recorder.close();
      const report: RunResult = {
        runId,
        outcome,
        pointId: final.context.pointId,
        error: final.context.error,
        ...recorder.outcomeDetails(),
      };
      try {
        options.store.reserve.withSpace(() =>
          options.store.catalog.runs.finish(runId, outcome, report, Date.now()),
        );
      } catch (error) {
        throw new GlobalRollbackError(
          "RUN_NOT_RECORDED",
          `the run ${runId} ended ${outcome}, but the store could not record it (${describeError(error)}); free space on the store's disk, then run \`rollpoint recover\`, which closes the run by rolling it back (for a committed run that undoes the update: re-run it afterwards)`,
          { cause: error, context: { store: options.store.dir } },
        );
      }
      options.store.log.append({
        op: "run",
        outcome: outcome === "committed" ? "ok" : "failed",
        detail: `${runId} ${outcome}`,
      });
      return report;
    },
    runId,
  );
  return {
    runId,
    result,
    interrupt(reason) {
      if (rollingBack || !actor) return false;
      actor.send({ type: "ABORT", reason });
      return true;
    },
  };
}

/**
 * The manifest as the catalog keeps it (recovery rebuilds the run from it): without inline
 * database passwords, which must never reach the store. Recovery then finds the password through
 * passwordEnv, PGPASSWORD or ~/.pgpass, one more reason an inline password is warned about.
 */
function withoutPasswords(manifest: WrittenManifest): WrittenManifest {
  const databases = manifest.rollbackPoint?.databases;
  if (!databases?.some((d) => d.password !== undefined)) return manifest;
  return {
    ...manifest,
    rollbackPoint: {
      ...manifest.rollbackPoint,
      databases: databases.map(({ password: _secret, ...rest }) => rest),
    },
  };
}

// A committed update no longer needs a clone's snapshot database on the server; the point's
// dumps and file objects stay in the store for retention to prune.
async function dropCloneSnapshots(
  store: Store,
  pointId: string,
  recorder: StepRecorder,
): Promise<void> {
  for (const member of store.catalog.pointMembers(pointId)) {
    try {
      await discardExternal(member);
    } catch (error) {
      recorder.log("commit", [
        `could not drop the clone snapshot of ${member.source}: ${describeError(error)}`,
      ]);
    }
  }
}

function persistTransitions(
  actor: AnyActorRef,
  options: RunOptions,
  runId: string,
  onState: (s: string) => void,
): void {
  let last = "";
  actor.subscribe((snapshot) => {
    const state = stateName(snapshot.value);
    if (state === last) return;
    last = state;
    const context = snapshot.context as RunContext;
    try {
      options.store.reserve.withSpace(() =>
        options.store.catalog.runs.transition(
          runId,
          state,
          actor.getPersistedSnapshot(),
          { at: Date.now(), state, ...(context.error ? { detail: context.error } : {}) },
          context.pointId ?? undefined,
        ),
      );
    } catch (error) {
      // The store cannot record where the run is (its disk is full): a crash from here on could
      // not be recovered exactly, so an update under way is rolled back while the runner still
      // can; a rollback goes on. The run's own outcome reaches the catalog if space comes back.
      if (state.startsWith("step."))
        queueMicrotask(() =>
          actor.send({
            type: "ABORT",
            reason: `the store could not record the run's progress (${describeError(error)}): rolling back while it still can`,
          }),
        );
    }
    onState(state);
    options.onProgress?.({ type: "state", state });
    pausePoint("transition");
    pausePoint(`state:${state}`);
  });
}

/** The machine's effects for one run. */
export function engineActions(
  options: RunOptions,
  recorder: StepRecorder,
  containment: Containment,
): EngineActions {
  const { store, services, manifest, plan } = options;
  return {
    async preflight() {
      const report = await runPreflight(plan, manifest, {
        storeDir: store.dir,
        services,
        catalog: store.catalog,
      });
      const failed = report.checks.filter((c) => !c.ok);
      if (failed.length)
        throw new Error(
          `preflight failed: ${failed.map((c) => `${c.subject}: ${c.detail}`).join("; ")}`,
        );
    },
    async takeRollbackPoint() {
      const rp = manifest.rollbackPoint ?? {};
      const point = await createPoint(store, services, {
        moduleName: manifest.name,
        description: `${manifest.name}${manifest.version ? ` ${manifest.version}` : ""}: before the update`,
        files: (rp.files ?? []).map((f) =>
          typeof f === "string" ? f : { path: f.path, exclude: f.exclude ?? [] },
        ),
        databases: rp.databases ?? [],
        services: rp.services ?? [],
      });
      return { pointId: point.pointId };
    },
    async runStep(stepId, signal) {
      const step = manifest.steps.find((s) => s.id === stepId)!;
      await recorder.run(stepId, (onLines) =>
        executeStep(step, {
          manifestFile: options.manifestFile,
          databases: manifest.rollbackPoint?.databases ?? [],
          services,
          containment,
          signal,
          onLines,
        }),
      );
    },
    async settle() {
      // An aborted step's processes get their SIGTERM, grace and SIGKILL before anything is
      // restored: nothing of the update writes while restores run. If they cannot be stopped,
      // nothing is restored (PROCESSES_SURVIVED) and the run ends rollbackFailed.
      try {
        await containment.settle();
      } catch (error) {
        recorder.survivors = describeError(error);
        recorder.log("rollback", [recorder.survivors]);
        throw error;
      }
    },
    async undo(stepId) {
      const undo = manifest.steps.find((s) => s.id === stepId)?.undo;
      if (!undo) return true;
      const outcome = await runCommand(undo, {
        signal: new AbortController().signal,
        timeoutMs: DEFAULTS.undoTimeoutMs,
        jail: containment.enter(`undo ${stepId}`),
        onLines: (lines) => recorder.log(`undo ${stepId}`, lines),
      });
      const good = outcome.exitCode === 0;
      recorder.undos.push({
        stepId,
        ok: good,
        detail: good
          ? undo.join(" ")
          : `${undo.join(" ")} exited with ${outcome.exitCode ?? outcome.signal}`,
      });
      return good;
    },
    // The point's restore, a phase per state; the same PointRestore carries the prepared
    // (verified) members from `verify` to each `restore.<member>` of this process.
    async verifyPoint(pointId) {
      await recorder.pointRestore(store, services, pointId).prepareAll();
      return true;
    },
    async stopServices(pointId) {
      return recorder.pointRestore(store, services, pointId).stopServices();
    },
    async restoreMember(pointId, seq) {
      return recorder.pointRestore(store, services, pointId).restoreMember(seq);
    },
    async returnServices(pointId) {
      const restore = recorder.pointRestore(store, services, pointId);
      const ok = await restore.returnServices();
      store.log.append({
        op: "restore-point",
        outcome: restore.result().ok ? "ok" : "failed",
        pointId,
      });
      return ok;
    },
  };
}

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
  private restore: PointRestore | undefined;
  private fd: number | undefined;

  constructor(
    private readonly options: Pick<RunOptions, "plan" | "store" | "onProgress">,
    runId: string,
  ) {
    for (const s of options.plan.steps) this.byId.set(s.id, { id: s.id, status: "pending" });
    const dir = join(options.store.dir, "logs");
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    this.fd = openSync(join(dir, `${runId}.log`), "a", 0o600);
  }

  /**
   * Append lines to the run's log, one write per batch: a step printing 50 MB costs a write per
   * 64 KiB read from it, not one per line.
   */
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
  ): Promise<void> {
    let tail: string[] = [];
    let logged = 0;
    let dropped = 0;
    const started = performance.now();
    this.options.onProgress?.({ type: "step-start", stepId });
    this.log(stepId, ["started"]);
    const onLines = (lines: string[]) => {
      tail = [...tail, ...lines.slice(-20)].slice(-20);
      if (logged < STEP_LOG_LIMIT) {
        logged += this.log(stepId, lines);
      } else dropped += lines.length;
      this.options.onProgress?.({ type: "step-lines", stepId, lines });
    };
    const noteDropped = () => {
      if (dropped)
        this.log(stepId, [
          `… ${dropped} more lines not logged: a step keeps at most ${STEP_LOG_LIMIT / 2 ** 20} MiB of output in the run's log`,
        ]);
    };
    const continues = this.options.plan.steps.find((s) => s.id === stepId)?.continueOnError;
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
        lastLines: tail.slice(-10),
      });
      throw error;
    }
  }

  private finish(report: StepReport): void {
    this.byId.set(report.id, report);
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
  outcomeDetails(): Pick<RunResult, "steps" | "undos" | "rollback" | "survivors"> {
    return {
      steps: this.reports(),
      undos: this.undos,
      ...(this.restore ? { rollback: this.restore.result() } : {}),
      ...(this.survivors ? { survivors: this.survivors } : {}),
    };
  }
}
