import { createHash } from "node:crypto";
import {
  lstatSync,
  readdirSync,
  renameSync,
  rmSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import type { PutResult } from "../../src/store/objects.js";
import { PooledReads, type ReadCheck } from "../../src/store/pooled-reads.js";
import { tempDir } from "../helpers/tree.js";

/** What a walk would have seen of the file now. */
function checkOf(path: string): ReadCheck {
  const { dev, ino, size, mtimeNs, ctimeNs } = lstatSync(path, { bigint: true });
  return { path, dev, ino, size: Number(size), mtimeNs, ctimeNs };
}

/** A pool whose `take` records the bytes it was given, by their hash. */
function recordingPool() {
  const taken = new Map<string, string>();
  const pool = new PooledReads((data) => {
    const hash = createHash("sha256").update(data).digest("hex");
    taken.set(hash, data.toString());
    return { hash, size: data.length, written: true } satisfies PutResult;
  });
  return { pool, taken };
}

const openDescriptors = () => readdirSync("/proc/self/fd").length;

describe("small files read on the thread pool", () => {
  it("gives each file's bytes in submit order, more files than it reads at once", async () => {
    const dir = await tempDir();
    const { pool, taken } = recordingPool();
    const texts = Array.from({ length: 100 }, (_, i) => `file ${i}\n`.repeat(i));
    for (const [i, text] of texts.entries()) writeFileSync(join(dir, `f${i}`), text);
    for (let i = 0; i < texts.length; i++) pool.submit(checkOf(join(dir, `f${i}`)));
    const first = await pool.drain(30);
    const rest = await pool.finish();
    const results = [...first, ...rest];
    expect(results).toHaveLength(100);
    for (const [i, result] of results.entries()) {
      expect(result).toMatchObject({ size: texts[i]!.length });
      expect(taken.get((result as PutResult).hash)).toBe(texts[i]);
    }
    await pool.close();
  });

  it("reads files of a mebibyte, more than it reads at once, each whole", async () => {
    const dir = await tempDir();
    const { pool, taken } = recordingPool();
    const texts = Array.from({ length: 12 }, (_, i) => String.fromCharCode(97 + i).repeat(1 << 20));
    for (const [i, text] of texts.entries()) writeFileSync(join(dir, `f${i}`), text);
    for (let i = 0; i < texts.length; i++) pool.submit(checkOf(join(dir, `f${i}`)));
    const results = await pool.finish();
    expect(results.map((r) => taken.get((r as PutResult).hash))).toEqual(texts);
    await pool.close();
  });

  it("reads nothing that is not, unchanged, the file the walk saw", async () => {
    const dir = await tempDir();
    const { pool, taken } = recordingPool();
    const names = ["kept", "rewritten", "replaced", "linked", "gone", "touched"];
    for (const name of names) writeFileSync(join(dir, name), `${name} before\n`);
    writeFileSync(join(dir, "secret"), "not to be read\n");
    // An mtime well before the changes below: a rewrite within the clock's tick stays visible.
    for (const name of names)
      utimesSync(join(dir, name), new Date(2000, 1, 1), new Date(2000, 1, 1));
    const checks = names.map((name) => checkOf(join(dir, name)));
    // Changes between the walk and the read: what the check was taken of is no longer there.
    writeFileSync(join(dir, "rewritten"), "rewritten after, same length\n".slice(0, 17));
    writeFileSync(join(dir, "other"), "replaced after\n");
    renameSync(join(dir, "other"), join(dir, "replaced"));
    rmSync(join(dir, "linked"));
    symlinkSync("secret", join(dir, "linked"));
    rmSync(join(dir, "gone"));
    utimesSync(join(dir, "touched"), new Date(2001, 1, 1), new Date(2001, 1, 1));
    for (const check of checks) pool.submit(check);
    const results = await pool.finish();
    expect(results[0]).toMatchObject({ size: "kept before\n".length });
    expect(results.slice(1)).toEqual(names.slice(1).map(() => ({ retry: true })));
    expect([...taken.values()]).toEqual(["kept before\n"]);
    await pool.close();
  });

  it("names the file when storing its bytes fails, and leaves no descriptor open", async () => {
    const dir = await tempDir();
    for (let i = 0; i < 40; i++) writeFileSync(join(dir, `f${i}`), `${i}\n`);
    const before = openDescriptors();
    const pool = new PooledReads(() => {
      throw Object.assign(new Error("no space left on device"), { code: "ENOSPC" });
    });
    for (let i = 0; i < 40; i++) pool.submit(checkOf(join(dir, `f${i}`)));
    await expect(pool.drain(40)).rejects.toMatchObject({
      message: `${join(dir, "f0")}: no space left on device`,
      code: "ENOSPC",
    });
    await pool.close();
    expect(openDescriptors()).toBe(before);
  });

  it("closed before its results are taken, it waits for its reads and stores nothing more", async () => {
    const dir = await tempDir();
    const { pool, taken } = recordingPool();
    for (let i = 0; i < 200; i++) writeFileSync(join(dir, `f${i}`), `${i}\n`);
    const before = openDescriptors();
    for (let i = 0; i < 200; i++) pool.submit(checkOf(join(dir, `f${i}`)));
    await pool.close();
    expect(openDescriptors()).toBe(before);
    // The reads in flight ended after it closed: their bytes were dropped, not stored.
    expect(taken.size).toBe(0);
  });
});
