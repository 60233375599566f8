import { isMainThread } from "node:worker_threads";

let owned = false;

/**
 * Says that this process is rollpoint's own (the CLI), not a program embedding the library:
 * process-wide state such as the working directory may then be borrowed for a synchronous span
 * (see lstatBatch in backups/files/walk.ts). An embedding program may have a relative-path call
 * of its own in flight on the thread pool at any moment, so the library never does that.
 */
export function claimProcess(claimed = true): void {
  owned = claimed && isMainThread;
}

/** Whether claimProcess was called on this (main) thread. */
export function processIsOurs(): boolean {
  return owned;
}
