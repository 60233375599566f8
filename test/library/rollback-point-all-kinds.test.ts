import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { describe, expect, it } from "vitest";
import { GlobalRollback, type ServiceManager, SystemdServiceManager } from "../../src/index.js";
import {
  createAppDatabase,
  dataOf,
  dropScratchOf,
  mutateAppDatabase,
  PG,
} from "../helpers/postgres.js";
import { realSystemd, SLEEPER } from "../helpers/systemd.js";
import { makeTree, treeState } from "../helpers/tree.js";

describe("a rollback point of files, SQLite, PostgreSQL and services", () => {
  it("restores in DESIGN.md's order: stop services, data in reverse, services back", async () => {
    const units = await realSystemd();
    const dir = units.dir;
    const app = join(dir, "app");
    makeTree(app, { "etc/app.conf": "version=1\n", "bin/app": { content: "v1", mode: 0o755 } });
    const sqlitePath = join(dir, "cache.db");
    const cache = new Database(sqlitePath);
    cache.exec(
      "CREATE TABLE kv (k TEXT PRIMARY KEY, v TEXT); INSERT INTO kv VALUES ('a', '1'), ('b', '2')",
    );
    cache.close();
    const pgName = await createAppDatabase();
    const web = units.install("web", SLEEPER);
    const worker = units.install("worker", SLEEPER);
    units.systemctl("enable", "--now", web);
    // Each service call records what the config file said at that moment.
    const events: string[] = [];
    const systemd = new SystemdServiceManager();
    const watched: ServiceManager = {
      states: (u) => systemd.states(u),
      reload: () => systemd.reload(),
      settleMs: systemd.settleMs,
      act: async (action, u) => {
        events.push(
          `${action} ${u.join(",")} while ${readFileSync(join(app, "etc/app.conf"), "utf8").trim()}`,
        );
        await systemd.act(action, u);
      },
    };
    const files = treeState(app);
    const pgData = await dataOf(pgName);
    const rollback = new GlobalRollback({ backupDir: join(dir, "store"), serviceManager: watched });
    const point = await rollback.createRollbackPoint({
      moduleName: "app",
      description: "pre 2.0",
      files: [app],
      databases: [
        { type: "sqlite", database: sqlitePath },
        { type: "postgresql", ...PG, database: pgName },
      ],
      services: [web, worker],
    });
    for (const m of point.members) dropScratchOf(m.backupId);
    expect(point.members.map((m) => m.backupType)).toEqual([
      "file",
      "database",
      "database",
      "service",
    ]);

    // The update.
    writeFileSync(join(app, "etc/app.conf"), "version=2\n");
    const db = new Database(sqlitePath);
    db.exec("DELETE FROM kv; CREATE TABLE added (x)");
    db.close();
    await mutateAppDatabase(pgName);
    units.systemctl("enable", "--now", worker);

    const result = await rollback.restoreRollbackPoint(point);
    expect(result.ok).toBe(true);
    expect(result.stopped.map((s) => [s.unit, s.actions])).toEqual([
      [`${web}.service`, ["stop"]],
      [`${worker}.service`, ["stop"]],
    ]);
    expect(result.operations.map((o) => o.backupType)).toEqual([
      "database",
      "database",
      "file",
      "service",
    ]);
    expect(events).toEqual([
      `stop ${web}.service while version=2`,
      `stop ${worker}.service while version=2`,
      `start ${web}.service while version=1`,
      `disable ${worker}.service while version=1`,
    ]);
    expect(treeState(app)).toEqual(files);
    expect(await dataOf(pgName)).toEqual(pgData);
    const restored = new Database(sqlitePath, { readonly: true });
    expect(restored.prepare("SELECT k, v FROM kv ORDER BY k").all()).toEqual([
      { k: "a", v: "1" },
      { k: "b", v: "2" },
    ]);
    restored.close();
    expect(units.state("web")).toEqual({ active: "active", unitFile: "enabled" });
    expect(units.state("worker")).toEqual({ active: "inactive", unitFile: "disabled" });
    await rollback.close();
  });

  it("is created whole or not at all when a database fails", async () => {
    const systemd = await realSystemd();
    const dir = systemd.dir;
    makeTree(dir, { "app/a": "a" });
    const web = systemd.install("web", SLEEPER);
    const rollback = new GlobalRollback({ backupDir: join(dir, "store") });
    const error = await rollback
      .createRollbackPoint({
        moduleName: "app",
        description: "pre",
        files: [join(dir, "app")],
        databases: [{ type: "postgresql", ...PG, database: "rp_no_such_database" }],
        services: [web],
      })
      .catch((e: unknown) => e);
    expect(error).toMatchObject({ code: "ROLLBACK_POINT_FAILED" });
    expect(String((error as Error).message)).toContain(
      "database rp_no_such_database does not exist",
    );
    expect(await rollback.listBackups()).toEqual([]);
    await rollback.close();
  });
});
