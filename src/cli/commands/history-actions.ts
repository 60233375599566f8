import type { RunResult } from "../../engine/run.js";
import { GlobalRollbackError } from "../../errors.js";
import { Store } from "../../store/store.js";
import { emit, type GlobalOptions } from "../context.js";
import { ExitCode } from "../exit-codes.js";
import { resultLines } from "./run-format.js";

// The work behind the `history` commands, loaded only when one of them runs: registering the
// commands (history.ts) must stay light, for `--help`, `--version` and every other command.

export async function history(
  o: GlobalOptions,
  opts: { module?: string; limit: string },
): Promise<ExitCode> {
  const limit = Number(opts.limit);
  if (!Number.isInteger(limit) || limit < 1) {
    throw new GlobalRollbackError(
      "INVALID_ARGUMENT",
      `--limit must be a whole number of 1 or more, got ${JSON.stringify(opts.limit)}`,
    );
  }
  const store = await Store.open(o.store, { mustExist: true });
  try {
    const runs = store.catalog.runs.list(limit, opts.module);
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
              r.finishedAt === null ? "" : `${((r.finishedAt - r.startedAt) / 1000).toFixed(1)}s`,
              versionOf(r.manifest),
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

export async function show(o: GlobalOptions, id: string): Promise<ExitCode> {
  const store = await Store.open(o.store, { mustExist: true });
  try {
    // An id, a unique prefix of it, or latest.
    const run = store.catalog.runs.resolve(id);
    emit(o, { ...run, snapshot: undefined }, () => {
      const start = run.startedAt;
      const lines = [
        `run ${run.id} (${run.module}) started ${new Date(start).toISOString()}${run.noRollback ? ", with --no-rollback" : ""}`,
        `  rollback point: ${run.pointId ?? "none taken"}`,
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

/** The manifest's `version`, as the run recorded it ("" when it had none). */
function versionOf(manifest: unknown): string {
  const version = (manifest as { version?: unknown } | null)?.version;
  return typeof version === "string" ? version : "";
}
