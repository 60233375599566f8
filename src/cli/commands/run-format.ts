import { outcomeWords } from "../../engine/outcome-words.js";
import type { RunResult } from "../../engine/run.js";
import { operationLine, unitLine } from "./backups/format.js";

export { outcomeWords };

/** The end of a run's output: each step, each undo and restore, and the outcome in words. */
export function resultLines(r: RunResult): string[] {
  const lines = ["", `run ${r.runId}`];
  for (const s of r.steps) {
    const mark = s.status === "succeeded" ? "✓" : s.status === "pending" ? "·" : "✗";
    lines.push(
      `  ${mark} ${s.id} ${s.status}${s.durationMs !== undefined ? ` (${(s.durationMs / 1000).toFixed(1)}s)` : ""}${s.error ? `: ${s.error}` : ""}`,
    );
    for (const l of s.status === "failed" ? (s.lastLines ?? []) : []) lines.push(`      | ${l}`);
  }
  if (r.undos.length)
    lines.push("undo:", ...r.undos.map((u) => `  ${u.ok ? "✓" : "✗"} ${u.stepId}: ${u.detail}`));
  if (r.rollback) {
    if (r.rollback.stopped.length)
      lines.push("services stopped:", ...r.rollback.stopped.map(unitLine));
    lines.push(
      "restored:",
      ...r.rollback.operations.map((o) => `  ${operationLine(o).replace(/\n/g, "\n  ")}`),
    );
  }
  if (r.finally?.length)
    lines.push(
      "finally:",
      ...r.finally.map(
        (s) =>
          `  ${s.status === "succeeded" ? "✓" : "✗"} ${s.id} ${s.status}${s.error ? `: ${s.error}` : ""}`,
      ),
    );
  if (r.watch)
    lines.push(
      r.watch.until
        ? `watching until ${r.watch.until} (${r.watch.unit ? `unit ${r.watch.unit}` : `process ${r.watch.pid}`}): a failing check rolls the update back; \`rollpoint watch stop ${r.runId}\` ends it`
        : `the watch could not start: ${r.watch.error}`,
    );
  if (r.notifications?.length)
    lines.push(
      "notified:",
      ...r.notifications.map(
        (n) => `  ${n.ok ? "✓" : "✗"} ${n.target}${n.error ? `: ${n.error}` : ""}`,
      ),
    );
  if (r.evidencePointId)
    lines.push(`the failed state is kept as rollback point ${r.evidencePointId} (keepFailedState)`);
  if (r.survivors) lines.push(`not restored: ${r.survivors}`);
  if (r.error && r.outcome !== "committed") lines.push(`cause: ${r.error}`);
  lines.push(outcomeWords(r));
  return lines;
}
