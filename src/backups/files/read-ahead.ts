import { Worker } from "node:worker_threads";

// The walk is synchronous (walk.ts says why), so on a cold cache each directory block and inode
// block it needs is a disk wait during which its own CPU work does not go on. A thread walking
// the same tree in the same order a little ahead, reading and discarding, turns those waits into
// cache hits: a read-ahead for metadata. What it reads is thrown away, so it goes by path (a
// swapped parent only makes it warm the wrong inodes), ignores excludes, and any error of its own
// ends it, never the walk.
const SOURCE = `
(async () => {
const { workerData } = await import("node:worker_threads");
const fs = await import("node:fs");
const { root, shared, ahead } = workerData;
const view = new Int32Array(shared);
const slash = Buffer.from("/");
const dirs = [{ path: Buffer.from(root), names: null, next: 0 }];
let mine = 0;
while (dirs.length && Atomics.load(view, 0) === 0) {
  const top = dirs[dirs.length - 1];
  if (top.names === null) {
    try {
      top.names = fs.readdirSync(top.path, { encoding: "buffer" }).sort(Buffer.compare);
    } catch {
      dirs.pop();
      continue;
    }
  }
  if (top.next >= top.names.length) {
    dirs.pop();
    continue;
  }
  const path = Buffer.concat([top.path, slash, top.names[top.next++]]);
  let stats;
  try {
    stats = fs.lstatSync(path, { throwIfNoEntry: false });
  } catch {}
  if (stats?.isDirectory() && dirs.length < 256) dirs.push({ path, names: null, next: 0 });
  if ((++mine & 255) === 0) {
    for (let seen = Atomics.load(view, 1); mine - seen > ahead && Atomics.load(view, 0) === 0; seen = Atomics.load(view, 1))
      Atomics.wait(view, 1, seen, 200);
  }
}
})();
`;

/** How far ahead of the walk, in paths, the read-ahead may go (what it puts in the cache). */
const AHEAD = 20_000;

/** A read-ahead of `root`'s metadata; tell it how far the walk is, stop it when the walk ends. */
export class MetadataReadAhead {
  private readonly view = new Int32Array(new SharedArrayBuffer(8));
  private readonly worker: Worker;

  constructor(root: string) {
    this.worker = new Worker(SOURCE, {
      eval: true,
      workerData: { root, shared: this.view.buffer, ahead: AHEAD },
      // It holds one directory's names per level: a small heap. A directory too large for it
      // ends the thread (its error is ignored), and the walk goes on without a read-ahead.
      resourceLimits: { maxYoungGenerationSizeMb: 1, maxOldGenerationSizeMb: 12 },
      stdout: false,
      stderr: true,
    });
    this.worker.on("error", () => {});
    this.worker.unref();
  }

  /** The walk has passed `paths` paths. */
  walked(paths: number): void {
    Atomics.store(this.view, 1, paths);
    Atomics.notify(this.view, 1);
  }

  stop(): void {
    Atomics.store(this.view, 0, 1);
    Atomics.notify(this.view, 1);
    void this.worker.terminate();
  }
}
