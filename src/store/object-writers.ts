import { createRequire } from "node:module";
import { availableParallelism } from "node:os";
import { Worker } from "node:worker_threads";
import { O_PATH } from "../util/o-path.js";
import type { PutResult } from "./objects.js";
import { PACK_TARGET, type PackedAt, packAppender, type SealedPack } from "./packs.js";
import { PAGE_CACHE_PRAGMAS } from "./page-cache.js";

// The worker's program. It is plain JavaScript evaluated by the Worker (eval: true) rather than a
// separate module, so that it runs the same from the compiled package and from the sources under
// test; the pack appender is the main thread's own function, inserted as source text. Each file
// is read whole (callers send small files only) and hashed; contents the store already has (the
// catalog's packed objects, read-only, or an object stored whole) or this thread already packed
// are not written again; the rest is appended to this thread's packs. A file is read only if it
// is still the inode the walk saw, unchanged through the read (opened O_PATH without following a
// link, read through /proc/self/fd): else the main thread reads it again. Dynamic imports inside an
// async function work whether Node evaluates it as a script or as a module (an embedding process
// run with --input-type=module makes eval'ed workers modules).
const WORKER_SOURCE = `
(async () => {
const { parentPort, workerData } = await import("node:worker_threads");
const fs = await import("node:fs");
const { createHash } = await import("node:crypto");
const { createRequire } = await import("node:module");
const { objectsDir, packsDir, prefix, target, catalogPath, sqlite } = workerData;
const packAppender = (${packAppender.toString()});
const Database = createRequire(sqlite)(sqlite);
const db = new Database(catalogPath, { readonly: true, fileMustExist: true });
for (const pragma of ${JSON.stringify(PAGE_CACHE_PRAGMAS)}) db.pragma(pragma);
const known = db.prepare("SELECT 1 FROM packed_objects WHERE hash = ?");
const appender = packAppender(fs, packsDir, prefix, target);
const packed = new Set();
const O_PATH = ${O_PATH};
const same = (stats, item) =>
  stats.ino === item.ino && stats.dev === item.dev && stats.size === BigInt(item.size) &&
  stats.mtimeNs === item.mtimeNs && stats.ctimeNs === item.ctimeNs;
parentPort.on("message", (batch) => {
  if (batch.seal) {
    try {
      const sealed = appender.seal();
      db.close();
      parentPort.postMessage({ id: batch.id, sealed });
    } catch (error) {
      parentPort.postMessage({ id: batch.id, results: [{ error: { message: error.message, code: error.code, path: packsDir } }] });
    }
    return;
  }
  const results = [];
  for (const item of batch.paths) {
    const path = item.path;
    let fd;
    try {
      fd = fs.openSync(path, O_PATH | fs.constants.O_NOFOLLOW);
    } catch {
      results.push({ retry: true });
      continue;
    }
    try {
      // The walk's inode, unchanged, or the main thread reads it again (see ReadCheck).
      const before = fs.fstatSync(fd, { bigint: true });
      if (!before.isFile() || !same(before, item)) {
        results.push({ retry: true });
        continue;
      }
      const data = fs.readFileSync("/proc/self/fd/" + fd);
      if (!same(fs.fstatSync(fd, { bigint: true }), item)) {
        results.push({ retry: true });
        continue;
      }
      const hash = createHash("sha256").update(data).digest("hex");
      if (packed.has(hash) || known.get(hash) || fs.existsSync(objectsDir + "/" + hash.slice(0, 2) + "/" + hash)) {
        results.push({ hash, size: data.length, written: false });
      } else {
        const at = appender.append(data);
        // Only recent ones: a copy packed twice costs its bytes, the main thread records one.
        if (packed.size >= 20000) packed.clear();
        packed.add(hash);
        results.push({ hash, size: data.length, written: true, at });
      }
    } catch (error) {
      results.push({ error: { message: error.message, code: error.code, path } });
      break;
    } finally {
      fs.closeSync(fd);
    }
  }
  parentPort.postMessage({ id: batch.id, results });
});
})();
`;

/** What a thread did with one file: where it packed it, if it was new. */
export type WriterPut = (PutResult & { at?: PackedAt }) | { retry: true };
type WorkerResult = WriterPut | { error: { message: string; code?: string; path: string } };

/** A file to read, and what the walk saw of it: read only if it is still that, unchanged. */
export interface ReadCheck {
  path: string;
  dev: bigint;
  ino: bigint;
  size: number;
  mtimeNs: bigint;
  ctimeNs: bigint;
}
type WorkerReply = { id: number; results?: WorkerResult[]; sealed?: SealedPack[] };

const BATCH = 64;

/**
 * Small files stored on worker threads: reading, hashing and writing thousands of small files
 * is CPU-bound JavaScript glue around tiny system calls, and the threads spread it over the
 * cores. Files are submitted while the tree is still being walked, so the two overlap. Each
 * thread appends to packs of its own and seals (fsyncs) them when asked to finish.
 */
export class SmallFileWriters {
  private readonly workers: Worker[];
  /** Replies not yet taken by `drain`, in the order their batches were sent. */
  private replies: Array<Promise<WorkerReply>> = [];
  private nextId = 0;
  private readonly waiting = new Map<
    number,
    { resolve: (r: WorkerReply) => void; reject: (e: Error) => void }
  >();
  private batch: ReadCheck[] = [];

  constructor(where: {
    objectsDir: string;
    packsDir: string;
    catalogPath: string;
    prefixes: () => string;
  }) {
    // At least two even on one core: cold reads of small files wait on the disk, and readers in
    // flight overlap the waits (xargs -P2 cat read a cold 20,000-file tree 25% faster than -P1).
    // Past the core count, measured 2 against 4 on two cores: no difference.
    const count = Math.max(2, Math.min(4, availableParallelism()));
    const sqlite = createRequire(import.meta.url).resolve("better-sqlite3");
    this.workers = Array.from({ length: count }, () => {
      const worker = new Worker(WORKER_SOURCE, {
        eval: true,
        // Each thread reads one small file (at most SMALL_FILE) at a time: a small heap of its own
        // is plenty (2 and 32 MB rather than 4 and 64: 10 MB less at a first backup), and
        // V8's defaults (sized for a busy server) would add a hundred megabytes or more.
        resourceLimits: { maxYoungGenerationSizeMb: 2, maxOldGenerationSizeMb: 32 },
        workerData: {
          objectsDir: where.objectsDir,
          packsDir: where.packsDir,
          catalogPath: where.catalogPath,
          prefix: where.prefixes(),
          target: PACK_TARGET,
          sqlite,
        },
      });
      worker.on("message", (message: WorkerReply) => {
        this.waiting.get(message.id)?.resolve(message);
        this.waiting.delete(message.id);
      });
      const failAll = (error: Error) => {
        for (const pending of this.waiting.values()) pending.reject(error);
        this.waiting.clear();
      };
      worker.on("error", failAll);
      worker.on("exit", () => failAll(new Error("an object writer thread exited")));
      return worker;
    });
  }

  /**
   * Queue one file; its result comes in submit order from the next `drain()` (or `finish()`,
   * for what no drain took).
   */
  submit(file: ReadCheck): void {
    this.batch.push(file);
    if (this.batch.length === BATCH) this.post();
  }

  private send(
    worker: Worker,
    message: { paths: ReadCheck[] } | { seal: true },
  ): Promise<WorkerReply> {
    const id = this.nextId++;
    const reply = new Promise<WorkerReply>((resolve, reject) =>
      this.waiting.set(id, { resolve, reject }),
    );
    // Settled failures are read in finish(); until then, an early rejection is not "unhandled".
    reply.catch(() => {});
    this.replies.push(reply);
    worker.postMessage({ id, ...message });
    return reply;
  }

  private post(): void {
    if (this.batch.length === 0) return;
    this.send(this.workers[this.nextId % this.workers.length]!, { paths: this.batch });
    this.batch = [];
  }

  /**
   * Wait for the next `count` files submitted and not drained yet (all of them when no count is
   * given); their results in submit order. Throws the first file's error. A backup drains a
   * window of its walk while the threads read the next one, so results never pile up for the
   * whole tree and the walk does not wait for them.
   */
  async drain(count?: number): Promise<WriterPut[]> {
    if (count === undefined) {
      this.post();
      const replies = this.replies;
      this.replies = [];
      const all = [...this.early, ...(await collect(replies))];
      this.early = [];
      return all;
    }
    const out = this.early.splice(0, count);
    while (out.length < count) {
      if (this.replies.length === 0) this.post();
      const reply = this.replies.shift();
      if (!reply) throw new Error("an object writer was asked for more files than it was given");
      const results = await collect([reply]);
      const needed = count - out.length;
      out.push(...results.slice(0, needed));
      this.early.push(...results.slice(needed));
    }
    return out;
  }

  /** Results a drain of a given count received beyond it: the next drain's first. */
  private early: WriterPut[] = [];

  /**
   * Wait for every file not drained yet, then have every thread seal its packs. Results in
   * submit order, with the sealed packs; throws the first file's error.
   */
  async finish(): Promise<{ results: WriterPut[]; sealed: SealedPack[] }> {
    try {
      const results = await this.drain();
      const seals = this.workers.map((worker) => this.send(worker, { seal: true }));
      this.replies = [];
      await collect(seals);
      const sealed: SealedPack[] = [];
      for (const seal of seals) sealed.push(...((await seal).sealed ?? []));
      return { results, sealed };
    } finally {
      await this.close();
    }
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}

/** The files' results of `replies`, in order; throws the first file's error. */
async function collect(replies: ReadonlyArray<Promise<WorkerReply>>): Promise<WriterPut[]> {
  const results: WriterPut[] = [];
  for (const reply of replies) {
    for (const result of (await reply).results ?? []) {
      if ("error" in result) {
        throw Object.assign(new Error(`${result.error.path}: ${result.error.message}`), {
          code: result.error.code,
        });
      }
      results.push(result);
    }
  }
  return results;
}
