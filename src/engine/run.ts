import { type AnyActorRef, createActor, type SnapshotFrom, waitFor } from "xstate";
import { discardExternal } from "../backups/databases/kind.js";
import { describeError, GlobalRollbackError } from "../errors.js";
import type { WrittenManifest } from "../manifest/types.js";
import { Containment } from "../steps/containment.js";
import { newId } from "../store/ids.js";
import type { Store } from "../store/store.js";
import { pausePoint } from "../util/pause-point.js";
import { engineActions } from "./effects.js";
import { runFinallySteps } from "./finally.js";
import { compileMachine, type RunContext, stateName } from "./machine.js";
import { StepRecorder } from "./recorder.js";
import type { Outcome, RunHandle, RunOptions, RunResult } from "./types.js";

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
      const [newest] = options.store.catalog.runs.list(1);
      const startedAt = Date.now();
      options.store.catalog.runs.insert({
        id: runId,
        module: options.manifest.name,
        manifest: withoutPasswords(options.manifest),
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
      const containment = new Containment(options.store.catalog.stepProcesses, runId);
      recorder.log("run", [
        `steps contained by ${containment.mode === "cgroup" ? "cgroup v2 and process group" : "process group"}`,
      ]);
      const machine = compileMachine(options.plan, engineActions(options, recorder, containment), {
        ...(options.noRollback ? { noRollback: true } : {}),
        ...(options.manifest.timeout ? { timeout: options.manifest.timeout } : {}),
      });
      actor = createActor(machine);
      persistTransitions(actor, options, runId, (state) => {
        if (state.startsWith("rollingBack")) rollingBack = true;
      });
      actor.start();
      const final = (await waitFor(actor, (s) => s.status === "done", {
        timeout: Number.POSITIVE_INFINITY,
      })) as SnapshotFrom<typeof machine>;
      const outcome = stateName(final.value) as Outcome;
      if (outcome === "committed" && final.context.pointId) {
        await dropCloneSnapshots(options.store, final.context.pointId, recorder);
      }
      await runFinallySteps(
        {
          manifest: options.manifest,
          manifestFile: options.manifestFile,
          services: options.services,
          recorder,
          containment,
        },
        outcome,
      );
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
