import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import Database from "better-sqlite3";
import { describe, expect, it } from "vitest";
import { GlobalRollback } from "../../../src/index.js";
import { rollpoint } from "../../helpers/cli.js";
import { tempDir } from "../../helpers/tree.js";

const WRITER = fileURLToPath(new URL("../../fixtures/sqlite-writer.mjs", import.meta.url));

function createEventsDb(path: string, rows: number): void {
  const db = new Database(path);
  db.pragma("journal_mode = WAL");
  db.exec("CREATE TABLE events (id INTEGER PRIMARY KEY AUTOINCREMENT, payload TEXT NOT NULL)");
  db.exec("CREATE INDEX events_payload ON events (payload)");
  const insert = db.prepare("INSERT INTO events (payload) VALUES (?)");
  db.transaction(() => {
    for (let i = 1; i <= rows; i++) insert.run(`seed ${i}`);
  })();
  db.close();
}

function inspect(path: string) {
  const db = new Database(path, { readonly: true });
  try {
    const { count, max } = db
      .prepare("SELECT count(*) AS count, max(id) AS max FROM events")
      .get() as {
      count: number;
      max: number;
    };
    return {
      count,
      max,
      integrity: db.pragma("integrity_check", { simple: true }),
      tables: db
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        .pluck()
        .all(),
    };
  } finally {
    db.close();
  }
}

describe("SQLite backups", () => {
  it("copy a WAL database consistently while another process writes, and restore it", async () => {
    const dir = await tempDir();
    const path = join(dir, "app.db");
    createEventsDb(path, 1000);
    const writer = spawn(process.execPath, [WRITER, path], {
      stdio: ["ignore", "pipe", "inherit"],
    });
    await new Promise<void>((resolve) => writer.stdout.once("data", () => resolve()));
    const rollback = new GlobalRollback({ backupDir: join(dir, "store") });
    let info: Awaited<ReturnType<typeof rollback.backupDatabase>>;
    try {
      info = await rollback.backupDatabase({ type: "sqlite", database: path }, "pre", "app");
    } finally {
      writer.kill("SIGKILL");
      await new Promise((resolve) => writer.once("exit", resolve));
    }
    expect(info.backupType).toBe("database");
    expect(info.metadata.engine).toBe("sqlite");

    // The update: more rows, rows deleted, a new table; a connection leaves its WAL behind.
    const live = new Database(path);
    live.exec("DELETE FROM events WHERE id % 2 = 0; CREATE TABLE migrated (x INTEGER)");
    live.prepare("INSERT INTO events (payload) VALUES ('after the backup')").run();
    const atUpdate = inspect(path);
    expect(existsSync(`${path}-wal`)).toBe(true);

    expect(await rollback.restoreBackup(info.backupId)).toBe(true);
    live.close();
    const restored = inspect(path);
    expect(restored.integrity).toBe("ok");
    expect(restored.tables).toEqual(["events", "sqlite_sequence"]);
    // A consistent snapshot: every row up to the last one, none missing, none from the update.
    expect(restored.count).toBe(restored.max);
    expect(restored.count).toBeGreaterThanOrEqual(1050);
    expect(restored.count).not.toBe(atUpdate.count);
    await rollback.close();
  });

  it("records a database that does not exist yet as absent; restore removes it and its WAL", async () => {
    const dir = await tempDir();
    const path = join(dir, "new.db");
    const rollback = new GlobalRollback({ backupDir: join(dir, "store") });
    const info = await rollback.backupDatabase({ type: "sqlite", database: path }, "pre", "app");
    expect(info.metadata.absent).toBe(true);
    createEventsDb(path, 3);
    writeFileSync(`${path}-wal`, "stale");
    await rollback.restoreBackup(info.backupId);
    expect(existsSync(path)).toBe(false);
    expect(existsSync(`${path}-wal`)).toBe(false);
    await rollback.close();
  });
});

describe("a SQLite database's name", () => {
  it("a link in place of the database file (a user's directory, a link to root's database) is refused: the linked database never reaches the store", async () => {
    const dir = await tempDir();
    const secret = join(dir, "secret.db");
    const db = new Database(secret);
    db.exec("CREATE TABLE s (v TEXT); INSERT INTO s VALUES ('TOPSECRET-4711')");
    db.close();
    mkdirSync(join(dir, "app"));
    symlinkSync(secret, join(dir, "app", "data.db"));
    const store = join(dir, "store");
    const rollback = new GlobalRollback({ backupDir: store });
    await expect(
      rollback.backupDatabase(
        { type: "sqlite", database: join(dir, "app", "data.db") },
        "pre",
        "app",
      ),
    ).rejects.toThrow(
      /data\.db is not a regular file \(a symlink\): name the database file itself/,
    );
    await rollback.close();
    const found = spawnSync("grep", ["-rl", "TOPSECRET-4711", store], { encoding: "utf8" });
    expect(found.stdout).toBe("");
  });
});

describe("a SQLite database inside a protected tree", () => {
  it("is the database member's: a rollback of an update that never touched it is clean, one that did brings its rows back", async () => {
    const dir = await tempDir();
    const app = join(dir, "app");
    const dbPath = join(app, "data.db");
    mkdirSync(app);
    writeFileSync(join(app, "app.conf"), "v1\n");
    const db = new Database(dbPath);
    db.pragma("journal_mode = WAL");
    db.exec("CREATE TABLE t (x); INSERT INTO t VALUES (1), (2)");
    db.close();
    const manifest = join(dir, "m.yaml");
    const write = (steps: string) =>
      writeFileSync(
        manifest,
        `apiVersion: rollpoint/v1
name: app
rollbackPoint:
  files: [${app}]
  databases: [{ name: data, type: sqlite, database: ${dbPath} }]
steps:
${steps}  - id: health
    run: ["false"]
`,
      );
    const store = join(dir, "store");
    write(`  - id: edit
    shell: echo v2 > ${app}/app.conf
`);
    const untouched = await rollpoint(["--store", store, "run", manifest]);
    expect(untouched.exitCode, untouched.stdout + untouched.stderr).toBe(1);
    expect(untouched.stdout).toContain("as it was before the update");
    write(`  - id: migrate
    sql: { database: data, file: ${join(dir, "m.sql")} }
`);
    writeFileSync(join(dir, "m.sql"), "DELETE FROM t; CREATE TABLE added (y);");
    const touched = await rollpoint(["--store", store, "run", manifest]);
    expect(touched.exitCode, touched.stdout + touched.stderr).toBe(1);
    const after = new Database(dbPath, { readonly: true });
    expect(after.prepare("SELECT count(*) AS n FROM t").get()).toEqual({ n: 2 });
    expect(after.prepare("SELECT name FROM sqlite_master WHERE name = 'added'").all()).toEqual([]);
    after.close();
  });
});
