import { type AnyActorRef, createActor, waitFor } from "xstate";
import { describeError, GlobalRollbackError } from "../errors.js";
import { messageOf } from "../notify/message.js";
import { type NotificationReport, notificationsOf, sendNotifications } from "../notify/send.js";
import type { Store } from "../store/store.js";
import type { Clock } from "../util/clock.js";
import { pausePoint } from "../util/pause-point.js";
import { runFinallySteps } from "./finally.js";
import type { compileMachine, RunContext } from "./machine.js";
import { stateName } from "./machine.js";
import type { StepRecorder } from "./recorder.js";
import type { Outcome, RunOptions, RunResult } from "./types.js";

// The one driver behind `run`, `recover` and `rollback`: each command checks its own
// preconditions, then hands its machine here. What they share is written once: no other run
// is unfinished, every transition is persisted through the store's space reserve (and a failed
// write never escapes through xstate's observer as an uncaught exception), `finally` runs, and
// the outcome is recorded, through the reserve, or reported as not recorded.

type Machine = ReturnType<typeof compileMachine>;

/** Refuse to start while a run is unfinished: it must be recovered first. */
export function refuseUnfinished(store: Store): void {
  const [unfinished] = store.catalog.runs.unfinished();
  if (unfinished) {
    throw new GlobalRollbackError(
      "RUN_UNFINISHED",
      `run ${unfinished.id} (${unfinished.module}) did not finish; run \`rollpoint recover\` first`,
    );
  }
}

export interface Drive {
  store: Store;
  runId: string;
  /** Shown after the state on the run's timeline ("recover", "rollback"). */
  label?: string;
  /**
   * While steps run, a transition the store cannot record aborts the update: a crash from then
   * on could not be recovered exactly, so the runner rolls back while it still can.
   */
  abortWhenUnrecorded?: boolean;
  onState?: (state: string) => void;
  onProgress?: RunOptions["onProgress"];
  /** The actor exists and is about to start (`run` sends it the signals that came first). */
  onActor?: (actor: AnyActorRef) => void;
  /** The machine's clock (its delays: the run's timeout). */
  clock?: Clock;
}

/** Start the machine, persist each transition, and wait for its final state. */
export async function driveMachine(
  machine: Machine,
  drive: Drive,
): Promise<{ outcome: Outcome; context: RunContext }> {
  const actor = createActor(machine, drive.clock ? { clock: drive.clock } : {});
  persistTransitions(actor, drive);
  drive.onActor?.(actor);
  actor.start();
  const final = await waitFor(actor, (s) => s.status === "done", {
    timeout: Number.POSITIVE_INFINITY,
  });
  return { outcome: stateName(final.value) as Outcome, context: final.context };
}

function persistTransitions(actor: AnyActorRef, drive: Drive): void {
  const { store, runId } = drive;
  let last = "";
  actor.subscribe((snapshot) => {
    const state = stateName(snapshot.value);
    if (state === last) return;
    last = state;
    const context = snapshot.context as RunContext;
    try {
      store.reserve.withSpace(() =>
        store.catalog.runs.transition(
          runId,
          state,
          actor.getPersistedSnapshot(),
          {
            at: Date.now(),
            state: drive.label ? `${state} (${drive.label})` : state,
            ...(context.error ? { detail: context.error } : {}),
          },
          context.pointId ?? undefined,
        ),
      );
    } catch (error) {
      // A rollback goes on without its record: every part is idempotent, so a crash now is
      // recovered by doing it again from the last recorded state. An update does not go on.
      if (drive.abortWhenUnrecorded && state.startsWith("step."))
        queueMicrotask(() =>
          actor.send({
            type: "ABORT",
            reason: `the store could not record the run's progress (${describeError(error)}): rolling back while it still can`,
          }),
        );
    }
    drive.onState?.(state);
    drive.onProgress?.({ type: "state", state });
    pausePoint("transition");
    pausePoint(`state:${state}`);
  });
}

export interface Closing {
  options: Pick<RunOptions, "manifest" | "manifestFile" | "services" | "store">;
  recorder: StepRecorder;
  containment: Parameters<typeof runFinallySteps>[0]["containment"];
  /** The result without what the recorder reports (steps, undos, ...). */
  result: Omit<RunResult, "steps" | "undos">;
  /** The audit log's line: its op and whether the command did what it was asked. */
  audit: { op: string; ok: boolean; detail: string };
}

/** Run `finally`, then record the outcome and the audit line; returns the whole result. */
export async function closeRun(closing: Closing): Promise<RunResult> {
  const { options, recorder, result } = closing;
  const { store } = options;
  await runFinallySteps(
    {
      manifest: options.manifest,
      manifestFile: options.manifestFile,
      services: options.services,
      recorder,
      containment: closing.containment,
    },
    result.outcome,
  );
  const report: RunResult = { ...result, ...recorder.outcomeDetails() };
  const notifications = await notify(closing, report);
  if (notifications.length) report.notifications = notifications;
  recorder.close();
  try {
    store.reserve.withSpace(() =>
      store.catalog.runs.finish(report.runId, report.outcome, report, Date.now()),
    );
  } catch (error) {
    throw new GlobalRollbackError(
      "RUN_NOT_RECORDED",
      `the run ${report.runId} ended ${report.outcome}, but the store could not record it (${describeError(error)}); free space on the store's disk, then run \`rollpoint recover\`, which closes the run by rolling it back (for a committed run that undoes the update: re-run it afterwards)`,
      { cause: error, context: { store: store.dir } },
    );
  }
  store.log.append({
    op: closing.audit.op,
    outcome: closing.audit.ok ? "ok" : "failed",
    detail: closing.audit.detail,
  });
  return report;
}

/** Tell the manifest's notifications of the outcome; a failure is reported, never thrown. */
async function notify(closing: Closing, report: RunResult): Promise<NotificationReport[]> {
  const { options, recorder } = closing;
  if (!options.manifest.notify?.length) return [];
  const log = (lines: string[]) => recorder.log("notify", lines);
  const targets = await notificationsOf(options.manifest, options.manifestFile, options.store.dir);
  if (!targets) {
    log([
      `not sent: the notifications' URLs are kept only in the manifest file, and ${options.manifestFile || "it"} no longer has them as this run did`,
    ]);
    return [{ target: "notify", ok: false, error: "the manifest file no longer names them" }];
  }
  return sendNotifications(targets, messageOf(options.manifest, report), {
    containment: closing.containment,
    log,
  });
}
