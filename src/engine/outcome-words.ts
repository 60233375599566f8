// A run's outcome in words, as `run` prints it last and a notification says it.

import { coverageOf } from "../backups/members.js";
import type { RunResult } from "./types.js";

const WORDS: Record<RunResult["outcome"], string> = {
  committed: "committed: the update is in place",
  rolledBack: "rolled back: everything in the rollback point is as it was before the update",
  rollbackFailed:
    "ROLLBACK INCOMPLETE: manual intervention needed; what is left is listed above (once its cause is fixed, `rollpoint rollback <run>` restores the rollback point again)",
  notStarted: "not started: nothing was changed",
  failed: "FAILED without rollback (--no-rollback): the host is as the failed update left it",
  watchRolledBack:
    "rolled back by its watch: a check failed after the commit; everything in the rollback point is as it was before the update",
  failedForward:
    "FAILED FORWARD: a step failed after the point of no return (an irreversible step); nothing was rolled back and the rollback point is kept: decide by hand, or `rollpoint backups restore` it",
};

/**
 * The last line. "Everything is as it was" is said only when every member was read back and
 * compared; otherwise the line says what was not proven (a run without a rollback point has only
 * its undos, which cannot be checked against anything).
 */
export function outcomeWords(r: RunResult): string {
  // Without a point (the runner died taking it, and what it held could not be put back) there
  // is nothing `rollback <run>` could restore: the cause line says what to do by hand.
  if (r.outcome === "rollbackFailed" && !r.pointId)
    return "ROLLBACK INCOMPLETE: manual intervention needed; the run had no rollback point yet: put back by hand what the cause above names";
  if (r.outcome !== "rolledBack") return WORDS[r.outcome];
  const operations = r.rollback?.operations ?? [];
  if (operations.length === 0)
    return "rolled back: the undos ran; no rollback point protected anything, so nothing could be read back and compared";
  const unproven = operations.flatMap((o) => (o.unproven ? [o.unproven] : []));
  if (unproven.length) return `rolled back, but not everything was proven: ${unproven.join("; ")}`;
  // What the point covered, so that nobody reads "as it was" as the whole host.
  return `${WORDS.rolledBack}: ${coverageOf(operations)}`;
}
