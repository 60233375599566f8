import type { Command } from "commander";
import { resolveGlobalOptions } from "../context.js";
import type { ExitCode } from "../exit-codes.js";

/** `rollpoint status`: is anything wrong on this host? */
export function registerStatus(
  program: Command,
  run: (fn: () => Promise<ExitCode>) => Promise<void>,
): void {
  program
    .command("status")
    .description(
      "the store's lock holder, unfinished runs (exit 5 if any) and each module's last run",
    )
    .action((_o: unknown, command: Command) =>
      run(async () =>
        (await import("./status-actions.js")).status(
          resolveGlobalOptions(command.optsWithGlobals()),
        ),
      ),
    );
}
