import { setTimeout as sleep } from "node:timers/promises";

/**
 * Poll `ready` every 100 ms until it holds; after `seconds`, fail naming `what` (and what
 * `diagnose` says of the host then). A hang guard, not a speed limit.
 */
export async function until(
  what: string,
  ready: () => boolean,
  options: { seconds?: number; diagnose?: () => string } = {},
): Promise<void> {
  const tries = (options.seconds ?? 60) * 10;
  for (let i = 0; i < tries; i++) {
    if (ready()) return;
    await sleep(100);
  }
  throw new Error(
    `timed out waiting for ${what}${options.diagnose ? `:\n${options.diagnose()}` : ""}`,
  );
}
