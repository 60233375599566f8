import type { ServiceManager } from "../backups/services/manager.js";
import { GlobalRollbackError } from "../errors.js";
import type { WrittenManifest } from "../manifest/types.js";
import { buildPlan } from "../plan/plan.js";
import { Containment } from "../processes/containment.js";
import { newId } from "../store/ids.js";
import type { Store } from "../store/store.js";
import { closeRun, driveMachine, refuseUnfinished } from "./driver.js";
import { engineActions } from "./effects.js";
import { compileMachine, type RunContext } from "./machine.js";
import { StepRecorder } from "./recorder.js";
import type { RunOptions, RunResult } from "./types.js";

/**
 * Outcomes a later `rollpoint rollback` can undo: the update is (partly) in place, or its
 * rollback stopped part-way (rollbackFailed: the point is restored again once the cause is
 * fixed; the undos ran in that rollback and are not run twice).
 */
const REVERSIBLE = new Set(["committed", "failed", "failedForward", "rollbackFailed"]);

/**
 * `rollpoint rollback <run>`: roll back a run that committed (or ran with --no-rollback, or
 * failed forward): the undos of its completed steps last-first, its rollback point restored and
 * proven, its services returned; recorded as a run of its own that names the one it reverted.
 * Refused (INVALID_ARGUMENT) when a later run of the same module committed, unless `force`.
 */
export async function rollbackRun(
  store: Store,
  services: ServiceManager,
  ref: string,
  options: {
    force?: boolean;
    onProgress?: RunOptions["onProgress"];
    /** Its watch asks (a check failed after the commit): the outcome is watchRolledBack. */
    byWatch?: boolean;
    /** Told the new run's id once it is recorded (before anything is undone). */
    onRunId?: (runId: string) => void;
  } = {},
): Promise<RunResult> {
  return store.exclusive("rollpoint rollback", async () => {
    refuseUnfinished(store);
    const target = store.catalog.runs.resolve(ref);
    if (!REVERSIBLE.has(target.state)) {
      throw new GlobalRollbackError(
        "INVALID_ARGUMENT",
        `run ${target.id} ended ${target.state}: only a committed run, a --no-rollback run, one that failed forward or one whose rollback failed can be rolled back`,
      );
    }
    if (target.state === "rollbackFailed" && !target.pointId) {
      // Its runner died taking the point, and recover could not put back what it held: no
      // point exists to restore, and its steps never ran. Its log says what to do by hand.
      throw new GlobalRollbackError(
        "INVALID_ARGUMENT",
        `run ${target.id} never had a rollback point (its runner died taking it): there is nothing to restore; \`rollpoint log ${target.id}\` names what was left to put back by hand`,
      );
    }
    const later = store.catalog.runs.firstAfter(target.module, target.seq, "committed");
    if (later && !options.force) {
      throw new GlobalRollbackError(
        "INVALID_ARGUMENT",
        `run ${later.id} of ${target.module} committed after ${target.id}: rolling ${target.id} back would also undo what it built on; roll ${later.id} back first, or use --force`,
      );
    }
    const point = target.pointId ? store.catalog.getPoint(target.pointId) : undefined;
    if (target.pointId && point?.status !== "complete") {
      throw new GlobalRollbackError(
        "BACKUP_NOT_FOUND",
        `the rollback point ${target.pointId} of run ${target.id} is gone (pruned): it cannot be rolled back`,
      );
    }
    const manifest = target.manifest as WrittenManifest;
    const runId = newId("run");
    store.catalog.runs.insert({
      id: runId,
      module: target.module,
      manifest,
      manifestPath: target.manifestPath ?? "",
      startedAt: Date.now(),
      noRollback: false,
    });
    options.onRunId?.(runId);
    const runOptions: RunOptions = {
      manifestFile: target.manifestPath ?? "",
      manifest,
      plan: buildPlan(manifest),
      store,
      services,
      ...(options.onProgress ? { onProgress: options.onProgress } : {}),
    };
    const recorder = new StepRecorder(runOptions, runId);
    const again = target.state === "rollbackFailed";
    recorder.log("rollback", [
      again
        ? `restoring the rollback point of run ${target.id} again (its rollback failed; its undos ran then and are not run again)`
        : `rolling back run ${target.id} (${target.state})`,
    ]);
    const containment = new Containment(store.catalog.stepProcesses, runId);
    const persisted = target.snapshot as { context?: RunContext } | null;
    const error = options.byWatch
      ? `its watch saw a check fail: ${store.catalog.watches.get(target.id)?.detail ?? "a check failed"}`
      : `rollback of run ${target.id} requested`;
    const context: RunContext = {
      pointId: target.pointId,
      // No completed steps: no undo runs again after a rollback that already ran them.
      completed: again ? [] : (persisted?.context?.completed ?? []),
      failedStep: null,
      error,
    };
    const machine = compileMachine(
      runOptions.plan,
      engineActions(runOptions, recorder, containment),
      { resume: { context } },
    );
    const { outcome: reached } = await driveMachine(machine, {
      store,
      runId,
      label: "rollback",
      ...(options.onProgress ? { onProgress: options.onProgress } : {}),
    });
    const outcome = options.byWatch && reached === "rolledBack" ? "watchRolledBack" : reached;
    const result = await closeRun({
      options: runOptions,
      recorder,
      containment,
      result: { runId, outcome, pointId: target.pointId, error, reverts: target.id },
      audit: {
        op: "rollback",
        ok: reached === "rolledBack",
        detail: `${runId} reverted ${target.id}: ${outcome}`,
      },
    });
    return result;
  });
}
