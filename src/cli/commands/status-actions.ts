import { watchProcessAlive } from "../../engine/watch-process.js";
import type { LockHolder } from "../../store/lock.js";
import { probeLock } from "../../store/lock.js";
import type { RunRow } from "../../store/runs.js";
import { Store } from "../../store/store.js";
import { emit, type GlobalOptions } from "../context.js";
import { ExitCode } from "../exit-codes.js";

// The work behind the `status` commands, loaded only when one of them runs: registering the
// commands (status.ts) must stay light, for `--help`, `--version` and every other command.

interface ModuleStatus {
  module: string;
  runId: string;
  outcome: string;
  finishedAt: string | null;
  startedAt: string;
}

export async function status(o: GlobalOptions): Promise<ExitCode> {
  const store = await Store.open(o.store, { mustExist: true });
  try {
    const lock = probeLock(store.dir);
    const unfinished = store.catalog.runs.unfinished();
    const modules = lastRunPerModule(store.catalog.runs.list(10_000));
    const watches = store.catalog.watches.active().map((w) => ({
      runId: w.runId,
      module: w.module,
      state: w.state,
      until: new Date(w.endsAt).toISOString(),
      ...(w.unit ? { unit: w.unit } : {}),
      ...(w.pid ? { pid: w.pid } : {}),
      running: watchProcessAlive(w),
    }));
    // A watch whose rollback could not begin leaves its run the module's last, "committed": the
    // update is there although its check failed, and only this says so.
    const failedWatches = modules.flatMap((m) => {
      const w = store.catalog.watches.get(m.runId);
      return w?.state === "rollbackFailed" && !w.rollbackRun
        ? [{ runId: w.runId, module: w.module, detail: w.detail ?? "" }]
        : [];
    });
    emit(
      o,
      {
        store: store.dir,
        lock,
        unfinished: unfinished.map((r) => ({ runId: r.id, module: r.module, state: r.state })),
        modules,
        watches,
        failedWatches,
      },
      () => {
        const lines = [`store ${store.dir}`, `lock: ${lockText(lock)}`];
        if (unfinished.length === 0) lines.push("unfinished runs: none");
        else
          for (const r of unfinished)
            lines.push(
              `UNFINISHED ${r.id} (${r.module}), last in ${r.state}: run \`rollpoint recover\``,
            );
        for (const w of watches)
          lines.push(
            `${w.state === "rollingBack" ? "ROLLING BACK" : "watching"} ${w.runId} (${w.module}) until ${w.until}, ${w.unit ? `unit ${w.unit}` : `process ${w.pid}`}${w.running ? "" : ": its process is gone (`rollpoint recover` starts it again)"}`,
          );
        for (const w of failedWatches)
          lines.push(
            `WATCH COULD NOT ROLL BACK ${w.runId} (${w.module}): ${w.detail}; the update is still there: \`rollpoint rollback ${w.runId}\``,
          );
        lines.push(modules.length ? "last run of each module:" : "no runs yet");
        for (const m of modules)
          lines.push(
            `  ${m.module}\t${m.runId}\t${m.outcome}\t${age(Date.parse(m.finishedAt ?? m.startedAt))}`,
          );
        return lines.join("\n");
      },
    );
    // A run that did not finish is something wrong on this host, as for `run`: exit 5.
    return unfinished.length ? ExitCode.locked : ExitCode.ok;
  } finally {
    store.close();
  }
}

function lastRunPerModule(runs: RunRow[]): ModuleStatus[] {
  const seen = new Map<string, ModuleStatus>();
  for (const r of runs) {
    if (seen.has(r.module)) continue;
    seen.set(r.module, {
      module: r.module,
      runId: r.id,
      outcome: r.finished ? r.state : `unfinished (${r.state})`,
      startedAt: new Date(r.startedAt).toISOString(),
      finishedAt: r.finishedAt === null ? null : new Date(r.finishedAt).toISOString(),
    });
  }
  return [...seen.values()].sort((a, b) => a.module.localeCompare(b.module));
}

function lockText(lock: { state: string; holder?: LockHolder }): string {
  const who = lock.holder
    ? `pid ${lock.holder.pid} on ${lock.holder.hostname} (${lock.holder.command}${lock.holder.runId ? `, run ${lock.holder.runId}` : ""}, since ${lock.holder.startedAt})`
    : "";
  if (lock.state === "held") return `held by ${who || "another process"}`;
  if (lock.state === "stale") return `free; ${who} died holding it (the next command cleans up)`;
  return "free";
}

function age(ms: number): string {
  const s = Math.max(0, Math.round((Date.now() - ms) / 1000));
  if (s < 120) return `${s}s ago`;
  if (s < 7200) return `${Math.round(s / 60)}m ago`;
  if (s < 172_800) return `${Math.round(s / 3600)}h ago`;
  return `${Math.round(s / 86_400)}d ago`;
}
