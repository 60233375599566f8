import type { ServiceManager } from "../backups/services/manager.js";
import type { WrittenManifest } from "../manifest/types.js";
import { buildPlan } from "../plan/plan.js";
import { Containment, reapRun } from "../processes/containment.js";
import type { RunRow } from "../store/runs.js";
import type { Store } from "../store/store.js";
import { closeRun, driveMachine } from "./driver.js";
import { engineActions } from "./effects.js";
import { compileMachine, type RunContext } from "./machine.js";
import { StepRecorder } from "./recorder.js";
import type { Outcome, RunOptions, RunResult } from "./types.js";

export interface Recovered {
  runId: string;
  module: string;
  /** The state the run was in when its runner died. */
  interruptedIn: string;
  /** Processes of the dead runner's steps that were still alive and were killed first. */
  killed: number;
  outcome: Outcome;
  result: RunResult;
}

/**
 * Finish every interrupted run by rolling it back from where it stopped. The run's machine is
 * rebuilt from the manifest it ran with and resumed in `rollingBack` with the persisted context
 * (its rollback point and the steps that completed); restores are idempotent, so a rollback that
 * was itself interrupted is simply done again. A run that died before its rollback point was
 * complete changed nothing and is closed as `notStarted`.
 *
 * Before anything is restored, whatever the dead runner's steps left running is killed and waited
 * out (see containment.ts); if something survives SIGKILL this throws PROCESSES_SURVIVED and the
 * run stays unfinished, untouched, for a later `recover`.
 */
export async function recoverRuns(
  store: Store,
  services: ServiceManager,
  options: Pick<RunOptions, "onProgress"> = {},
): Promise<Recovered[]> {
  return store.exclusive("rollpoint recover", async () => {
    const recovered: Recovered[] = [];
    for (const run of store.catalog.runs.unfinished())
      recovered.push(await recoverOne(store, services, run, options));
    return recovered;
  });
}

async function recoverOne(
  store: Store,
  services: ServiceManager,
  run: RunRow,
  progress: Pick<RunOptions, "onProgress">,
): Promise<Recovered> {
  const killed = await reapRun(store.catalog.stepProcesses, run.id);
  const manifest = run.manifest as WrittenManifest;
  const plan = buildPlan(manifest);
  const persisted = run.snapshot as { context?: RunContext } | null;
  const context: RunContext = persisted?.context ?? {
    pointId: null,
    completed: [],
    failedStep: null,
    error: null,
  };
  // The point is known to the run only once complete (a pending one was dropped on takeover).
  const pointId =
    context.pointId ??
    (run.pointId && store.catalog.getPoint(run.pointId)?.status === "complete"
      ? run.pointId
      : null);
  const options: RunOptions = {
    manifestFile: run.manifestPath ?? "",
    manifest,
    plan,
    store,
    services,
    ...progress,
  };
  const recorder = new StepRecorder(options, run.id);
  recorder.resumeFrom(context.completed, run.state);
  if (killed) recorder.log("recover", [`killed ${killed} leftover process(es) of the run's steps`]);
  const containment = new Containment(store.catalog.stepProcesses, run.id);
  let outcome: Outcome = "notStarted";
  const error = context.error ?? `the runner died in ${run.state}`;
  if (context.noReturn && !run.state.startsWith("rollingBack")) {
    // Past the point of no return, a live runner would not have rolled back either.
    outcome = "failedForward";
    recorder.log("recover", [
      `the runner died after the irreversible step ${context.noReturn}: nothing is rolled back; the rollback point is kept`,
    ]);
  } else if (pointId || context.completed.length) {
    // Inside the rollback, resume at the part it was in (each is idempotent); anywhere else,
    // the rollback starts from its beginning.
    const at = run.state.startsWith("rollingBack.") ? run.state : undefined;
    const machine = compileMachine(plan, engineActions(options, recorder, containment), {
      resume: { context: { ...context, pointId, error }, ...(at ? { at } : {}) },
    });
    ({ outcome } = await driveMachine(machine, {
      store,
      runId: run.id,
      label: "recover",
      ...(progress.onProgress ? { onProgress: progress.onProgress } : {}),
    }));
  }
  // "Nothing was changed" only if the dead runner's half-taken point left nothing behind: a
  // container it paused that crash cleanup could not start again is work for a person.
  const leaks = store.lastCrashCleanup?.leaks ?? [];
  let closingError = error;
  if (outcome === "notStarted" && leaks.length) {
    outcome = "rollbackFailed";
    closingError = `${error}; what its rollback point held could not be put back: ${leaks.join("; ")}`;
    recorder.log(
      "recover",
      leaks.map((l) => `✗ ${l}`),
    );
  }
  // The rollback a watch started and did not live to finish keeps the watch's outcome.
  const byWatch = store.catalog.watches.active(run.module).some((w) => w.rollbackRun === run.id);
  if (byWatch && outcome === "rolledBack") outcome = "watchRolledBack";
  const result = await closeRun({
    options,
    recorder,
    containment,
    result: { runId: run.id, outcome, pointId, error: closingError },
    audit: {
      op: "recover",
      ok: outcome === "rolledBack" || outcome === "watchRolledBack" || outcome === "notStarted",
      detail: `${run.id} ${run.state} -> ${outcome}`,
    },
  });
  return { runId: run.id, module: run.module, interruptedIn: run.state, killed, outcome, result };
}
