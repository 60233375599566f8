import { describeError, GlobalRollbackError } from "../errors.js";

/**
 * Every module a command loads on demand, loaded before the command does anything. Lazy imports
 * keep `validate` and `--help` quick, but a module that fails to load half-way through `recover`
 * (an I/O error on the disk rollpoint is installed on) would end a command that had already
 * changed things with "unexpected error". Loaded here, a failure happens before anything was
 * done, and says so (exit 4). Later imports of the same modules come from the module cache.
 * test/cli/preload.test.ts checks that each dynamic import under src/cli is listed.
 */
const ON_DEMAND: ReadonlyArray<() => Promise<unknown>> = [
  () => import("./commands/history-actions.js"),
  () => import("./commands/plan-actions.js"),
  () => import("./commands/run-actions.js"),
  () => import("./commands/status-actions.js"),
  () => import("./commands/validate-actions.js"),
  () => import("./commands/watch-actions.js"),
  () => import("../backups/members.js"),
  () => import("../engine/graph.js"),
  () => import("../engine/machine.js"),
  () => import("../engine/recover.js"),
  () => import("../engine/rollback-run.js"),
  () => import("../engine/run.js"),
  () => import("../engine/watch-process.js"),
  () => import("../engine/watch.js"),
  () => import("../library/global-rollback.js"),
  () => import("../backups/databases/postgresql/postgres-backup.js"),
  async () => (await import("../manifest/schema.js")).validator(),
];

/** Load what the commands load on demand; a failure is a GlobalRollbackError, nothing done. */
export async function loadOnDemandModules(): Promise<void> {
  try {
    for (const load of ON_DEMAND) await load();
  } catch (error) {
    throw new GlobalRollbackError(
      "PREFLIGHT_FAILED",
      `could not load its own code (${describeError(error)}): nothing was done; check the disk rollpoint is installed on, then run the command again`,
      { cause: error },
    );
  }
}
