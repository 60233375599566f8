import type { Clock } from "../../src/util/clock.js";

/**
 * A clock that moves only when told: timers fire in order, at once, so a one-hour window is
 * tested in milliseconds, and `pending` shows which timers are armed.
 */
export class ManualClock implements Clock {
  private t = 0;
  private nextId = 1;
  private readonly timers = new Map<number, { at: number; fn: () => void }>();

  now(): number {
    return this.t;
  }

  setTimeout(fn: () => void, ms: number): number {
    const id = this.nextId++;
    this.timers.set(id, { at: this.t + ms, fn });
    return id;
  }

  clearTimeout(id: unknown): void {
    this.timers.delete(id as number);
  }

  /** How many timers are armed now. */
  get pending(): number {
    return this.timers.size;
  }

  /** Fire the timers, earliest first, until `work` settles; real I/O runs between them. */
  async runUntil<T>(work: Promise<T>): Promise<T> {
    let settled = false;
    work.then(
      () => (settled = true),
      () => (settled = true),
    );
    for (;;) {
      await new Promise((resolve) => setImmediate(resolve));
      if (settled) return work;
      const [first] = [...this.timers.entries()].sort((a, b) => a[1].at - b[1].at);
      if (!first) continue;
      this.t = Math.max(this.t, first[1].at);
      this.timers.delete(first[0]);
      first[1].fn();
    }
  }
}
