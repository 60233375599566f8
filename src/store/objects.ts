import { createHash, randomBytes } from "node:crypto";
import { constants as fsConstants } from "node:fs";
import { access, copyFile, mkdir, open, readdir, readFile, rename, rm } from "node:fs/promises";
import { join } from "node:path";
import { hashFile } from "./hash.js";

const CHUNK = 1 << 20;
// Below this size a file is read whole: one read, then a write only if the object is new.
const SMALL_FILE = 1 << 20;

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
 * Content-addressed objects: `objects/<first two hex>/<sha256>`. Objects are never modified once
 * renamed into place. They are not fsynced one by one: the store syncs the file system once before
 * a backup is marked complete, and after a crash, objects no complete backup references are
 * deleted, so a torn object can never be taken for a stored one.
 */
export class ObjectStore {
  private readonly shards = new Set<string>();
  private readonly claimed = new Set<string>();

  constructor(
    readonly dir: string,
    private readonly tempDir: string,
  ) {}

  pathOf(hash: string): string {
    return join(this.dir, hash.slice(0, 2), hash);
  }

  async has(hash: string): Promise<boolean> {
    try {
      await access(this.pathOf(hash));
      return true;
    } catch {
      return false;
    }
  }

  /** Store the contents of the file at `source` (a regular file, already lstat'ed by the caller). */
  async putFile(source: string, sizeHint: number): Promise<PutResult> {
    if (sizeHint <= SMALL_FILE) {
      const data = await readFile(source);
      const hash = createHash("sha256").update(data).digest("hex");
      return this.once(hash, data.length, async () => {
        const temp = this.tempPath();
        try {
          await writeNew(temp, data);
          await this.adopt(temp, hash);
        } catch (error) {
          await rm(temp, { force: true });
          throw error;
        }
      });
    }
    return this.putLargeFile(source);
  }

  // One pass over a large file: hash and copy together, then keep the copy only if it is new.
  private async putLargeFile(source: string): Promise<PutResult> {
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
          await output.write(chunk);
          size += bytesRead;
        }
      } finally {
        await output.close();
      }
      const hash = hasher.digest("hex");
      return await this.once(hash, size, () => this.adopt(temp, hash));
    } finally {
      await input.close();
      await rm(temp, { force: true });
    }
  }

  // Files with equal contents are stored concurrently; the first to claim a hash writes it and
  // the others count as deduplicated. The claim lasts until the object is on disk.
  private async once(hash: string, size: number, write: () => Promise<void>): Promise<PutResult> {
    if (this.claimed.has(hash)) return { hash, size, written: false };
    this.claimed.add(hash);
    try {
      if (await this.has(hash)) return { hash, size, written: false };
      await write();
      return { hash, size, written: true };
    } finally {
      this.claimed.delete(hash);
    }
  }

  private async adopt(temp: string, hash: string): Promise<void> {
    const shard = join(this.dir, hash.slice(0, 2));
    if (!this.shards.has(shard)) {
      await mkdir(shard, { recursive: true, mode: 0o700 });
      this.shards.add(shard);
    }
    await rename(temp, this.pathOf(hash));
  }

  private tempPath(): string {
    return join(this.tempDir, `object-${randomBytes(8).toString("hex")}`);
  }

  /** Copy an object to `dest` (a new name), as a reflink where the file system allows. */
  async copyTo(hash: string, dest: string): Promise<void> {
    await copyFile(
      this.pathOf(hash),
      dest,
      fsConstants.COPYFILE_EXCL | fsConstants.COPYFILE_FICLONE,
    );
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

async function writeNew(path: string, data: Uint8Array): Promise<void> {
  const handle = await open(path, "wx", 0o600);
  try {
    await handle.writeFile(data);
  } finally {
    await handle.close();
  }
}
