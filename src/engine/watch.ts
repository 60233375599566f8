// After the commit: a run's watch. `run` records it and starts a process for it (the CLI says
// how: a transient systemd unit or a detached process) and exits; that process probes the
// watch's checks every interval until the window ends, and when one fails rolls the run back as
// `rollpoint rollback` does, as a run of its own whose outcome is watchRolledBack. The watch
// holds no lock while it watches: a later run of the module ends it (`superseded`), `watch stop`
// ends it (`stopped`), and either refuses while it is rolling back (the run would race it).

import { setTimeout as sleep } from "node:timers/promises";
import type { ServiceManager } from "../backups/services/manager.js";
import { describeError, GlobalRollbackError } from "../errors.js";
import type { WrittenManifest, WrittenWatch } from "../manifest/types.js";
import { messageOf } from "../notify/message.js";
import { notificationsOf, sendNotifications } from "../notify/send.js";
import { Containment } from "../processes/containment.js";
import { executeStep } from "../steps/execute.js";
import type { RunRow } from "../store/runs.js";
import type { Store } from "../store/store.js";
import type { WatchRow, WatchState } from "../store/watches.js";
import { parseDuration } from "../util/duration.js";
import { rollbackRun } from "./rollback-run.js";
import type { RunResult } from "./types.js";
import { endWatchProcess } from "./watch-process.js";

/** How a watch's process is found again: a pid, or a systemd unit. */
export interface WatchProcess {
  pid?: number;
  unit?: string;
}

/** Record the watch of a run that just committed, and start its process. */
export function beginWatch(
  store: Store,
  run: { runId: string; module: string; watch: WrittenWatch },
  start: (runId: string) => WatchProcess,
): WatchRow {
  const now = Date.now();
  store.catalog.watches.insert({
    runId: run.runId,
    module: run.module,
    startedAt: now,
    endsAt: now + (parseDuration(run.watch.for) ?? 0),
  });
  store.catalog.watches.setProcess(run.runId, start(run.runId));
  return store.catalog.watches.get(run.runId)!;
}

/**
 * End the watches of `module` that are under way (a later run starts; call it holding the lock),
 * or the one of `runId` (`watch stop`). One that is rolling back is not ended: the caller is
 * refused (exit 5) until its rollback is over.
 */
export function endWatches(
  store: Store,
  which: { module: string } | { runId: string },
  to: Extract<WatchState, "stopped" | "superseded">,
  detail: string,
): WatchRow[] {
  const rows =
    "module" in which
      ? store.catalog.watches.active(which.module)
      : [store.catalog.watches.get(which.runId)].filter((w): w is WatchRow => Boolean(w));
  const ended: WatchRow[] = [];
  for (const w of rows) {
    if (!store.catalog.watches.move(w.runId, ["watching"], to, { detail })) {
      const now = store.catalog.watches.get(w.runId);
      if (now?.state === "rollingBack")
        throw new GlobalRollbackError(
          "STORE_LOCKED",
          `the watch of run ${w.runId} (${w.module}) is rolling it back: wait for it to end (rollpoint status)`,
          { context: { runId: w.runId } },
        );
      continue;
    }
    endWatchProcess(w);
    ended.push(w);
  }
  return ended;
}

/** How a watch's process ended: its state, and the rollback's result when it rolled back. */
export interface WatchEnd {
  state: WatchState;
  rollback?: RunResult;
}

// A rollback the watch wants while another command holds the store waits for it this long.
const LOCK_WAIT_MS = 10 * 60_000;

/**
 * The watch's process: probe every check each interval until the window ends or the watch is
 * ended from outside; a failure rolls the run back. `log` gets a line for each thing worth
 * knowing (the process's output is the watch's log).
 */
export async function followWatch(
  store: Store,
  services: ServiceManager,
  runId: string,
  log: (line: string) => void,
  signal: AbortSignal,
): Promise<WatchEnd> {
  const run = store.catalog.runs.get(runId);
  const watch = (run?.manifest as WrittenManifest | undefined)?.watch;
  if (!run || !watch || !store.catalog.watches.get(runId))
    throw new GlobalRollbackError("INVALID_ARGUMENT", `run ${runId} has no watch`, {
      context: { runId },
    });
  const manifest = run.manifest as WrittenManifest;
  const interval = parseDuration(watch.interval ?? "1m") ?? 60_000;
  const containment = new Containment(store.catalog.stepProcesses, runId);
  const state = () => store.catalog.watches.get(runId)!;
  log(`watching run ${runId} until ${new Date(state().endsAt).toISOString()}`);
  for (;;) {
    const now = Date.now();
    if (state().state !== "watching") return { state: state().state };
    if (now >= state().endsAt) {
      store.catalog.watches.move(runId, ["watching"], "ended", { detail: "the window ended" });
      log("the window ended: the update stays");
      return { state: state().state };
    }
    await sleep(Math.min(interval, state().endsAt - now), undefined, { signal }).catch(
      () => undefined,
    );
    if (signal.aborted) return { state: state().state };
    if (state().state !== "watching" || Date.now() >= state().endsAt) continue;
    const failure = await probe(manifest, watch, run.manifestPath ?? "", services, containment);
    if (!failure) continue;
    log(`check failed: ${failure}`);
    if (!store.catalog.watches.move(runId, ["watching"], "rollingBack", { detail: failure }))
      return { state: state().state };
    const begun = await rollBackWhenFree(store, services, runId, log);
    const rollback = typeof begun === "string" ? undefined : begun;
    const ended: WatchState =
      rollback?.outcome === "watchRolledBack" ? "rolledBack" : "rollbackFailed";
    store.catalog.watches.move(runId, ["rollingBack"], ended, {
      ...(rollback ? { rollbackRun: rollback.runId } : { detail: `${failure}; ${begun}` }),
    });
    // A rollback that never began is no run: no driver tells the notifications, the watch does.
    if (typeof begun === "string")
      await notifyUnbegun(store, run, `${failure}; ${begun}`, containment, log);
    log(
      `${ended === "rolledBack" ? "rolled back" : "ROLLBACK INCOMPLETE"}${rollback ? ` (run ${rollback.runId})` : ""}`,
    );
    return { state: ended, ...(rollback ? { rollback } : {}) };
  }
}

/** Each check once, as a check step runs it: the first failure's message, or null. */
async function probe(
  manifest: WrittenManifest,
  watch: WrittenWatch,
  manifestFile: string,
  services: ServiceManager,
  containment: Containment,
): Promise<string | null> {
  for (const [i, check] of watch.checks.entries()) {
    try {
      await executeStep(
        { id: `watch-${i + 1}`, check },
        {
          manifestFile,
          databases: manifest.rollbackPoint?.databases ?? [],
          services,
          containment,
          signal: new AbortController().signal,
          onLines: () => undefined,
        },
      );
    } catch (error) {
      return `watch check ${i + 1}: ${describeError(error)}`;
    }
  }
  return null;
}

/**
 * Notify the manifest's notifications that the run's rollback could not begin (outcome
 * rollbackFailed): the update is still there and nothing was restored.
 */
async function notifyUnbegun(
  store: Store,
  run: RunRow,
  why: string,
  containment: Containment,
  log: (line: string) => void,
): Promise<void> {
  const manifest = run.manifest as WrittenManifest;
  if (!manifest.notify?.length) return;
  const targets = await notificationsOf(manifest, run.manifestPath ?? "", store.dir);
  if (!targets) {
    log(
      "not notified: the notifications' URLs are kept only in the manifest file, which no longer has them",
    );
    return;
  }
  const report: RunResult = {
    runId: run.id,
    outcome: "rollbackFailed",
    pointId: run.pointId,
    error: why,
    steps: [],
    undos: [],
    reverts: run.id,
  };
  await sendNotifications(targets, messageOf(manifest, report), {
    containment,
    log: (lines) => {
      for (const line of lines) log(line);
    },
  });
}

/** The rollback's result, or why it could not begin (the store refused, or stayed locked). */
async function rollBackWhenFree(
  store: Store,
  services: ServiceManager,
  runId: string,
  log: (line: string) => void,
): Promise<RunResult | string> {
  const until = Date.now() + LOCK_WAIT_MS;
  for (;;) {
    try {
      return await rollbackRun(store, services, runId, {
        byWatch: true,
        onRunId: (id) =>
          store.catalog.watches.move(runId, ["rollingBack"], "rollingBack", { rollbackRun: id }),
      });
    } catch (error) {
      const busy = error instanceof GlobalRollbackError && error.code === "STORE_LOCKED";
      if (!busy || Date.now() > until) {
        const why = `the rollback could not begin: ${describeError(error)}`;
        log(why);
        return why;
      }
      await sleep(2000);
    }
  }
}

/**
 * After `recover` (at boot, say): a watch whose process is gone starts again while its window
 * lasts; one whose rollback's run has ended takes that run's outcome; one that died between its
 * failed check and the start of its rollback watches again (its next probe decides). What was
 * done, a line each.
 */
export function resumeWatches(
  store: Store,
  start: (runId: string) => WatchProcess,
  alive: (watch: WatchRow) => boolean,
): string[] {
  const done: string[] = [];
  for (const w of store.catalog.watches.active()) {
    if (alive(w)) continue;
    if (w.state === "rollingBack" && w.rollbackRun) {
      const run = store.catalog.runs.get(w.rollbackRun);
      if (!run?.finished) continue; // recover closes it first; the next recover settles this
      const to: WatchState = run.state === "watchRolledBack" ? "rolledBack" : "rollbackFailed";
      store.catalog.watches.move(w.runId, ["rollingBack"], to);
      done.push(`the watch of ${w.runId} ended ${to} (run ${run.id})`);
      continue;
    }
    const from: WatchState[] = [w.state];
    if (Date.now() >= w.endsAt) {
      store.catalog.watches.move(w.runId, from, "ended", {
        detail: "the window ended while its process was gone",
      });
      done.push(`the watch of ${w.runId} ended: its window closed while its process was gone`);
      continue;
    }
    if (!store.catalog.watches.move(w.runId, from, "watching")) continue;
    const where = start(w.runId);
    store.catalog.watches.setProcess(w.runId, where);
    done.push(
      `the watch of ${w.runId} started again (${where.unit ? `unit ${where.unit}` : `process ${where.pid}`}), until ${new Date(w.endsAt).toISOString()}`,
    );
  }
  return done;
}
