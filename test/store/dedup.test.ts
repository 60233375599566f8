import { createHash } from "node:crypto";
import { rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { snapshotTree } from "../../src/backups/files/backup.js";
import { entryFromStats } from "../../src/backups/files/entry.js";
import { lstatPath } from "../../src/backups/files/path-stats.js";
import { GlobalRollback } from "../../src/index.js";
import { decodeListing } from "../../src/store/listing-codec.js";
import { Store } from "../../src/store/store.js";
import { catalogCount, objectCount, packFiles } from "../helpers/store.js";
import { makeTree, tempDir, treeState } from "../helpers/tree.js";

describe("content-addressed objects", () => {
  it("stores identical contents once, and a repeat backup of an unchanged tree writes nothing", async () => {
    const dir = await tempDir();
    const store = join(dir, "store");
    const live = join(dir, "app");
    makeTree(live, { "a.txt": "same\n", "b/c.txt": "same\n", "d.txt": "other\n" });
    // Files changed within two seconds of a backup are re-read by the next one (see the racy
    // test below); a clock ahead of the files makes this freshly written tree count as settled.
    const rollback = new GlobalRollback({ backupDir: store, clock: () => Date.now() + 10_000 });

    const first = await rollback.backupFile(live, "one", "app");
    expect(objectCount(store)).toBe(2);
    expect(first.metadata.stats).toMatchObject({ files: 3, newObjects: 2, unchanged: 0 });

    const second = await rollback.backupFile(live, "two", "app");
    expect(objectCount(store)).toBe(2);
    // Every file's hash came from the previous listing: nothing was read again.
    expect(second.metadata.stats).toMatchObject({
      files: 3,
      newObjects: 0,
      newBytes: 0,
      unchanged: 3,
    });
    // The listing itself, identical, was not stored twice.
    expect(catalogCount(store, "SELECT count(*) FROM listing_blobs")).toBe(1);

    writeFileSync(join(live, "d.txt"), "changed\n");
    const third = await rollback.backupFile(live, "three", "app");
    expect(third.metadata.stats).toMatchObject({ newObjects: 1, unchanged: 2 });
    expect(objectCount(store)).toBe(3);

    // Each backup still restores its own state.
    await rollback.restoreBackup(second.backupId);
    const { readFileSync } = await import("node:fs");
    expect(readFileSync(join(live, "d.txt"), "utf8")).toBe("other\n");
    await rollback.close();
  });

  it("keeps distinct ids for many backups of the same description at the same instant", async () => {
    const dir = await tempDir();
    const live = join(dir, "app");
    makeTree(live, { x: "1", y: "2", z: "3" });
    const rollback = new GlobalRollback({ backupDir: join(dir, "store") });
    const infos = await Promise.all(
      ["x", "y", "z"].map((name) => rollback.backupFile(join(live, name), "pre_update", "app")),
    );
    expect(new Set(infos.map((i) => i.backupId)).size).toBe(3);
    const listed = await rollback.listBackups({ moduleName: "app" });
    expect(listed.map((b) => b.source).sort()).toEqual(["x", "y", "z"].map((n) => join(live, n)));
    await rollback.close();
  });
});

describe("many small files (read on the thread pool)", () => {
  it("stores each distinct content once and restores every file", async () => {
    const dir = await tempDir();
    const store = join(dir, "store");
    const live = join(dir, "app");
    const spec: Record<string, string> = {};
    for (let i = 0; i < 600; i++) spec[`d${i % 13}/f${i}.txt`] = `content ${i % 300}\n`;
    makeTree(live, {
      ...spec,
      "big.bin": Buffer.alloc(3 << 20, 7),
      "d1/link": { symlink: "../big.bin" },
    });
    const before = treeState(live);
    const rollback = new GlobalRollback({ backupDir: store });
    const info = await rollback.backupFile(live, "pre", "app");
    expect(info.metadata.stats).toMatchObject({
      files: 601,
      symlinks: 1,
      newObjects: 301,
      unchanged: 0,
    });
    expect(objectCount(store)).toBe(301);
    for (let i = 0; i < 600; i += 7) writeFileSync(join(live, `d${i % 13}/f${i}.txt`), "changed\n");
    rmSync(join(live, "d3"), { recursive: true });
    writeFileSync(join(live, "big.bin"), "truncated");
    await rollback.restoreBackup(info.backupId);
    expect(treeState(live)).toEqual(before);
    await rollback.close();
  });
});

describe("the stat shortcut is not trusted for files that may still have been changing", () => {
  it("re-reads a file whose ctime is within two seconds of the previous listing", async () => {
    const dir = await tempDir();
    const live = join(dir, "app");
    makeTree(live, { "f.txt": "after\n" });
    const objects = (await Store.open(join(dir, "store"))).objects;
    const stats = lstatPath(join(live, "f.txt"))!;
    // A previous listing whose entry matches the live file's stat exactly but names other
    // contents: what a same-tick rewrite of equal size leaves behind.
    const stale = { ...entryFromStats("f.txt", stats), hash: "0".repeat(64) };
    const root = { ...entryFromStats("", lstatPath(live)!) };
    const ctimeMs = Number(stats.ctimeNs / 1_000_000n);

    const previous = (takenAtMs: number) => ({
      backupId: "f-test",
      sha: "0".repeat(64),
      format: 4,
      takenAtMs,
      entries: () => [root, stale],
    });
    const hashOf = (snapshot: { listing: { data: Buffer } }) =>
      decodeListing(snapshot.listing.data).find((e) => e.rel === "f.txt")!.hash;
    const racy = await snapshotTree(objects, live, [], previous(ctimeMs + 500));
    expect(hashOf(racy)).toBe(createHash("sha256").update("after\n").digest("hex"));
    expect(racy.stats.unchanged).toBe(0);

    // Taken well after the file settled, the listing is trusted and the file is not read.
    const settled = await snapshotTree(objects, live, [], previous(ctimeMs + 5_000));
    expect(hashOf(settled)).toBe("0".repeat(64));
    expect(settled.stats.unchanged).toBe(1);
  });

  it("a first backup packs what the store's packs lack, and nothing they hold", async () => {
    const dir = await tempDir();
    const store = join(dir, "store");
    const files = (from: number, to: number) =>
      Object.fromEntries(
        Array.from({ length: to - from }, (_, i) => [
          `d${(from + i) % 7}/f${from + i}`,
          `contents ${from + i}\n`,
        ]),
      );
    makeTree(join(dir, "one"), files(0, 1000));
    makeTree(join(dir, "two"), { ...files(0, 1000), ...files(1000, 1400) });
    const rollback = new GlobalRollback({ backupDir: store });
    const one = await rollback.backupFile(join(dir, "one"), "one", "one");
    expect(one.metadata.stats).toMatchObject({ files: 1000, newObjects: 1000 });
    const packed = packFiles(store).reduce(
      (sum, f) => sum + statSync(join(store, "objects", "packs", f)).size,
      0,
    );
    // Another module's first backup: no previous listing, every file read on the pool.
    const two = await rollback.backupFile(join(dir, "two"), "two", "two");
    expect(two.metadata.stats).toMatchObject({ files: 1400, newObjects: 400, unchanged: 0 });
    expect(catalogCount(store, "SELECT count(*) FROM packed_objects")).toBe(1400);
    // The packs grew by the 400 new contents, not by 1,400.
    const grown =
      packFiles(store).reduce(
        (sum, f) => sum + statSync(join(store, "objects", "packs", f)).size,
        0,
      ) - packed;
    const newBytes = Object.values(files(1000, 1400)).reduce((sum, c) => sum + c.length, 0);
    expect(grown).toBe(newBytes);
    const before = treeState(join(dir, "two"));
    rmSync(join(dir, "two"), { recursive: true });
    await rollback.restoreBackup(two.backupId);
    expect(treeState(join(dir, "two"))).toEqual(before);
    await rollback.close();
  });
});
