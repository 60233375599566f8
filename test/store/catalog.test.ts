import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { describe, expect, it } from "vitest";
import { Catalog } from "../../src/store/catalog.js";
import { createBackup, rollpoint } from "../helpers/cli.js";
import { asFormat3Listings, catalogCount } from "../helpers/store.js";
import { makeTree, tempDir, treeState } from "../helpers/tree.js";

describe("the catalog", () => {
  it("refuses a store written by a newer rollpoint instead of guessing at its format", async () => {
    const dir = await tempDir();
    const store = join(dir, "store");
    mkdirSync(store);
    const db = new Database(join(store, "catalog.db"));
    db.pragma("user_version = 99");
    db.close();
    const result = await rollpoint(["--store", store, "backups", "list"]);
    expect(result.exitCode).toBe(4);
    expect(result.stderr).toContain("schema version 99, newer than this rollpoint knows");
  });

  it("creates the store directory with mode 0700", async () => {
    const dir = await tempDir();
    const store = join(dir, "a/b/store");
    expect((await rollpoint(["--store", store, "backups", "prune"])).exitCode).toBe(0);
    const { statSync } = await import("node:fs");
    expect((statSync(store).mode & 0o777).toString(8)).toBe("700");
  });

  it("brings a version-4 catalog forward: the type CHECK goes, every backup, listing and order stays", async () => {
    const dir = await tempDir();
    const store = join(dir, "store");
    const app = join(dir, "app");
    makeTree(app, { "a.conf": "a=1\n", "sub/b.bin": Buffer.from([0, 1, 2]) });
    const before = treeState(app);
    const first = await createBackup(store, app);
    writeFileSync(join(app, "a.conf"), "a=2\n");
    const second = await createBackup(store, app);
    // Back to the schema of version 4, as an older rollpoint left it (the CHECK on type).
    const db = new Database(join(store, "catalog.db"));
    db.pragma("foreign_keys = OFF");
    db.exec(`
      CREATE TABLE old (id TEXT PRIMARY KEY, type TEXT NOT NULL CHECK (type IN ('file', 'service', 'database')),
        module TEXT NOT NULL, description TEXT NOT NULL, created_at INTEGER NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('pending', 'complete')), source TEXT NOT NULL,
        point_id TEXT, point_seq INTEGER, meta TEXT NOT NULL DEFAULT '{}');
      INSERT INTO old (rowid, id, type, module, description, created_at, status, source, point_id, point_seq, meta)
        SELECT rowid, * FROM backups;
      DROP TABLE backups; ALTER TABLE old RENAME TO backups;
      PRAGMA user_version = 4;`);
    asFormat3Listings(db);
    expect(() => db.exec(`UPDATE backups SET type = 'container'`)).toThrow(/CHECK/);
    db.close();
    const listings = catalogCount(store, "SELECT count(*) FROM listings");
    expect(listings).toBe(2);

    const list = await rollpoint(["--store", store, "--json", "backups", "list"]);
    expect(list.exitCode, list.stderr).toBe(0);
    expect(JSON.parse(list.stdout).backups.map((b: { backupId: string }) => b.backupId)).toEqual([
      second,
      first,
    ]);
    expect(catalogCount(store, "PRAGMA user_version")).toBe(8);
    expect(catalogCount(store, "SELECT count(*) FROM listings")).toBe(listings);
    const verify = await rollpoint(["--store", store, "backups", "verify"]);
    expect(verify.exitCode, verify.stdout + verify.stderr).toBe(0);
    const restored = await rollpoint(["--store", store, "backups", "restore", first]);
    expect(restored.exitCode, restored.stderr).toBe(0);
    expect(treeState(app)).toEqual(before);
    // A member type is data now: a kind this catalog never heard of needs no migration.
    const after = new Database(join(store, "catalog.db"));
    expect(() =>
      after.exec(`UPDATE backups SET type = 'tape' WHERE id = '${second}'`),
    ).not.toThrow();
    after.close();
    const shown = await rollpoint(["--store", store, "backups", "show", second]);
    expect(shown.exitCode).toBe(4);
    expect(shown.stderr).toContain(
      `backup ${second} is of type "tape", which this rollpoint does not know`,
    );
  });

  it("keeps SQLite's page caches at 2 MB a schema, not better-sqlite3's 16 MB", async () => {
    // 16 MB for the main and the temporary schema each was 29 MB of a first backup's 164 MB peak
    // at 200,000 files (docs/performance.md); a negative cache_size is KiB.
    const dir = await tempDir();
    const catalog = new Catalog(join(dir, "catalog.db"));
    try {
      expect(catalog.db.pragma("main.cache_size", { simple: true })).toBe(-2048);
      expect(catalog.db.pragma("temp.cache_size", { simple: true })).toBe(-2048);
      const fresh = new Database(join(dir, "other.db"));
      expect(fresh.pragma("cache_size", { simple: true })).toBe(-16000);
      fresh.close();
    } finally {
      catalog.db.close();
    }
  });
});
