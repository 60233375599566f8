import { type BigIntStats, closeSync, constants, fstatSync, openSync, read } from "node:fs";
import { O_PATH } from "../util/o-path.js";
import type { ParallelPuts, PutResult } from "./objects.js";

/** A file to read, and what the walk saw of it: read only if it is still that, unchanged. */
export interface ReadCheck {
  path: string;
  dev: bigint;
  ino: bigint;
  size: number;
  mtimeNs: bigint;
  ctimeNs: bigint;
}

/** What became of one submitted file. */
type Outcome = PutResult | { retry: true } | { error: Error };

interface Job {
  check: ReadCheck;
  outcome?: Outcome;
}

const RETRY = { retry: true } as const;

// libuv's pool has four threads unless UV_THREADPOOL_SIZE says otherwise: a few reads queued
// behind each keep them busy while the main thread hashes and packs what came back.
const IN_FLIGHT = 16;
// And at most this many bytes being read at once (a file larger than this is read alone): small
// files go up to a mebibyte each, and sixteen of those would be a tenth of a backup's peak.
const IN_FLIGHT_BYTES = 4 << 20;

function same(stats: BigIntStats, check: ReadCheck): boolean {
  return (
    stats.ino === check.ino &&
    stats.dev === check.dev &&
    stats.size === BigInt(check.size) &&
    stats.mtimeNs === check.mtimeNs &&
    stats.ctimeNs === check.ctimeNs
  );
}

/**
 * The small files of a first backup, read on libuv's thread pool while the main thread walks,
 * hashes and packs what each read returned. Only the read, which waits on the disk, goes to the
 * pool, several at once; the open and the fstats (of a path the walk has just looked up, and of
 * a descriptor) are cheap and stay synchronous: a second trip through the pool per file cost
 * more CPU than it saved. Worker threads did this before: an isolate each, 8 MB idle and 16 MB at
 * work, a quarter of a first backup's peak RSS at 200,000 files (docs/performance.md).
 *
 * A file is read only if it is still the inode the walk saw, unchanged through the read (opened
 * O_PATH without following a link, checked on the descriptor, read through /proc/self/fd):
 * else its result is `retry`, and the caller reads it again, checked (steady-read.ts).
 */
export class PooledReads implements ParallelPuts {
  /** Submitted and not drained, in submit order; `started` of them have been started. */
  private jobs: Job[] = [];
  private started = 0;
  private inFlight = 0;
  private inFlightBytes = 0;
  private closed = false;
  /** The drain or close waiting for a read to end. */
  private wake: (() => void) | undefined;

  /** `take` stores one file's bytes (hash, dedup, pack) on the main thread. */
  constructor(private readonly take: (data: Buffer) => PutResult) {}

  submit(check: ReadCheck): void {
    this.jobs.push({ check });
    this.pump();
  }

  async drain(count = this.jobs.length): Promise<Array<PutResult | { retry: true }>> {
    if (count > this.jobs.length)
      throw new Error("the pooled reads were asked for more files than they were given");
    const out: Array<PutResult | { retry: true }> = [];
    for (let i = 0; i < count; i++) {
      const job = this.jobs[i]!;
      while (job.outcome === undefined) await this.nextRead();
      if ("error" in job.outcome) throw job.outcome.error;
      out.push(job.outcome);
    }
    this.jobs = this.jobs.slice(count);
    this.started -= count;
    return out;
  }

  finish(): Promise<Array<PutResult | { retry: true }>> {
    return this.drain();
  }

  /** Start nothing more, and wait for the reads in flight: no descriptor is left open. */
  async close(): Promise<void> {
    this.closed = true;
    while (this.inFlight > 0) await this.nextRead();
  }

  private nextRead(): Promise<void> {
    return new Promise((resolve) => {
      this.wake = resolve;
    });
  }

  private pump(): void {
    while (!this.closed && this.inFlight < IN_FLIGHT && this.started < this.jobs.length) {
      const job = this.jobs[this.started]!;
      if (this.inFlight > 0 && this.inFlightBytes + job.check.size > IN_FLIGHT_BYTES) return;
      this.started++;
      const fd = openChecked(job.check);
      if (typeof fd === "number") {
        this.inFlight++;
        this.inFlightBytes += job.check.size;
        this.read(job, fd);
      } else {
        job.outcome = fd;
        this.wakeUp();
      }
    }
  }

  private wakeUp(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }

  /** Read the open file on the pool; its bytes are taken here once they are all in. */
  private read(job: Job, fd: number): void {
    const { check } = job;
    // One byte more than the walk saw: a file that grew since is read again, not cut short.
    const data = Buffer.allocUnsafe(check.size + 1);
    const readOn = (done: number): void =>
      read(fd, data, done, data.length - done, done, (failure, n) => {
        if (!failure && n > 0 && done + n < data.length) return readOn(done + n);
        let outcome: Outcome;
        try {
          if (failure) outcome = { error: named(failure, check.path) };
          else if (done + n !== check.size || !same(fstatSync(fd, { bigint: true }), check))
            outcome = RETRY;
          else if (this.closed) outcome = RETRY;
          else outcome = this.take(data.subarray(0, check.size));
        } catch (error) {
          outcome = { error: named(error, check.path) };
        } finally {
          closeSync(fd);
        }
        job.outcome = outcome;
        this.inFlight--;
        this.inFlightBytes -= check.size;
        this.wakeUp();
        this.pump();
      });
    readOn(0);
  }
}

/**
 * The file opened for reading if it is still the regular file the walk saw, unchanged; else
 * `retry` (gone, replaced, changed: the caller's checked read says which).
 */
function openChecked(check: ReadCheck): number | Outcome {
  let pinned: number;
  try {
    pinned = openSync(check.path, O_PATH | constants.O_NOFOLLOW);
  } catch {
    return RETRY;
  }
  try {
    const before = fstatSync(pinned, { bigint: true });
    if (!before.isFile() || !same(before, check)) return RETRY;
    // The same inode, whatever its path is by now: the pinned descriptor is not kept (one
    // descriptor for each read in flight, not two).
    return openSync(`/proc/self/fd/${pinned}`, constants.O_RDONLY);
  } catch (failure) {
    return { error: named(failure, check.path) };
  } finally {
    closeSync(pinned);
  }
}

/** The error with the file it was about, as the caller's messages name it. */
function named(error: unknown, path: string): Error {
  const failure = error instanceof Error ? error : new Error(String(error));
  return Object.assign(new Error(`${path}: ${failure.message}`), {
    code: (failure as NodeJS.ErrnoException).code,
  });
}
