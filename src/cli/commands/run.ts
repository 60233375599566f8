import type { Command } from "commander";
import { resolveGlobalOptions } from "../context.js";
import type { ExitCode } from "../exit-codes.js";
import { withVarOption } from "../vars.js";

type Runner = (fn: () => Promise<ExitCode>) => Promise<void>;

/** `run`, `recover` and `graph`. */
export function registerRun(program: Command, run: Runner): void {
  withVarOption(program.command("run"))
    .argument("<manifest>")
    .option(
      "--no-rollback",
      "on failure, stop without rolling back (for debugging; recorded in history)",
    )
    .description("run the update: rollback point, steps, and automatic rollback on failure")
    .action((file: string, opts: { var: string[]; rollback: boolean }, command: Command) =>
      run(async () =>
        (await import("./run-actions.js")).runCommand(
          resolveGlobalOptions(command.optsWithGlobals()),
          file,
          opts,
        ),
      ),
    );
  program
    .command("rollback")
    .argument("<run-id>", "a run id, a unique prefix of it (6 characters or more), or latest")
    .option("--force", "roll back even though a later run of the same module committed")
    .description(
      "roll back a committed (or --no-rollback) run: its undos, its rollback point; recorded as a run",
    )
    .action((ref: string, opts: { force?: boolean }, command: Command) =>
      run(async () =>
        (await import("./run-actions.js")).rollback(
          resolveGlobalOptions(command.optsWithGlobals()),
          ref,
          opts,
        ),
      ),
    );
  program
    .command("recover")
    .description("finish every interrupted run by rolling it back")
    .option(
      "--boot",
      "run at boot by rollpoint-recover.service: start services now, though they are ordered after it",
    )
    .action((opts: { boot?: boolean }, command: Command) =>
      run(async () =>
        (await import("./run-actions.js")).recover(
          resolveGlobalOptions(command.optsWithGlobals()),
          opts,
        ),
      ),
    );
  withVarOption(program.command("graph"))
    .argument("<manifest>")
    .description("the compiled state machine as a Mermaid stateDiagram-v2")
    .action((file: string, opts: { var: string[] }, command: Command) =>
      run(async () =>
        (await import("./run-actions.js")).graph(
          resolveGlobalOptions(command.optsWithGlobals()),
          file,
          opts,
        ),
      ),
    );
}
