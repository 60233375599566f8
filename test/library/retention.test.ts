import { join } from "node:path";
import Database from "better-sqlite3";
import { describe, expect, it } from "vitest";
import { GlobalRollback } from "../../src/index.js";
import { catalogCount, objectCount } from "../helpers/store.js";
import { makeTree, tempDir } from "../helpers/tree.js";

const DAY = 86_400_000;

function age(store: string, ids: string[], days: number): void {
  const db = new Database(join(store, "catalog.db"));
  const stmt = db.prepare("UPDATE backups SET created_at = created_at - ? WHERE id = ?");
  for (const id of ids) stmt.run(days * DAY, id);
  db.close();
}

describe("cleanupOldBackups", () => {
  it("removes old backups per module beyond keepMinimum and reclaims their objects", async () => {
    const dir = await tempDir();
    const store = join(dir, "store");
    const rollback = new GlobalRollback({ backupDir: store });
    const ids: string[] = [];
    for (let i = 0; i < 4; i++) {
      makeTree(dir, { "app/version": `v${i}\n` });
      ids.push((await rollback.backupFile(join(dir, "app"), `v${i}`, "app")).backupId);
    }
    makeTree(dir, { "other/x": "x" });
    const other = (await rollback.backupFile(join(dir, "other"), "x", "other")).backupId;
    age(store, [...ids.slice(0, 3), other], 40);
    expect(objectCount(store)).toBe(5);

    const removed = await rollback.cleanupOldBackups({ maxAgeDays: 30, keepMinimum: 2 });
    // app keeps its newest two (one of them old); other keeps its only one.
    expect(removed).toBe(2);
    const left = (await rollback.listBackups()).map((b) => b.backupId).sort();
    expect(left).toEqual([ids[2], ids[3], other].sort());
    expect(objectCount(store)).toBe(3);
    expect(catalogCount(store, "SELECT count(*) FROM listing_blobs")).toBe(3);
    await rollback.close();
  });

  it("never removes a rollback point that an unfinished run needs", async () => {
    const dir = await tempDir();
    const store = join(dir, "store");
    const rollback = new GlobalRollback({ backupDir: store });
    makeTree(dir, { "app/a": "a", "app/b": "b" });
    const point = await rollback.createRollbackPoint({
      moduleName: "app",
      description: "pre",
      files: [join(dir, "app/a"), join(dir, "app/b")],
    });
    age(
      store,
      point.members.map((m) => m.backupId),
      90,
    );
    const db = new Database(join(store, "catalog.db"));
    db.prepare(
      "INSERT INTO runs (id, module, point_id, state, started_at) VALUES (?, ?, ?, ?, ?)",
    ).run("r-20260101T000000Z-0000000000000001", "app", point.pointId, "step.migrate", Date.now());
    db.close();

    const result = await rollback.cleanupOldBackupsDetailed({ maxAgeDays: 30, keepMinimum: 0 });
    expect(result.removedBackups).toEqual([]);
    expect(result.heldPoints).toEqual([point.pointId]);
    expect((await rollback.restoreRollbackPoint(point)).ok).toBe(true);

    const finished = new Database(join(store, "catalog.db"));
    finished.prepare("UPDATE runs SET finished = 1").run();
    finished.close();
    const second = await rollback.cleanupOldBackupsDetailed({ maxAgeDays: 30, keepMinimum: 0 });
    expect(second.removedPoints).toEqual([point.pointId]);
    expect(second.removedBackups.sort()).toEqual(point.members.map((m) => m.backupId).sort());
    expect(objectCount(store)).toBe(0);
    await rollback.close();
  });
});
