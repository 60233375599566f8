import { setImmediate as turn } from "node:timers/promises";
import { GlobalRollbackError } from "../errors.js";

/**
 * A point between two batches of a long read (a window of a walk, a chunk of a large file).
 * The event loop is given a turn first: a walk is synchronous within its window, and a signal's
 * handler (which aborts `signal`) runs only when the loop turns. Then, if the run was
 * interrupted, the read stops here with an error naming what it was reading; the point's
 * failure removes what it had taken.
 */
export async function checkpoint(signal: AbortSignal | undefined, doing: string): Promise<void> {
  await turn();
  if (signal?.aborted) {
    throw new GlobalRollbackError(
      "BACKUP_FAILED",
      `interrupted (${String(signal.reason)}) while ${doing}: what was taken is removed`,
    );
  }
}
