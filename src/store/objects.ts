import { createHash } from "node:crypto";
import {
  closeSync,
  copyFileSync,
  existsSync,
  constants as fsConstants,
  ftruncateSync,
  mkdirSync,
  openSync,
  readFileSync,
  readSync,
  renameSync,
  rmSync,
  writeSync,
} from "node:fs";
import { open, readdir, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import { hashFile } from "./hash.js";

const CHUNK = 1 << 20;
const BLOCK = 4096;
const ZERO_BLOCK = Buffer.alloc(BLOCK);

/** The [from, to) ranges of `chunk` that are not whole zero blocks (holes to be). */
function* dataRuns(chunk: Buffer): Generator<[number, number]> {
  let start = -1;
  for (let at = 0; at < chunk.length; at += BLOCK) {
    const end = Math.min(at + BLOCK, chunk.length);
    const zero = end - at === BLOCK && chunk.compare(ZERO_BLOCK, 0, BLOCK, at, end) === 0;
    if (!zero && start < 0) start = at;
    if (zero && start >= 0) {
      yield [start, at];
      start = -1;
    }
  }
  if (start >= 0) yield [start, chunk.length];
}
// Up to this size a file is read whole with synchronous calls: for the thousands of small files
// of a config or data tree, promise-based I/O costs more than the I/O itself.
export const SMALL_FILE = 1 << 20;

export type ObjectCheck = "ok" | "missing" | "mismatch";

/** The result of storing one file's contents. */
export interface PutResult {
  hash: string;
  size: number;
  /** False when identical contents were already stored (dedup). */
  written: boolean;
}

export const HASH_PATTERN = /^[0-9a-f]{64}$/;

/**
 * Content-addressed objects: `objects/<first two hex>/<sha256>`, written to a temporary name and
 * renamed into place, never modified after. They are not fsynced one by one: the store syncs the
 * file system once before a backup is marked complete, and after a crash, objects no complete
 * backup references are deleted, so a torn object can never be taken for a stored one.
 */
export class ObjectStore {
  private readonly shards = new Set<string>();
  private readonly claimed = new Set<string>();
  // The temp directory belongs to the lock holder alone, so a counter is unique enough.
  private tempCounter = 0;

  constructor(
    readonly dir: string,
    readonly tempDir: string,
  ) {}

  pathOf(hash: string): string {
    return `${this.dir}/${hash.slice(0, 2)}/${hash}`;
  }

  has(hash: string): boolean {
    return this.claimed.has(hash) || existsSync(this.pathOf(hash));
  }

  /** Store a small file's contents (read whole); see {@link SMALL_FILE}. */
  putSmallFile(source: string): PutResult {
    const data = readFileSync(source);
    const hash = createHash("sha256").update(data).digest("hex");
    if (this.has(hash)) return { hash, size: data.length, written: false };
    const temp = this.tempPath();
    try {
      const fd = openSync(temp, "wx", 0o600);
      try {
        writeSync(fd, data);
      } finally {
        closeSync(fd);
      }
      this.adopt(temp, hash);
    } catch (error) {
      rmSync(temp, { force: true });
      throw error;
    }
    return { hash, size: data.length, written: true };
  }

  /**
   * Store a large file in one pass: hash and copy together, then keep the copy only if it is new.
   * Several may run at once; the first to finish a hash claims it.
   */
  async putLargeFile(source: string): Promise<PutResult> {
    const temp = this.tempPath();
    const input = await open(source, "r");
    try {
      const output = await open(temp, "wx", 0o600);
      const hasher = createHash("sha256");
      const buffer = Buffer.allocUnsafe(CHUNK);
      let size = 0;
      try {
        for (;;) {
          const { bytesRead } = await input.read(buffer, 0, CHUNK, null);
          if (bytesRead === 0) break;
          const chunk = buffer.subarray(0, bytesRead);
          hasher.update(chunk);
          // Zero blocks are left as holes: a sparse file takes no more room in the store.
          for (const [from, to] of dataRuns(chunk)) {
            await output.write(chunk, from, to - from, size + from);
          }
          size += bytesRead;
        }
        await output.truncate(size);
      } finally {
        await output.close();
      }
      const hash = hasher.digest("hex");
      if (this.has(hash)) return { hash, size, written: false };
      this.claimed.add(hash);
      try {
        this.adopt(temp, hash);
      } finally {
        this.claimed.delete(hash);
      }
      return { hash, size, written: true };
    } finally {
      await input.close();
      await rm(temp, { force: true });
    }
  }

  /**
   * Take a file already written in the store's temp directory (a database dump, say) as an
   * object: hash it, rename it into place if new, delete it if not. No copy.
   */
  async adoptTempFile(temp: string): Promise<PutResult> {
    try {
      const hash = await hashFile(temp);
      const { size } = await stat(temp);
      if (this.has(hash)) return { hash, size, written: false };
      this.adopt(temp, hash);
      return { hash, size, written: true };
    } finally {
      await rm(temp, { force: true });
    }
  }

  /** A fresh name in the store's temp directory, for a file to be adopted. */
  tempPath(): string {
    return join(this.tempDir, `object-${process.pid}-${++this.tempCounter}`);
  }

  private adopt(temp: string, hash: string): void {
    const shard = join(this.dir, hash.slice(0, 2));
    if (!this.shards.has(shard)) {
      mkdirSync(shard, { recursive: true, mode: 0o700 });
      this.shards.add(shard);
    }
    renameSync(temp, this.pathOf(hash));
  }

  /** Copy an object to `dest` (a new name), as a reflink where the file system allows. */
  copyTo(hash: string, dest: string): void {
    copyFileSync(this.pathOf(hash), dest, fsConstants.COPYFILE_EXCL | fsConstants.COPYFILE_FICLONE);
  }

  /**
   * Copy an object to `dest` (a new name) with holes where its contents are zero: a reflink
   * where the file system allows (it shares the object's holes), else block by block.
   */
  copySparseTo(hash: string, dest: string): void {
    try {
      copyFileSync(
        this.pathOf(hash),
        dest,
        fsConstants.COPYFILE_EXCL | fsConstants.COPYFILE_FICLONE_FORCE,
      );
      return;
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code !== "EOPNOTSUPP" && code !== "ENOTSUP" && code !== "EXDEV" && code !== "EINVAL")
        throw error;
    }
    const input = openSync(this.pathOf(hash), "r");
    try {
      const output = openSync(dest, "wx", 0o600);
      try {
        const buffer = Buffer.allocUnsafe(CHUNK);
        let size = 0;
        for (;;) {
          const bytesRead = readSync(input, buffer, 0, CHUNK, null);
          if (bytesRead === 0) break;
          for (const [from, to] of dataRuns(buffer.subarray(0, bytesRead))) {
            writeSync(output, buffer, from, to - from, size + from);
          }
          size += bytesRead;
        }
        ftruncateSync(output, size);
      } finally {
        closeSync(output);
      }
    } finally {
      closeSync(input);
    }
  }

  /** Re-hash one object. */
  async check(hash: string): Promise<ObjectCheck> {
    try {
      return (await hashFile(this.pathOf(hash))) === hash ? "ok" : "mismatch";
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return "missing";
      throw error;
    }
  }

  async *allHashes(): AsyncGenerator<string> {
    let shards: string[];
    try {
      shards = await readdir(this.dir);
    } catch {
      return;
    }
    for (const shard of shards) {
      for (const name of await readdir(join(this.dir, shard))) {
        if (HASH_PATTERN.test(name)) yield name;
      }
    }
  }

  /** Delete every object not in `keep`; returns how many were removed. */
  async collectGarbage(keep: ReadonlySet<string>): Promise<number> {
    let removed = 0;
    for await (const hash of this.allHashes()) {
      if (!keep.has(hash)) {
        await rm(this.pathOf(hash), { force: true });
        removed++;
      }
    }
    return removed;
  }
}
