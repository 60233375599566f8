import { existsSync, writeSync } from "node:fs";

const counts = new Map<string, number>();

/**
 * A deterministic place for tests to kill the process: when `ROLLPOINT_PAUSE_AT` is `name` (or
 * `name#n`, the n-th time it is reached), announce `rollpoint: paused at <name>` on stderr and
 * block the whole thread (no timer, promise or child callback runs any more), so the test can
 * SIGKILL the process at exactly this instant instead of guessing with sleeps. A map lookup when
 * unset. With `ROLLPOINT_PAUSE_UNTIL=<file>` the pause ends when that file appears instead, so a
 * test can change the world at that instant (fill a disk) and let the run go on.
 */
export function pausePoint(name: string): void {
  const wanted = process.env.ROLLPOINT_PAUSE_AT;
  if (!wanted) return;
  const count = (counts.get(name) ?? 0) + 1;
  counts.set(name, count);
  const [point, nth] = wanted.split("#");
  if (point !== name || count !== Number(nth ?? 1)) return;
  writeSync(2, `rollpoint: paused at ${wanted}\n`);
  const cell = new Int32Array(new SharedArrayBuffer(4));
  const until = process.env.ROLLPOINT_PAUSE_UNTIL;
  if (!until) Atomics.wait(cell, 0, 0);
  else while (!existsSync(until)) Atomics.wait(cell, 0, 0, 20);
}
