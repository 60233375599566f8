import { SystemdServiceManager } from "../../backups/services/systemd.js";
import type { RunResult } from "../../engine/run.js";
import { GlobalRollbackError } from "../../errors.js";
import { formatDiagnostic } from "../../manifest/diagnostics.js";
import { loadManifest } from "../../manifest/load.js";
import { buildPlan } from "../../plan/plan.js";
import { Store } from "../../store/store.js";
import { emit, type GlobalOptions } from "../context.js";
import { EXIT_OF_OUTCOME, ExitCode } from "../exit-codes.js";
import { progressPrinter } from "../progress.js";
import { parseVars } from "../vars.js";
import { outcomeWords, resultLines } from "./run-format.js";

// The work behind the `run` commands, loaded only when one of them runs: registering the
// commands (run.ts) must stay light, for `--help`, `--version` and every other command.

async function loadOrExplain(
  o: GlobalOptions,
  file: string,
  vars: string[],
  mode: "run" | "validate",
) {
  const loaded = await loadManifest(file, { vars: parseVars(vars), mode, storeDir: o.store });
  for (const w of loaded.warnings) process.stderr.write(`${formatDiagnostic(w)}\n`);
  if (!loaded.manifest) {
    throw new GlobalRollbackError(
      "INVALID_ARGUMENT",
      `invalid manifest, nothing was touched:\n${loaded.errors.map(formatDiagnostic).join("\n")}`,
      {
        context: {
          path: file,
          diagnostics: loaded.errors.map(({ code, file, line, col, path, message }) => ({
            code,
            file,
            line,
            col,
            path,
            message,
          })),
        },
      },
    );
  }
  return loaded.manifest;
}

export async function runCommand(
  o: GlobalOptions,
  file: string,
  opts: { var: string[]; rollback: boolean },
): Promise<ExitCode> {
  const manifest = await loadOrExplain(o, file, opts.var, "run");
  const { startRun } = await import("../../engine/run.js");
  const store = await Store.open(o.store);
  const handle = startRun({
    manifestFile: file,
    manifest,
    plan: buildPlan(manifest),
    store,
    services: new SystemdServiceManager(),
    noRollback: !opts.rollback,
    onProgress: o.json ? undefined : progressPrinter(o.verbosity),
    startWatch: (await import("./watch-actions.js")).watchStarter(store.dir),
  });
  const onSignal = (signal: NodeJS.Signals) => {
    if (handle.interrupt(`${signal} received`)) {
      process.stderr.write(`rollpoint: ${signal}: stopping the update and rolling back\n`);
    } else {
      process.stderr.write(
        `rollpoint: ${signal}: a rollback is under way and will not be interrupted\n`,
      );
    }
  };
  // SIGHUP too: a dropped ssh session must roll back like a Ctrl-C, not leave a half update.
  const signals = ["SIGINT", "SIGTERM", "SIGHUP"] as const;
  for (const signal of signals) process.on(signal, onSignal);
  try {
    const result = await handle.result;
    // `verdict`: the last line a person reads, for scripts (the Ansible role) to repeat as is.
    emit(o, { ...result, verdict: outcomeWords(result) }, () => resultLines(result).join("\n"));
    return EXIT_OF_OUTCOME[result.outcome];
  } finally {
    for (const signal of signals) process.off(signal, onSignal);
    store.close();
  }
}

export async function rollback(
  o: GlobalOptions,
  ref: string,
  opts: { force?: boolean },
): Promise<ExitCode> {
  const { rollbackRun } = await import("../../engine/rollback-run.js");
  const store = await Store.open(o.store, { mustExist: true });
  try {
    const result = await rollbackRun(store, new SystemdServiceManager(), ref, {
      ...(opts.force ? { force: true } : {}),
      ...(o.json ? {} : { onProgress: progressPrinter(o.verbosity) }),
    });
    emit(o, { ...result, verdict: outcomeWords(result) }, () =>
      [`reverting run ${result.reverts}`, ...resultLines(result)].join("\n"),
    );
    // Asked to roll back, it did: exit 0; anything left not as it was is exit 2.
    return result.outcome === "rolledBack" ? ExitCode.ok : EXIT_OF_OUTCOME[result.outcome];
  } finally {
    store.close();
  }
}

export async function recover(o: GlobalOptions, opts: { boot?: boolean }): Promise<ExitCode> {
  const { recoverRuns } = await import("../../engine/recover.js");
  const store = await Store.open(o.store);
  try {
    const services = new SystemdServiceManager("systemctl", { ignoreOrdering: opts.boot ?? false });
    const recovered = await recoverRuns(
      store,
      services,
      o.json ? {} : { onProgress: progressPrinter(o.verbosity) },
    );
    const { resumeWatches } = await import("../../engine/watch.js");
    const { watchProcessAlive } = await import("../../engine/watch-process.js");
    const watches = resumeWatches(
      store,
      (await import("./watch-actions.js")).watchStarter(store.dir),
      watchProcessAlive,
    );
    // Each run as `run` reports its own rollback: steps, undos, every member and its proof.
    emit(
      o,
      { recovered, watches },
      () =>
        [...watches, ...(watches.length ? [""] : [])].join("\n") +
        (recovered.length
          ? recovered
              .map((r) =>
                [
                  `${r.runId} (${r.module}), interrupted in ${r.interruptedIn}: ${r.outcome}`,
                  ...(r.killed
                    ? [`killed ${r.killed} leftover process(es) of its steps first`]
                    : []),
                  ...resultLines(r.result),
                ].join("\n"),
              )
              .join("\n\n")
          : "no interrupted run"),
    );
    const worst = recovered
      .map((r) => EXIT_OF_OUTCOME[r.outcome])
      .find((c) => c === ExitCode.needsIntervention);
    return worst ?? ExitCode.ok;
  } finally {
    store.close();
  }
}

export async function graph(
  o: GlobalOptions,
  file: string,
  opts: { var: string[] },
): Promise<ExitCode> {
  const manifest = await loadOrExplain(o, file, opts.var, "validate");
  const { compileMachine } = await import("../../engine/machine.js");
  const { mermaid } = await import("../../engine/graph.js");
  const noop = async () => {
    throw new Error("graph only");
  };
  const machine = compileMachine(buildPlan(manifest), {
    preflight: noop,
    takeRollbackPoint: noop,
    abandonPoint: () => undefined,
    runStep: noop,
    settle: noop,
    keepEvidence: noop,
    undo: noop,
    verifyPoint: noop,
    stopServices: noop,
    restoreMember: noop,
    returnServices: noop,
  });
  const diagram = mermaid(machine);
  emit(o, { mermaid: diagram }, () => diagram);
  return ExitCode.ok;
}

export type { RunResult };
