import type { Command } from "commander";
import { resolveGlobalOptions } from "../context.js";
import type { ExitCode } from "../exit-codes.js";
import { withVarOption } from "../vars.js";

/** `rollpoint validate <manifest|dir>...`: schema and rules, no host access at all. */
export function registerValidate(
  program: Command,
  run: (fn: () => Promise<ExitCode>) => Promise<void>,
): void {
  withVarOption(program.command("validate"))
    .argument("<manifest...>", "manifest files, or directories searched for *.yaml and *.yml")
    .option("--format <format>", "text, or github for ::error annotations", "text")
    .description("check manifests without touching the host (for CI); exit 3 if any is invalid")
    .action((paths: string[], opts: { var: string[]; format: string }, command: Command) =>
      run(async () =>
        (await import("./validate-actions.js")).validate(
          resolveGlobalOptions(command.optsWithGlobals()),
          paths,
          opts,
        ),
      ),
    );
}
