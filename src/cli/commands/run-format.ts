import { coverageOf } from "../../backups/members.js";
import type { RunResult } from "../../engine/run.js";
import { operationLine, unitLine } from "./backups/format.js";

const WORDS: Record<RunResult["outcome"], string> = {
  committed: "committed: the update is in place",
  rolledBack: "rolled back: everything in the rollback point is as it was before the update",
  rollbackFailed: "ROLLBACK INCOMPLETE: manual intervention needed; what is left is listed above",
  notStarted: "not started: nothing was changed",
  failed: "FAILED without rollback (--no-rollback): the host is as the failed update left it",
  failedForward:
    "FAILED FORWARD: a step failed after the point of no return (an irreversible step); nothing was rolled back and the rollback point is kept: decide by hand, or `rollpoint backups restore` it",
};

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
  if (r.evidencePointId)
    lines.push(`the failed state is kept as rollback point ${r.evidencePointId} (keepFailedState)`);
  if (r.survivors) lines.push(`not restored: ${r.survivors}`);
  if (r.error && r.outcome !== "committed") lines.push(`cause: ${r.error}`);
  lines.push(outcomeWords(r));
  return lines;
}

/**
 * The last line. "Everything is as it was" is said only when every member was read back and
 * compared; otherwise the line says what was not proven (a run without a rollback point has only
 * its undos, which cannot be checked against anything).
 */
export function outcomeWords(r: RunResult): string {
  if (r.outcome !== "rolledBack") return WORDS[r.outcome];
  const operations = r.rollback?.operations ?? [];
  if (operations.length === 0)
    return "rolled back: the undos ran; no rollback point protected anything, so nothing could be read back and compared";
  const unproven = operations.flatMap((o) => (o.unproven ? [o.unproven] : []));
  if (unproven.length) return `rolled back, but not everything was proven: ${unproven.join("; ")}`;
  // What the point covered, so that nobody reads "as it was" as the whole host.
  return `${WORDS.rolledBack}: ${coverageOf(operations)}`;
}
