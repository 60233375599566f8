import { writeFileSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { execa } from "execa";
import { describe, expect, it } from "vitest";
import { createBackup, rollpoint } from "../helpers/cli.js";
import { killHard, startPausedAt } from "../helpers/paused.js";
import { asFormat3Listings, catalogCount } from "../helpers/store.js";
import { makeTree, rsyncDifferences, tempDir } from "../helpers/tree.js";

/** The store as the rollpoint before format 4 left it: format 3 listings, schema version 5. */
function asFormat3(store: string): void {
  const db = new Database(join(store, "catalog.db"));
  db.pragma("foreign_keys = OFF");
  asFormat3Listings(db);
  // Taken a minute later, as far as the stat shortcut's "racy" guard can tell: files made just
  // before the backup count as settled, so a repeat backup shows what it reused.
  db.prepare("UPDATE backups SET created_at = created_at + 60000").run();
  db.pragma("user_version = 5");
  db.close();
}

/** A tree whose string order and walk order differ (`a.b` sorts before `a/x` as text). */
const tree = {
  "a/x.conf": "x\n",
  "a.b/y.conf": "y\n",
  "a-c.conf": "c\n",
  "z/one": "one\n",
};

/** A backup of `tree`, in a store rewritten as the rollpoint before format 4 left it. */
async function oldStore() {
  const dir = await tempDir();
  const store = join(dir, "store");
  const app = join(dir, "app");
  makeTree(app, tree);
  const id = await createBackup(store, app);
  asFormat3(store);
  return { dir, store, app, id };
}

describe("listings written before format 4", () => {
  it("still restore exactly, and a repeat backup over one reuses its hashes and writes format 4", async () => {
    const { dir, store, app, id } = await oldStore();
    // The oracle: a copy as it was at backup time, compared by rsync afterwards.
    const pristine = join(dir, "pristine");
    await execa("cp", ["-a", app, pristine]);

    writeFileSync(join(app, "a/x.conf"), "changed\n");
    writeFileSync(join(app, "a.b/new"), "new\n");
    const restored = await rollpoint(["--store", store, "backups", "restore", id]);
    expect(restored.exitCode, restored.stdout + restored.stderr).toBe(0);
    expect(await rsyncDifferences(pristine, app)).toBe("");
    expect(catalogCount(store, "PRAGMA user_version")).toBe(8);

    // Merged with the old listing (sorted into walk order once): nothing changed is read again.
    const repeat = await rollpoint([
      "--store",
      store,
      "--json",
      "backups",
      "create",
      app,
      "--module",
      "app",
    ]);
    expect(repeat.exitCode, repeat.stderr).toBe(0);
    const stats = JSON.parse(repeat.stdout).backup.metadata.stats;
    expect(stats.files).toBe(4);
    expect(stats.newObjects).toBe(0);
    expect(stats.unchanged).toBe(3);
    expect(catalogCount(store, "SELECT COUNT(*) FROM listing_blobs WHERE format = 4")).toBe(1);
    expect((await rollpoint(["--store", store, "backups", "verify"])).exitCode).toBe(0);
  });

  it("a runner killed during the migration leaves the catalog as it was; the next command migrates it", async () => {
    const { store, app, id } = await oldStore();
    const paused = await startPausedAt("catalog:migration", ["--store", store, "backups", "list"]);
    await killHard(paused);
    expect(catalogCount(store, "PRAGMA user_version")).toBe(5);
    writeFileSync(join(app, "a-c.conf"), "changed\n");
    const restored = await rollpoint(["--store", store, "backups", "restore", id]);
    expect(restored.exitCode, restored.stdout + restored.stderr).toBe(0);
    expect(catalogCount(store, "PRAGMA user_version")).toBe(8);
    expect((await rollpoint(["--store", store, "backups", "verify"])).exitCode).toBe(0);
  });
});
