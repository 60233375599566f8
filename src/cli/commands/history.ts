import type { Command } from "commander";
import { resolveGlobalOptions } from "../context.js";
import type { ExitCode } from "../exit-codes.js";

/** `history` and `show <run-id>`. */
export function registerHistory(
  program: Command,
  run: (fn: () => Promise<ExitCode>) => Promise<void>,
): void {
  program
    .command("history")
    .description("past runs, newest first: id, module, start, outcome, duration, version")
    .option("--module <name>", "only this module's runs")
    .option("--limit <n>", "at most this many runs", "50")
    .action((opts: { module?: string; limit: string }, command: Command) =>
      run(async () =>
        (await import("./history-actions.js")).history(
          resolveGlobalOptions(command.optsWithGlobals()),
          opts,
        ),
      ),
    );
  program
    .command("show")
    .argument("<run-id>")
    .description("one run's timeline: states, steps, durations, the failing step's last output")
    .action((id: string, _o: unknown, command: Command) =>
      run(async () =>
        (await import("./history-actions.js")).show(
          resolveGlobalOptions(command.optsWithGlobals()),
          id,
        ),
      ),
    );
}
