/**
 * Time as the engine reads it: injected, so that a test can run a one-hour settle window or a
 * run's timeout at once, and assert that a timer was armed and cleared. The shape of
 * `setTimeout`/`clearTimeout` is xstate's own clock option, so the machine's delays and the
 * checks, retries and settle windows all read the same clock.
 */
export interface Clock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(id: unknown): void;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (id) => clearTimeout(id as NodeJS.Timeout),
};

/** Resolve after `ms` on `clock`, or at once when `signal` aborts (never rejects). */
export function sleepOn(clock: Clock, ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const done = () => {
      clock.clearTimeout(id);
      signal?.removeEventListener("abort", done);
      resolve();
    };
    const id = clock.setTimeout(done, ms);
    signal?.addEventListener("abort", done, { once: true });
  });
}
