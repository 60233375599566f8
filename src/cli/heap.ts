import { setFlagsFromString } from "node:v8";

/**
 * Keeps V8's old generation near what a walk holds live (a few MB of window and frame). V8 sizes
 * it for throughput when collections are cheap, as a walk's are; this flag is read at every
 * collection, so it may be set once the process runs. Measured on a repeat backup of 200,000
 * files (docs/performance.md): peak RSS 185 → 143 MB for 8% more CPU. The young generation's
 * cap is read only when the heap is configured: the `rollpoint` launcher gives it on node's
 * command line (`--max-semi-space-size=1`), as nothing set from here would take effect.
 * The CLI only: a program embedding the library keeps its own heap settings.
 */
export function boundHeapGrowth(): void {
  // The old generation grows by 20% of what survived the last full collection, not up to 4×.
  setFlagsFromString("--heap-growing-percent=20");
}

/**
 * The launcher caps glibc's malloc arenas for this process (bin/rollpoint); glibc has read the
 * setting by now. It is taken out of the environment so that the steps, hooks and tools this
 * process starts get the user's environment, not rollpoint's tuning. A value the user set
 * themselves is theirs and stays.
 */
export function keepArenaCapToThisProcess(): void {
  if (process.env.ROLLPOINT_ARENAS_FROM_LAUNCHER !== "1") return;
  delete process.env.MALLOC_ARENA_MAX;
  delete process.env.ROLLPOINT_ARENAS_FROM_LAUNCHER;
}
