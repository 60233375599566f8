import { mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { describe, expect, it } from "vitest";
import { GlobalRollback } from "../../src/index.js";
import { backupsCreate, rollpoint } from "../helpers/cli.js";
import { asFormat3Listings, catalogCount, objectCount, packFiles } from "../helpers/store.js";
import { makeTree, tempDir, treeState } from "../helpers/tree.js";

function files(n: number, tag: (i: number) => string): Record<string, string> {
  return Object.fromEntries(
    Array.from({ length: n }, (_, i) => [`d${i % 9}/f${i}.txt`, `${tag(i)} ${i}\n`.repeat(40)]),
  );
}

const bytesOf = (tree: Record<string, string>) =>
  Object.values(tree).reduce((n, text) => n + Buffer.byteLength(text), 0);

const packBytes = (store: string) =>
  packFiles(store).reduce((n, name) => n + statSync(join(store, "objects", "packs", name)).size, 0);

describe("small objects in pack files", () => {
  it("a pack whose objects are no longer kept is deleted; one mostly unused is rewritten; what is kept restores", async () => {
    const dir = await tempDir();
    const store = join(dir, "store");
    const live = join(dir, "app");
    // 400 files, all in one pack (packs fill up to 32 MB).
    makeTree(
      live,
      files(400, () => "v1"),
    );
    const rollback = new GlobalRollback({ backupDir: store, clock: () => Date.now() + 10_000 });
    await rollback.backupFile(live, "one", "app");
    expect(objectCount(store)).toBe(400);
    const firstPacks = packFiles(store);
    expect(firstPacks).toHaveLength(1);
    // Nothing but the objects: the packs hold exactly the files' bytes.
    const treeBytes = bytesOf(files(400, () => "v1"));
    expect(packBytes(store)).toBe(treeBytes);

    // 380 of 400 change: the first backup's pack keeps 20 of its objects, well under half of its
    // bytes.
    makeTree(
      live,
      files(380, () => "v2"),
    );
    const second = await rollback.backupFile(live, "two", "app");
    expect(objectCount(store)).toBe(780);
    const wanted = treeState(live);
    const wantedBytes = bytesOf({ ...files(400, () => "v1"), ...files(380, () => "v2") });

    const prune = await rollpoint(["--store", store, "backups", "prune", "--keep-last", "1"]);
    expect(prune.exitCode).toBe(0);
    // 380 objects went; the 20 still used were copied out of the first packs, which are gone,
    // and the packs hold exactly the kept backup's bytes.
    expect(objectCount(store)).toBe(400);
    expect(packFiles(store).some((name) => firstPacks.includes(name))).toBe(false);
    expect(packBytes(store)).toBe(wantedBytes);
    expect(catalogCount(store, "SELECT COUNT(*) FROM packs")).toBe(packFiles(store).length);
    expect((await rollpoint(["--store", store, "backups", "verify"])).exitCode).toBe(0);

    makeTree(
      live,
      files(400, () => "v3"),
    );
    await rollback.restoreBackup(second.backupId);
    expect(treeState(live)).toEqual(wanted);

    // Every file changes again and only the newest backup is kept: no old pack is left.
    const before = packFiles(store);
    await rollback.backupFile(live, "three", "app");
    makeTree(
      live,
      files(400, () => "v4"),
    );
    await rollback.backupFile(live, "four", "app");
    expect(
      (await rollpoint(["--store", store, "backups", "prune", "--keep-last", "1"])).exitCode,
    ).toBe(0);
    expect(packFiles(store).some((name) => before.includes(name))).toBe(false);
    expect(objectCount(store)).toBe(400);
    await rollback.close();
  });

  it("identical contents far apart in a first backup are one object, and restore to both names", async () => {
    const dir = await tempDir();
    const store = join(dir, "store");
    const live = join(dir, "app");
    // 600 files, every content twice, far apart in the walk (more than the reads in flight).
    makeTree(
      live,
      files(600, (i) => `twin ${i % 300}`),
    );
    for (let i = 0; i < 600; i++) {
      writeFileSync(join(live, `d${i % 9}/f${i}.txt`), `twin ${i % 300}\n`);
    }
    const rollback = new GlobalRollback({ backupDir: store });
    const info = await rollback.backupFile(live, "one", "app");
    expect(info.metadata.stats).toMatchObject({ files: 600, newObjects: 300 });
    expect(objectCount(store)).toBe(300);
    const wanted = treeState(live);
    makeTree(
      live,
      files(600, () => "changed"),
    );
    await rollback.restoreBackup(info.backupId);
    expect(treeState(live)).toEqual(wanted);
    expect((await rollpoint(["--store", store, "backups", "verify"])).exitCode).toBe(0);
    await rollback.close();
  });

  it("a store of the format before packs (every object a file of its own) is migrated and still restores", async () => {
    const dir = await tempDir();
    const store = join(dir, "store");
    const live = join(dir, "app");
    makeTree(
      live,
      files(30, () => "v1"),
    );
    const old = new GlobalRollback({ backupDir: store, clock: () => Date.now() + 10_000 });
    const info = await old.backupFile(live, "one", "app");
    await old.close();
    const wanted = treeState(live);
    // Rewrite it as the previous format left it: objects/<2 hex>/<sha256>, catalog version 3.
    const db = new Database(join(store, "catalog.db"));
    for (const row of db.prepare("SELECT * FROM packed_objects").all() as Array<{
      hash: string;
      pack: string;
      offset: number;
      length: number;
    }>) {
      const pack = readFileSync(join(store, "objects", "packs", row.pack));
      mkdirSync(join(store, "objects", row.hash.slice(0, 2)), { recursive: true });
      writeFileSync(
        join(store, "objects", row.hash.slice(0, 2), row.hash),
        pack.subarray(row.offset, row.offset + row.length),
      );
    }
    db.exec("DROP TABLE packed_objects; DROP TABLE packs; PRAGMA user_version = 3");
    asFormat3Listings(db);
    db.close();
    rmSync(join(store, "objects", "packs"), { recursive: true });

    makeTree(
      live,
      files(30, () => "v2"),
    );
    const cli = await rollpoint(["--store", store, "backups", "restore", info.backupId]);
    expect(cli.exitCode).toBe(0);
    expect(treeState(live)).toEqual(wanted);
    expect(catalogCount(store, "PRAGMA user_version")).toBe(8);
    // The old objects still count for deduplication: backing up the same tree writes nothing.
    const again = await backupsCreate(store, live);
    expect(again.exitCode).toBe(0);
    // The restore rewrote every file (new ctimes), so each was read again and found stored.
    expect(JSON.parse(again.stdout).backup.metadata.stats).toMatchObject({
      newObjects: 0,
      unchanged: 0,
    });
    expect((await rollpoint(["--store", store, "backups", "verify"])).exitCode).toBe(0);
  });
});
