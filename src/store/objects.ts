import { createHash, randomBytes } from "node:crypto";
import * as fs from "node:fs";
import {
  chmodSync,
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
  writeSync,
} from "node:fs";
import { open, readdir, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import { checkpoint } from "../util/checkpoint.js";
import type { ReferencedHashes } from "./catalog.js";
import { syncDirectory, syncPaths } from "./durable.js";
import { contentHasher, type Digest, digestFor, hashFile, pieces, piecesSync } from "./hash.js";
import type { PackIndex } from "./pack-index.js";
import {
  PACK_NAME,
  PACK_TARGET,
  type PackAppender,
  type PackedAt,
  packAppender,
  type SealedPack,
} from "./packs.js";
import { PooledReads, type ReadCheck } from "./pooled-reads.js";

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
  /** Named by the sparse digest (hash.ts), not SHA-256: a large file with holes. */
  sparse?: true;
}

export const HASH_PATTERN = /^[0-9a-f]{64}$/;
const SHARD_PATTERN = /^[0-9a-f]{2}$/;

/** Small files read several at once: submit paths, then take their results in order. */
export interface ParallelPuts {
  submit(file: ReadCheck): void;
  /**
   * The next `count` files submitted (all when not given), in submit order; `retry`: the file
   * was not what the walk saw (read it again, checked).
   */
  drain(count?: number): Promise<Array<PutResult | { retry: true }>>;
  /** The same for what no drain took. */
  finish(): Promise<Array<PutResult | { retry: true }>>;
  /** Read nothing more; resolves once no read is in flight. */
  close(): Promise<void>;
}

/**
 * Content-addressed objects, in two forms. A small file's contents (up to {@link SMALL_FILE})
 * are appended to a pack file, `objects/packs/p-….pack`, and the catalog records the range; a
 * large file or a database dump is an object of its own, `objects/<first two hex>/<sha256>`,
 * written to a temporary name and renamed into place (reflink-able, streamed on restore). Nothing
 * is modified after it is written.
 *
 * Durability costs only what a backup wrote: {@link makeDurable} fsyncs each pack once, each
 * whole object, and the directories that gained names, and only then records the packs' ranges.
 * After a crash, packs without a row and whole objects no complete backup references are
 * deleted, so a torn object can never be taken for a stored one.
 */
export class ObjectStore {
  private readonly shards = new Set<string>();
  private readonly claimed = new Set<string>();
  // The temp directory belongs to the lock holder alone, so a counter is unique enough.
  private tempCounter = 0;
  readonly packsDir: string;
  private appender: PackAppender | undefined;
  /** Packed by this process, not recorded yet: sealed packs (the index stages their objects). */
  private sealed: SealedPack[] = [];
  /** Written by this process and not fsynced yet: whole objects, and directories with new names. */
  private unsyncedFiles: string[] = [];
  private readonly unsyncedDirs = new Set<string>();

  constructor(
    readonly dir: string,
    readonly tempDir: string,
    private readonly index: PackIndex,
  ) {
    this.packsDir = join(dir, "packs");
  }

  /** The file of an object stored whole: a large file's contents or a dump (never a packed one). */
  pathOf(hash: string): string {
    return `${this.dir}/${hash.slice(0, 2)}/${hash}`;
  }

  /** Whether the contents are stored, in either form. */
  has(hash: string): boolean {
    return this.packed(hash) !== undefined || this.hasWhole(hash);
  }

  private hasWhole(hash: string): boolean {
    return this.claimed.has(hash) || existsSync(this.pathOf(hash));
  }

  /** Store a small file's contents (read whole) in a pack; see {@link SMALL_FILE}. */
  putSmallFile(source: string): PutResult {
    return this.putBytes(readFileSync(source));
  }

  private putBytes(data: Buffer): PutResult {
    const hash = createHash("sha256").update(data).digest("hex");
    if (this.has(hash)) return { hash, size: data.length, written: false };
    this.appender ??= packAppender(fs, this.packsDir, newPackPrefix(), PACK_TARGET);
    this.index.stage(hash, this.appender.append(data));
    this.unsyncedDirs.add(this.packsDir);
    return { hash, size: data.length, written: true };
  }

  /**
   * The thousands of small files of a first backup, read on libuv's thread pool and packed on
   * this thread (pooled-reads.ts); recorded with the next {@link makeDurable}. `stored` is told
   * of each object as it is stored (the backup's pause point), not when its result is taken.
   */
  parallelPuts(stored: () => void = () => {}): ParallelPuts {
    return new PooledReads((data) => {
      const put = this.putBytes(data);
      stored();
      return put;
    });
  }

  /**
   * Store a large file in one pass: hash and copy together, then keep the copy only if it is new.
   * Several may run at once; the first to finish a hash claims it.
   */
  async putLargeFile(source: string, signal?: AbortSignal): Promise<PutResult> {
    const temp = this.tempPath();
    try {
      // On a copy-on-write file system shared with the source (btrfs, XFS), the object is a
      // reflink: no data is written, and hashing the clone hashes exactly what is stored.
      const { hash, size, digest } = reflinked(source, temp)
        ? await hashedInPlace(temp)
        : await copyHashing(source, temp, signal);
      const sparse = digest === "sparse" ? { sparse: true as const } : {};
      if (this.hasWhole(hash)) return { hash, size, written: false, ...sparse };
      this.claimed.add(hash);
      try {
        this.adopt(temp, hash);
      } finally {
        this.claimed.delete(hash);
      }
      return { hash, size, written: true, ...sparse };
    } finally {
      await rm(temp, { force: true });
    }
  }

  /**
   * Take a file already written in the store's temp directory (a database dump, say) as an
   * object stored whole: hash it, rename it into place if new, delete it if not. No copy.
   */
  async adoptTempFile(temp: string): Promise<PutResult> {
    try {
      const hash = await hashFile(temp);
      const { size } = await stat(temp);
      if (this.hasWhole(hash)) return { hash, size, written: false };
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
      if (!existsSync(shard)) this.unsyncedDirs.add(this.dir);
      mkdirSync(shard, { recursive: true, mode: 0o700 });
      this.shards.add(shard);
    }
    // A dump tool or SQLite wrote it under the umask: the store's files are the store's alone.
    chmodSync(temp, 0o600);
    renameSync(temp, this.pathOf(hash));
    this.unsyncedFiles.push(this.pathOf(hash));
    this.unsyncedDirs.add(shard);
  }

  /**
   * Make everything written since the last call durable, then record the packs: each pack is
   * fsynced once (by its writer), each whole object once, each directory that gained a name
   * once. Nothing else on the file system is flushed: a busy database beside the store costs
   * the backup nothing.
   */
  async makeDurable(): Promise<void> {
    if (this.appender) this.sealed.push(...this.appender.seal());
    await syncPaths([...this.unsyncedFiles, ...this.unsyncedDirs]);
    this.unsyncedFiles = [];
    this.unsyncedDirs.clear();
    this.index.recordStaged(this.sealed);
    this.sealed = [];
  }

  /** Forget what was written and not recorded (a failed backup): it is garbage now. */
  private abandonUnrecorded(): void {
    this.appender?.abandon();
    this.appender = undefined;
    this.sealed = [];
    this.index.dropStaged();
    this.unsyncedFiles = [];
    this.unsyncedDirs.clear();
  }

  private packed(hash: string): PackedAt | undefined {
    return this.index.staged(hash) ?? this.index.find(hash);
  }

  /**
   * The pack file the catalog names, if the name is one rollpoint makes: a catalog is not trusted
   * to name a path (`../../etc/…`) that a restore would read or a prune delete.
   */
  private packFile(name: string): string {
    if (!PACK_NAME.test(name)) throw damaged(`names a pack "${name}", which is not a pack's name`);
    return join(this.packsDir, name);
  }

  private readPacked(at: PackedAt): Buffer {
    if (
      !Number.isSafeInteger(at.offset) ||
      at.offset < 0 ||
      !(at.length >= 0 && at.length <= SMALL_FILE)
    ) {
      throw damaged(`places an object at ${at.offset}+${at.length} in ${at.pack}`);
    }
    const fd = openSync(this.packFile(at.pack), "r");
    try {
      const data = Buffer.allocUnsafe(at.length);
      let done = 0;
      while (done < at.length) {
        const n = readSync(fd, data, done, at.length - done, at.offset + done);
        if (n === 0)
          throw Object.assign(new Error(`pack ${at.pack} is short`), { code: "ENODATA" });
        done += n;
      }
      return data;
    } finally {
      closeSync(fd);
    }
  }

  /** Copy an object to `dest` (a new name), as a reflink where the file system allows. */
  copyTo(hash: string, dest: string): void {
    const at = this.packed(hash);
    if (at) {
      writeNewFile(dest, this.readPacked(at), false);
      return;
    }
    copyFileSync(this.pathOf(hash), dest, fsConstants.COPYFILE_EXCL | fsConstants.COPYFILE_FICLONE);
  }

  /**
   * Copy an object to `dest` (a new name) with holes where its contents are zero: a reflink
   * where the file system allows (it shares the object's holes), else block by block.
   */
  copySparseTo(hash: string, dest: string): void {
    const at = this.packed(hash);
    if (at) {
      writeNewFile(dest, this.readPacked(at), true);
      return;
    }
    if (reflinked(this.pathOf(hash), dest)) return;
    const input = openSync(this.pathOf(hash), "r");
    try {
      const output = openSync(dest, "wx", 0o600);
      try {
        let size = 0;
        for (const { chunk, at, hole } of piecesSync(input)) {
          size = at + chunk.length;
          if (hole) continue;
          for (const [from, to] of dataRuns(chunk))
            writeSync(output, chunk, from, to - from, at + from);
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
  async check(hash: string, digest: Digest = "plain"): Promise<ObjectCheck> {
    // A reader holds no lock: a prune may move the object into a new pack between the lookup and
    // the read (the catalog switches first, the old pack goes after). Looked up once more, then.
    for (let attempt = 1; ; attempt++) {
      try {
        const at = this.packed(hash);
        const actual = at
          ? createHash("sha256").update(this.readPacked(at)).digest("hex")
          : await hashFile(this.pathOf(hash), digest);
        return actual === hash ? "ok" : "mismatch";
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        if (code === "ENOENT" && attempt === 1) continue;
        if (code === "ENOENT" || code === "ENODATA") return "missing";
        throw error;
      }
    }
  }

  /** The objects stored whole. */
  async *allHashes(): AsyncGenerator<string> {
    let shards: string[];
    try {
      shards = await readdir(this.dir);
    } catch {
      return;
    }
    for (const shard of shards) {
      if (!SHARD_PATTERN.test(shard)) continue;
      for (const name of await readdir(join(this.dir, shard))) {
        if (HASH_PATTERN.test(name)) yield name;
      }
    }
  }

  /**
   * Delete every object not in `keep`; returns how many were removed. Packs none of whose
   * objects is kept are deleted; packs less than half of which is still kept are rewritten
   * with only what is kept; packs the catalog does not know (a crash before they were recorded)
   * are deleted.
   */
  async collectGarbage(keep: ReferencedHashes): Promise<number> {
    this.abandonUnrecorded();
    let removed = 0;
    for await (const hash of this.allHashes()) {
      if (!keep.has(hash)) {
        await rm(this.pathOf(hash), { force: true });
        removed++;
      }
    }
    removed += this.index.forgetUnreferenced(keep);
    await this.compactPacks();
    return removed;
  }

  private async compactPacks(): Promise<void> {
    const uses = this.index.uses();
    const sparse: string[] = [];
    for (const use of uses) {
      // A name that is not a pack's is never deleted (see packFile); verify reports its objects.
      if (!PACK_NAME.test(use.name)) continue;
      if (use.live === 0) {
        this.index.dropEmpty(use.name);
        await rm(this.packFile(use.name), { force: true });
      } else if (use.live * 2 < use.bytes) {
        sparse.push(use.name);
      }
    }
    if (sparse.length) {
      // Copy what is kept into new packs, fsync them, then switch the catalog over in one
      // transaction; only then do the old packs go.
      const appender = packAppender(fs, this.packsDir, newPackPrefix(), PACK_TARGET);
      const moved: Array<[string, PackedAt]> = [];
      try {
        for (const name of sparse) {
          for (const object of this.index.objectsIn(name)) {
            moved.push([object.hash, appender.append(this.readPacked(object))]);
          }
        }
      } catch (error) {
        appender.abandon();
        throw error;
      }
      const fresh = appender.seal();
      await syncDirectory(this.packsDir);
      this.index.move(sparse, fresh, moved);
      for (const name of sparse) await rm(this.packFile(name), { force: true });
    }
    const recorded = new Set(this.index.uses().map((u) => u.name));
    let names: string[] = [];
    try {
      names = await readdir(this.packsDir);
    } catch {
      return;
    }
    for (const name of names) {
      if (PACK_NAME.test(name) && !recorded.has(name)) {
        await rm(this.packFile(name), { force: true });
      }
    }
  }
}

/**
 * Copy `source` to the new file `dest` as a reflink (sharing its extents, holes included), if
 * the file system can; false if it cannot (ext4, or another file system), and nothing is made.
 */
function reflinked(source: string, dest: string): boolean {
  try {
    copyFileSync(source, dest, fsConstants.COPYFILE_EXCL | fsConstants.COPYFILE_FICLONE_FORCE);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "EOPNOTSUPP" || code === "ENOTSUP" || code === "EXDEV" || code === "EINVAL") {
      return false;
    }
    throw error;
  }
  // copyfile gives the copy the source's mode; the store's files are the store's alone.
  chmodSync(dest, 0o600);
  return true;
}

/**
 * Copy `source` to the new file `dest` and hash it in one pass, zero blocks left as holes (its
 * holes are not even read: hash.ts). Stops between chunks when `signal` is aborted.
 */
async function copyHashing(
  source: string,
  dest: string,
  signal: AbortSignal | undefined,
): Promise<{ hash: string; size: number; digest: Digest }> {
  const input = await open(source, "r");
  try {
    const output = await open(dest, "wx", 0o600);
    const digest = digestFor(await input.stat());
    const hasher = contentHasher(digest);
    let size = 0;
    try {
      for await (const piece of pieces(input)) {
        if (signal) await checkpoint(signal, `reading ${source}`);
        hasher.update(piece);
        const { chunk, at, hole } = piece;
        size = at + chunk.length;
        // Zero blocks are left as holes: a sparse file takes no more room in the store.
        if (hole) continue;
        for (const [from, to] of dataRuns(chunk))
          await output.write(chunk, from, to - from, at + from);
      }
      await output.truncate(size);
    } finally {
      await output.close();
    }
    return { hash: hasher.digest(), size, digest };
  } finally {
    await input.close();
  }
}

/** The digest of a reflinked copy (its holes are the source's), as copyHashing would name it. */
async function hashedInPlace(
  path: string,
): Promise<{ hash: string; size: number; digest: Digest }> {
  const stats = await stat(path);
  const digest = digestFor(stats);
  return { hash: await hashFile(path, digest), size: stats.size, digest };
}

/** A catalog row that cannot be right: the object reads as missing, and verify says so. */
function damaged(what: string): Error {
  return Object.assign(new Error(`the catalog ${what}`), { code: "ENODATA" });
}

function newPackPrefix(): string {
  return `p-${randomBytes(8).toString("hex")}`;
}

/** Write `data` as the new file `dest` (mode 0600), leaving zero blocks as holes if `sparse`. */
function writeNewFile(dest: string, data: Buffer, sparse: boolean): void {
  const fd = openSync(dest, "wx", 0o600);
  try {
    if (sparse) {
      for (const [from, to] of dataRuns(data)) writeSync(fd, data, from, to - from, from);
      ftruncateSync(fd, data.length);
    } else {
      let done = 0;
      while (done < data.length) done += writeSync(fd, data, done, data.length - done);
    }
  } finally {
    closeSync(fd);
  }
}
