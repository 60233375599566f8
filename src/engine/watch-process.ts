// Where a watch runs: a transient systemd unit where systemd is the init (it outlives the shell
// and cron, is stopped with its whole cgroup, and shows in `systemctl list-units`), a detached
// process of its own session otherwise. Either runs `rollpoint --store <dir> watch run <run-id>`.

import { spawn, spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import type { WatchRow } from "../store/watches.js";
import { systemdBooted } from "../util/systemd-booted.js";
import type { WatchProcess } from "./watch.js";

/** The transient unit of a run's watch. */
export const watchUnit = (runId: string): string => `rollpoint-watch-${runId}.service`;

/**
 * Start the watch of `runId` with the CLI at `cli` (this process's own entry point), the store
 * given as `storeDir`. `ROLLPOINT_WATCH_DETACHED=1` keeps it a detached process under systemd too.
 */
export function startWatchProcess(cli: string, storeDir: string, runId: string): WatchProcess {
  // The launcher's young-generation cap goes on with the runner (a watch lives for hours); the
  // rest of execArgv is the embedding program's (a test runner's loaders, an inspector port).
  const heapFlags = process.execArgv.filter((a) => a.startsWith("--max-semi-space-size"));
  const argv = [process.execPath, ...heapFlags, cli, "--store", storeDir, "watch", "run", runId];
  if (systemdBooted() && process.env.ROLLPOINT_WATCH_DETACHED !== "1") {
    const unit = watchUnit(runId);
    const started = spawnSync(
      "systemd-run",
      [
        "--unit",
        unit,
        "--collect",
        "--no-block",
        "--quiet",
        "--description",
        `rollpoint watch of ${runId}`,
        ...argv,
      ],
      { encoding: "utf8" },
    );
    if (started.status === 0) return { unit };
  }
  const child = spawn(argv[0]!, argv.slice(1), { detached: true, stdio: "ignore" });
  child.unref();
  return { pid: child.pid! };
}

/** Is the watch's process still there (its unit active, or its pid running `watch run <id>`)? */
export function watchProcessAlive(watch: WatchRow): boolean {
  if (watch.unit) {
    const r = spawnSync("systemctl", ["is-active", "--quiet", watch.unit]);
    return r.status === 0;
  }
  if (!watch.pid) return false;
  try {
    // A pid reused after a reboot is another process: it must be ours, for this run.
    const cmdline = readFileSync(`/proc/${watch.pid}/cmdline`, "utf8").split("\0");
    return cmdline.includes("watch") && cmdline.includes(watch.runId);
  } catch {
    return false;
  }
}

/** Stop the watch's process (it also sees its state change and ends by itself). */
export function endWatchProcess(watch: WatchRow): void {
  if (watch.unit) {
    spawnSync("systemctl", ["stop", "--no-block", watch.unit]);
    return;
  }
  if (watch.pid && watchProcessAlive(watch)) {
    try {
      process.kill(watch.pid, "SIGTERM");
    } catch {
      // Gone already.
    }
  }
}
