import type { Command } from "commander";
import { resolveGlobalOptions } from "../context.js";
import type { ExitCode } from "../exit-codes.js";
import { withVarOption } from "../vars.js";

/** `rollpoint plan <manifest>`: preflight, the steps, and each step's rollback; changes nothing. */
export function registerPlan(
  program: Command,
  run: (fn: () => Promise<ExitCode>) => Promise<void>,
): void {
  withVarOption(program.command("plan"))
    .argument("<manifest>")
    .description(
      "dry run on this host: preflight checks, the steps, and the rollback of each; changes nothing",
    )
    .action((file: string, opts: { var: string[] }, command: Command) =>
      run(async () =>
        (await import("./plan-actions.js")).plan(
          resolveGlobalOptions(command.optsWithGlobals()),
          file,
          opts,
        ),
      ),
    );
}
