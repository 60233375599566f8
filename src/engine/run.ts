import type { AnyActorRef } from "xstate";
import { afterCommit } from "../backups/members.js";
import { describeError } from "../errors.js";
import { withoutSecrets } from "../manifest/redact.js";
import { Containment } from "../processes/containment.js";
import { newId } from "../store/ids.js";
import type { Store } from "../store/store.js";
import { closeRun, driveMachine, refuseUnfinished } from "./driver.js";
import { engineActions } from "./effects.js";
import { compileMachine } from "./machine.js";
import { StepRecorder } from "./recorder.js";
import type { RunHandle, RunOptions, RunResult } from "./types.js";
import { beginWatch, endWatches } from "./watch.js";

export type {
  Outcome,
  Progress,
  RunHandle,
  RunOptions,
  RunResult,
  StepReport,
  UndoReport,
} from "./types.js";
export { OUTCOME_STATES } from "./types.js";

/**
 * Run an update: the store stays locked for the whole run; the machine's snapshot is saved in
 * the catalog after every transition (then `ROLLPOINT_PAUSE_AT=transition#n` can stop it there);
 * a step's output goes to `logs/<run-id>.log` in the store.
 */
export function startRun(options: RunOptions): RunHandle {
  const runId = newId("run");
  let actor: AnyActorRef | undefined;
  // A signal that comes before the machine exists (the lock, crash cleanup, the reserve) is
  // kept and sent as soon as it does: the machine then ends notStarted without any step.
  let earlyAbort: string | undefined;
  let rollingBack = false;
  const result = options.store.exclusive(
    "rollpoint run",
    async () => {
      refuseUnfinished(options.store);
      // A watch of an earlier run of the module ends here: this run builds on what it watched.
      const superseded = endWatches(
        options.store,
        { module: options.manifest.name },
        "superseded",
        `run ${runId} of ${options.manifest.name} started`,
      );
      const [newest] = options.store.catalog.runs.list(1);
      const startedAt = Date.now();
      options.store.catalog.runs.insert({
        id: runId,
        module: options.manifest.name,
        manifest: withoutSecrets(options.manifest),
        manifestPath: options.manifestFile,
        startedAt,
        noRollback: options.noRollback ?? false,
      });
      const recorder = new StepRecorder(options, runId);
      if (newest && newest.startedAt > startedAt) {
        // Order comes from the catalog (RunRow.seq); the clock is only shown, but a person
        // reading timestamps should know they went backwards.
        recorder.log("run", [
          `warning: the clock (${new Date(startedAt).toISOString()}) is behind the start of the last recorded run ${newest.id} (${new Date(newest.startedAt).toISOString()}): runs are ordered by the store, not by their timestamps`,
        ]);
      }
      for (const w of superseded)
        recorder.log("run", [`ended the watch of run ${w.runId}: this run builds on it`]);
      const containment = new Containment(options.store.catalog.stepProcesses, runId);
      recorder.log("run", [
        `steps contained by ${containment.mode === "cgroup" ? "cgroup v2 and process group" : "process group"}`,
      ]);
      const machine = compileMachine(options.plan, engineActions(options, recorder, containment), {
        ...(options.noRollback ? { noRollback: true } : {}),
        ...(options.manifest.timeout ? { timeout: options.manifest.timeout } : {}),
      });
      const { outcome, context } = await driveMachine(machine, {
        store: options.store,
        runId,
        abortWhenUnrecorded: true,
        ...(options.clock ? { clock: options.clock } : {}),
        onState: (state) => {
          if (state.startsWith("rollingBack")) rollingBack = true;
        },
        ...(options.onProgress ? { onProgress: options.onProgress } : {}),
        onActor: (started) => {
          actor = started;
          if (earlyAbort !== undefined) {
            const reason = earlyAbort;
            queueMicrotask(() => started.send({ type: "ABORT", reason }));
          }
        },
      });
      if (outcome === "committed" && context.pointId) {
        await dropCloneSnapshots(options.store, context.pointId, recorder);
      }
      const watch =
        outcome === "committed" && options.manifest.watch && options.startWatch
          ? watchAfterCommit(options, runId, recorder)
          : undefined;
      return closeRun({
        options,
        recorder,
        containment,
        result: {
          runId,
          outcome,
          pointId: context.pointId,
          error: context.error,
          ...(watch ? { watch } : {}),
        },
        audit: { op: "run", ok: outcome === "committed", detail: `${runId} ${outcome}` },
      });
    },
    runId,
  );
  return {
    runId,
    result,
    interrupt(reason) {
      if (rollingBack) return false;
      if (actor) actor.send({ type: "ABORT", reason });
      else earlyAbort ??= reason;
      return true;
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
      await afterCommit(member);
    } catch (error) {
      recorder.log("commit", [
        `could not drop the clone snapshot of ${member.source}: ${describeError(error)}`,
      ]);
    }
  }
}

/** Record the run's watch and start its process; a watch that cannot start is said, not fatal. */
function watchAfterCommit(
  options: RunOptions,
  runId: string,
  recorder: StepRecorder,
): RunResult["watch"] {
  try {
    const w = beginWatch(
      options.store,
      { runId, module: options.manifest.name, watch: options.manifest.watch! },
      options.startWatch!,
    );
    const where = w.unit ? `unit ${w.unit}` : `process ${w.pid}`;
    recorder.log("watch", [`watching until ${new Date(w.endsAt).toISOString()} (${where})`]);
    return {
      until: new Date(w.endsAt).toISOString(),
      ...(w.unit ? { unit: w.unit } : {}),
      ...(w.pid ? { pid: w.pid } : {}),
    };
  } catch (error) {
    recorder.log("watch", [`the watch could not start: ${describeError(error)}`]);
    return { until: null, error: describeError(error) };
  }
}
