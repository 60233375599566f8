import { writeFileSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { describe, expect, it } from "vitest";
import { rollpoint } from "../helpers/cli.js";
import { killHard, startPausedAt } from "../helpers/paused.js";
import { objectCount, packFiles } from "../helpers/store.js";
import { makeTree, tempDir, treeState } from "../helpers/tree.js";

function manyFiles(n: number, tag: string): Record<string, string> {
  return Object.fromEntries(
    Array.from({ length: n }, (_, i) => [`d${i % 10}/f${i}.txt`, `${tag} ${i}\n`]),
  );
}

async function backupIds(store: string): Promise<string[]> {
  const list = await rollpoint(["--store", store, "--json", "backups", "list"]);
  expect(list.exitCode).toBe(0);
  return (JSON.parse(list.stdout) as { backups: Array<{ backupId: string }> }).backups.map(
    (b) => b.backupId,
  );
}

describe("a runner killed with SIGKILL leaves a store that opens", () => {
  // Mid-way, before anything is durable, and after the packs were fsynced and recorded but
  // before the backup was marked complete.
  // And while its listing streams into frames (listing-codec.ts).
  for (const point of [
    "backup:object#40",
    "listing:frame",
    "backup:before-sync",
    "backup:before-complete",
  ]) {
    it(`killed at ${point}: the partial backup is not listed and its objects are reclaimed`, async () => {
      const dir = await tempDir();
      const store = join(dir, "store");
      const live = join(dir, "app");
      makeTree(live, manyFiles(100, "v1"));
      const first = await rollpoint([
        "--store",
        store,
        "backups",
        "create",
        live,
        "--module",
        "app",
      ]);
      expect(first.exitCode).toBe(0);
      const [completeId] = await backupIds(store);
      const objectsBefore = objectCount(store);
      const packsBefore = packFiles(store);

      makeTree(live, manyFiles(100, "v2"));
      const child = await startPausedAt(point, [
        "--store",
        store,
        "backups",
        "create",
        live,
        "--module",
        "app",
      ]);
      // What it wrote is on disk: a new pack (recorded in the catalog only at before-complete).
      expect(packFiles(store).length).toBeGreaterThan(packsBefore.length);
      await killHard(child);

      // Opens, lists only the complete backup, and the catalog still holds the pending row.
      expect(await backupIds(store)).toEqual([completeId]);
      const db = new Database(join(store, "catalog.db"), { readonly: true });
      expect(db.prepare("SELECT status FROM backups").pluck().all()).toEqual([
        "complete",
        "pending",
      ]);
      db.close();

      // The next writer recognises the dead holder, drops the partial backup and its objects.
      const prune = await rollpoint(["--store", store, "--json", "backups", "prune"]);
      expect(prune.exitCode).toBe(0);
      expect(objectCount(store)).toBe(objectsBefore);
      expect(packFiles(store)).toEqual(packsBefore);
      const verify = await rollpoint(["--store", store, "backups", "verify"]);
      expect(verify.exitCode).toBe(0);

      // The complete backup is intact and restores.
      const wanted = (() => {
        makeTree(join(dir, "expected"), manyFiles(100, "v1"));
        return treeState(join(dir, "expected")).map((s) => [s.path, s.content]);
      })();
      const restore = await rollpoint(["--store", store, "backups", "restore", completeId!]);
      expect(restore.exitCode).toBe(0);
      expect(treeState(live).map((s) => [s.path, s.content])).toEqual(wanted);
    });
  }

  it("killed part-way through a restore: running the restore again finishes it", async () => {
    const dir = await tempDir();
    const store = join(dir, "store");
    const live = join(dir, "app");
    makeTree(live, manyFiles(50, "v1"));
    const before = treeState(live);
    expect(
      (await rollpoint(["--store", store, "backups", "create", live, "--module", "app"])).exitCode,
    ).toBe(0);
    const [id] = await backupIds(store);
    makeTree(live, manyFiles(50, "v2"));
    writeFileSync(join(live, "added-by-update"), "x");

    const child = await startPausedAt("restore:write#20", [
      "--store",
      store,
      "backups",
      "restore",
      id!,
    ]);
    await killHard(child);
    expect(treeState(live)).not.toEqual(before);

    const again = await rollpoint(["--store", store, "backups", "restore", id!]);
    expect(again.exitCode).toBe(0);
    expect(treeState(live)).toEqual(before);
    // No temporary file of the interrupted restore is left behind in the live tree.
    expect(JSON.stringify(treeState(live))).not.toContain(".rollpoint-");
  });
});
