import type { Command } from "commander";
import { resolveGlobalOptions } from "../context.js";
import type { ExitCode } from "../exit-codes.js";

/** `rollpoint watch stop|run <run-id>`: a committed run's watch (manifest `watch`). */
export function registerWatch(
  program: Command,
  run: (fn: () => Promise<ExitCode>) => Promise<void>,
): void {
  const watch = program
    .command("watch")
    .description("a committed run's watch: its checks go on after the commit (manifest `watch`)");
  watch
    .command("stop <run-id>")
    .description("end the watch of a run now: the update stays (exit 5 while it is rolling back)")
    .action((runId: string, _o: unknown, command: Command) =>
      run(async () =>
        (await import("./watch-actions.js")).stopWatch(
          resolveGlobalOptions(command.optsWithGlobals()),
          runId,
        ),
      ),
    );
  watch
    .command("run <run-id>")
    .description(
      "what a watch's own process runs (started by `run` at the commit, resumed by `recover`)",
    )
    .action((runId: string, _o: unknown, command: Command) =>
      run(async () =>
        (await import("./watch-actions.js")).followWatch(
          resolveGlobalOptions(command.optsWithGlobals()),
          runId,
        ),
      ),
    );
}
