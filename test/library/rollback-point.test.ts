import { existsSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { GlobalRollback } from "../../src/index.js";
import { locateObject, objectCount } from "../helpers/store.js";
import { makeTree, tempDir, treeState } from "../helpers/tree.js";

describe("rollback points", () => {
  it("restore every member in reverse order of backup and report each one", async () => {
    const dir = await tempDir();
    const rollback = new GlobalRollback({ backupDir: join(dir, "store") });
    makeTree(dir, {
      "etc/app/config.conf": "port=8080\n",
      "opt/app/bin/app": { content: "v1", mode: 0o755 },
      "opt/app/data/cache.tmp": "skip me",
      "opt/app/data/rows": "1\n",
    });
    // A file's backup covers the file, not the directory holding it (whose mtime a restore moves).
    const config = treeState(join(dir, "etc/app/config.conf"));
    const opt = treeState(join(dir, "opt"));
    const point = await rollback.createRollbackPoint({
      moduleName: "app",
      description: "pre_update_v2",
      files: [
        join(dir, "etc/app/config.conf"),
        { path: join(dir, "opt"), exclude: ["*.tmp"] },
        join(dir, "etc/app/new-feature.conf"),
      ],
    });
    expect(point.members.map((m) => m.source)).toEqual([
      join(dir, "etc/app/config.conf"),
      join(dir, "opt"),
      join(dir, "etc/app/new-feature.conf"),
    ]);
    expect(new Set(point.members.map((m) => m.pointId))).toEqual(new Set([point.pointId]));

    writeFileSync(join(dir, "etc/app/config.conf"), "port=1\n");
    writeFileSync(join(dir, "etc/app/new-feature.conf"), "on\n");
    writeFileSync(join(dir, "opt/app/bin/app"), "v2");
    writeFileSync(join(dir, "opt/app/data/cache.tmp"), "changed cache");
    rmSync(join(dir, "opt/app/data/rows"));

    const result = await rollback.restoreRollbackPoint(point);
    expect(result.ok).toBe(true);
    expect(result.operations.map((o) => [o.source, o.outcome])).toEqual([
      [join(dir, "etc/app/new-feature.conf"), "restored"],
      [join(dir, "opt"), "restored"],
      [join(dir, "etc/app/config.conf"), "restored"],
    ]);
    expect(existsSync(join(dir, "etc/app/new-feature.conf"))).toBe(false);
    expect(treeState(join(dir, "etc/app/config.conf"))).toEqual(config);
    // The excluded file keeps the update's contents; the rest is as before.
    const optNow = treeState(join(dir, "opt"));
    const strip = (s: typeof opt) =>
      s.filter((p) => !p.path.endsWith("cache.tmp") && p.path !== "app/data");
    expect(strip(optNow)).toEqual(strip(opt));

    // By id too, and a second time changes nothing.
    const again = await rollback.restoreRollbackPoint(point.pointId);
    expect(again.operations.every((o) => o.outcome === "unchanged")).toBe(true);
    await rollback.close();
  });

  it("is created whole or not at all", async () => {
    const dir = await tempDir();
    const store = join(dir, "store");
    const rollback = new GlobalRollback({ backupDir: store });
    makeTree(dir, { "app/a.txt": "a", "app/b.txt": "b" });
    const error = await rollback
      .createRollbackPoint({
        moduleName: "app",
        description: "pre",
        files: [join(dir, "app/a.txt"), join(store, "catalog.db"), join(dir, "app/b.txt")],
      })
      .catch((e: unknown) => e);
    expect(error).toMatchObject({
      code: "ROLLBACK_POINT_FAILED",
      context: { path: join(store, "catalog.db") },
    });
    expect(await rollback.listBackups()).toEqual([]);
    // The first member's object was reclaimed with it.
    expect(objectCount(store)).toBe(0);
    await rollback.close();
  });

  it("reports a member that fails verification and still restores the others", async () => {
    const dir = await tempDir();
    const store = join(dir, "store");
    const rollback = new GlobalRollback({ backupDir: store });
    makeTree(dir, { "a/x": "x1", "b/y": "y1" });
    const point = await rollback.createRollbackPoint({
      moduleName: "app",
      description: "pre",
      files: [join(dir, "a"), join(dir, "b")],
    });
    const [entry] = (await rollback.getListing(point.members[0]!.backupId)).filter((e) => e.hash);
    // Its pack holds only this member's objects: the object is gone.
    rmSync(locateObject(store, entry!.hash!).path);
    writeFileSync(join(dir, "a/x"), "x2");
    writeFileSync(join(dir, "b/y"), "y2");

    const result = await rollback.restoreRollbackPoint(point);
    expect(result.ok).toBe(false);
    expect(result.operations.map((o) => o.outcome)).toEqual(["restored", "failed"]);
    expect(result.operations[1]!.error).toMatchObject({ code: "VERIFY_FAILED" });
    expect(result.operations[1]!.error!.message).toContain(join(dir, "a/x"));
    const { readFileSync } = await import("node:fs");
    expect(readFileSync(join(dir, "b/y"), "utf8")).toBe("y1");
    expect(readFileSync(join(dir, "a/x"), "utf8")).toBe("x2");
    await rollback.close();
  });
});
