import type { Command } from "commander";
import type { RunResult } from "../../engine/run.js";
import { Store } from "../../store/store.js";
import { emit, type GlobalOptions, resolveGlobalOptions } from "../context.js";
import { ExitCode } from "../exit-codes.js";
import { resultLines } from "./run-format.js";

/** `history` and `show <run-id>`. */
export function registerHistory(
  program: Command,
  run: (fn: () => Promise<ExitCode>) => Promise<void>,
): void {
  program
    .command("history")
    .description("past runs, newest first")
    .action((_o: unknown, command: Command) =>
      run(() => history(resolveGlobalOptions(command.optsWithGlobals()))),
    );
  program
    .command("show")
    .argument("<run-id>")
    .description("one run's timeline: states, steps, durations, the failing step's last output")
    .action((id: string, _o: unknown, command: Command) =>
      run(() => show(resolveGlobalOptions(command.optsWithGlobals()), id)),
    );
}

async function history(o: GlobalOptions): Promise<ExitCode> {
  const store = await Store.open(o.store, { mustExist: true });
  try {
    const runs = store.catalog.runs.list();
    emit(
      o,
      { runs: runs.map(({ snapshot: _s, manifest: _m, events: _e, ...r }) => r) },
      () =>
        runs
          .map((r) =>
            [
              r.id,
              r.module,
              new Date(r.startedAt).toISOString(),
              r.finished ? r.state : `UNFINISHED (${r.state})`,
              r.noRollback ? "--no-rollback" : "",
            ]
              .join("\t")
              .trimEnd(),
          )
          .join("\n") || "no runs",
    );
    return ExitCode.ok;
  } finally {
    store.close();
  }
}

async function show(o: GlobalOptions, id: string): Promise<ExitCode> {
  const store = await Store.open(o.store, { mustExist: true });
  try {
    // An id, a unique prefix of it, or latest.
    const run = store.catalog.runs.resolve(id);
    emit(o, { ...run, snapshot: undefined }, () => {
      const start = run.startedAt;
      const lines = [
        `run ${run.id} (${run.module}) started ${new Date(start).toISOString()}${run.noRollback ? ", with --no-rollback" : ""}`,
      ];
      for (const e of run.events)
        lines.push(
          `  +${((e.at - start) / 1000).toFixed(1).padStart(6)}s  ${e.state}${e.detail ? `  (${e.detail})` : ""}`,
        );
      if (run.result) lines.push(...resultLines(run.result as RunResult));
      else lines.push(`unfinished, last in ${run.state}: run \`rollpoint recover\``);
      return lines.join("\n");
    });
    return ExitCode.ok;
  } finally {
    store.close();
  }
}
