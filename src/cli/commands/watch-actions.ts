import { appendFileSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { SystemdServiceManager } from "../../backups/services/systemd.js";
import { endWatches } from "../../engine/watch.js";
import { startWatchProcess } from "../../engine/watch-process.js";
import { GlobalRollbackError } from "../../errors.js";
import { Store } from "../../store/store.js";
import { emit, type GlobalOptions } from "../context.js";
import { EXIT_OF_OUTCOME, ExitCode } from "../exit-codes.js";

// The work behind the `watch` commands, loaded only when one of them runs.

/** This CLI's entry point: what a watch's process runs. */
export const CLI_ENTRY = fileURLToPath(new URL("../main.js", import.meta.url));

/** How `run` and `recover` start a watch's process for a store. */
export const watchStarter = (storeDir: string) => (runId: string) =>
  startWatchProcess(CLI_ENTRY, storeDir, runId);

export async function stopWatch(o: GlobalOptions, runId: string): Promise<ExitCode> {
  const store = await Store.open(o.store, { mustExist: true });
  try {
    const id = store.catalog.runs.resolve(runId).id;
    const watch = store.catalog.watches.get(id);
    if (!watch)
      throw new GlobalRollbackError("INVALID_ARGUMENT", `run ${id} has no watch`, {
        context: { runId: id },
      });
    const ended = endWatches(store, { runId: id }, "stopped", "stopped by `rollpoint watch stop`");
    const now = store.catalog.watches.get(id)!;
    emit(o, { runId: id, state: now.state, stopped: ended.length > 0 }, () =>
      ended.length
        ? `stopped the watch of run ${id}: the update stays`
        : `the watch of run ${id} had ended already (${now.state}${now.detail ? `: ${now.detail}` : ""})`,
    );
    return ExitCode.ok;
  } finally {
    store.close();
  }
}

export async function followWatch(o: GlobalOptions, runId: string): Promise<ExitCode> {
  const { followWatch: follow } = await import("../../engine/watch.js");
  const store = await Store.open(o.store, { mustExist: true });
  const logs = join(store.dir, "logs");
  mkdirSync(logs, { recursive: true, mode: 0o700 });
  const logFile = join(logs, `${runId}.watch.log`);
  const log = (line: string) => {
    const text = `${new Date().toISOString()} [watch] ${line}\n`;
    try {
      appendFileSync(logFile, text, { mode: 0o600 });
    } catch {
      // The log is the watch's record, not the watch.
    }
    if (!o.json) process.stdout.write(text);
  };
  const stop = new AbortController();
  const onSignal = () => stop.abort();
  process.on("SIGTERM", onSignal);
  process.on("SIGINT", onSignal);
  try {
    const end = await follow(store, new SystemdServiceManager(), runId, log, stop.signal);
    emit(o, end, () => `watch of ${runId}: ${end.state}`);
    // A rollback that could not begin is rollbackFailed too: the update is there, and the
    // process's end says so (a watch's unit then shows failed, not succeeded).
    if (end.rollback) return EXIT_OF_OUTCOME[end.rollback.outcome];
    return end.state === "rollbackFailed" ? ExitCode.needsIntervention : ExitCode.ok;
  } finally {
    process.off("SIGTERM", onSignal);
    process.off("SIGINT", onSignal);
    store.close();
  }
}
