import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { rollpoint } from "../helpers/cli.js";
import { createAppDatabase, dataOf, dropScratchOf, PG, schemaOf } from "../helpers/postgres.js";
import { realSystemd, SLEEPER, serviceReading } from "../helpers/systemd.js";
import { makeTree, treeState } from "../helpers/tree.js";

/**
 * A representative host for the engine's tests: an app tree, a SQLite database, a PostgreSQL
 * database, two units of the test container's real systemd (`web` runs, reading the app's
 * config as it starts, into `running`), and a manifest that touches all of them. `state()`
 * captures everything a user would compare after a rollback.
 */
export async function scenario(
  options: { failAt?: "health" | "none"; extraSteps?: (dir: string) => string } = {},
) {
  const units = await realSystemd();
  const dir = units.dir;
  const app = join(dir, "app");
  const store = join(dir, "store");
  makeTree(app, {
    "etc/app.conf": "port=8080\n",
    "etc/old.conf": "legacy=1\n",
    "bin/app-1": { content: "#!/bin/sh\necho 1\n", mode: 0o755 },
    "bin/app": { symlink: "app-1" },
    "data/rows.csv": "1,2,3\n",
  });
  const sqlite = join(dir, "cache.db");
  const db = new Database(sqlite);
  db.exec(
    "CREATE TABLE kv (k TEXT PRIMARY KEY, v TEXT); INSERT INTO kv VALUES ('a', '1'), ('b', '2')",
  );
  db.close();
  const pg = await createAppDatabase();
  const web = units.install("web", serviceReading(join(app, "etc/app.conf"), join(dir, "running")));
  const worker = units.install("worker", SLEEPER);
  units.systemctl("enable", "--now", web);
  writeFileSync(
    join(dir, "pg.sql"),
    "ALTER TABLE customers ADD COLUMN tier int; DELETE FROM invoices WHERE id < 100;",
  );
  writeFileSync(join(dir, "sqlite.sql"), "DELETE FROM kv; CREATE TABLE added (x);");
  const manifest = join(dir, "update.yaml");
  writeFileSync(
    manifest,
    `apiVersion: rollpoint/v1
name: app
rollbackPoint:
  files: [${app}]
  services: [${web}, ${worker}]
  databases:
    - { name: main, type: postgresql, host: ${PG.host}, port: ${PG.port}, user: ${PG.user}, database: ${pg} }
    - { name: cache, type: sqlite, database: ${sqlite} }
steps:
  - id: stop
    service: { stop: [${web}] }
  - id: edit
    shell: |
      echo port=9090 > ${app}/etc/app.conf
      rm ${app}/etc/old.conf
      echo new > ${app}/etc/new.conf
      echo "edit" >> ${dir}/undo.log
    undo: [sh, -c, "echo 'undo edit' >> ${dir}/undo.log"]
  - id: migrate-pg
    sql: { database: main, file: pg.sql }
  - id: migrate-sqlite
    sql: { database: cache, file: sqlite.sql }
  - id: link
    run: [ln, -sfn, app-2, ${app}/bin/app]
    undo: [sh, -c, "echo 'undo link' >> ${dir}/undo.log"]
  - id: enable-worker
    service: { enable: [${worker}] }
  - id: start
    service: { start: [${web}, ${worker}] }
${options.extraSteps?.(dir) ?? ""}  - id: health
    check: { command: [${options.failAt === "none" ? "true" : "false"}], within: 300ms, interval: 100ms }
`,
  );
  const env = { ...process.env };
  const state = async () => ({
    tree: treeState(app),
    sqlite: (() => {
      const c = new Database(sqlite, { readonly: true });
      const out = {
        rows: c.prepare("SELECT * FROM kv ORDER BY k").all(),
        tables: c.prepare("SELECT name FROM sqlite_master ORDER BY name").pluck().all(),
      };
      c.close();
      return out;
    })(),
    pg: { data: await dataOf(pg), schema: await schemaOf(pg) },
    units: { web: units.state("web"), worker: units.state("worker") },
  });
  /** Change the manifest for one test: a text replacement that must find its text. */
  const edit = (from: string, to: string) => {
    const text = readFileSync(manifest, "utf8");
    if (!text.includes(from)) throw new Error(`scenario manifest has no ${JSON.stringify(from)}`);
    writeFileSync(manifest, text.replace(from, to));
  };
  /** `rollpoint --json run` of this scenario: exit code, stderr, and the parsed report. */
  const runJson = async () => {
    const result = await rollpoint(["--store", store, "--json", "run", manifest], { env });
    return { exitCode: result.exitCode, stderr: result.stderr, report: JSON.parse(result.stdout) };
  };
  /** The configuration `web` read when it last started. */
  const running = () => readFileSync(join(dir, "running"), "utf8");
  return {
    dir,
    app,
    running,
    store,
    manifest,
    env,
    pg,
    units,
    state,
    edit,
    runJson,
    dropScratchOf,
  };
}
