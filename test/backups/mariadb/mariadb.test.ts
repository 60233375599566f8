import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { GlobalRollback } from "../../../src/index.js";
import { rollpoint } from "../../helpers/cli.js";
import {
  createAccount,
  createShopDatabase,
  dumpOf,
  grant,
  MARIADB,
  mariadb,
  mariadbSession,
  mutateShopDatabase,
} from "../../helpers/mariadb.js";
import { runKilledWhen } from "../../helpers/paused.js";
import { storeFiles } from "../../helpers/store.js";
import { tempDir } from "../../helpers/tree.js";
import { until } from "../../helpers/wait.js";

/**
 * `dir/shop.yaml`: a rollback point of `database` on the suite's server, a `sql` step running
 * `dir/migrate.sql`, then (unless told otherwise) a check that fails. Returns its path.
 */
function shopManifest(
  dir: string,
  options: { database: string; type?: string; account?: string; failingCheck?: boolean },
): string {
  const { database, type = "mariadb", account = "user: root", failingCheck = true } = options;
  const manifest = join(dir, "shop.yaml");
  writeFileSync(
    manifest,
    `apiVersion: rollpoint/v1
name: shop
rollbackPoint:
  databases:
    - { name: shop, type: ${type}, host: ${MARIADB.host}, port: ${MARIADB.port}, ${account}, database: ${database} }
steps:
  - id: migrate
    sql: { database: shop, file: migrate.sql }
${failingCheck ? `  - id: health\n    check: { command: ["false"], within: 1s }\n` : ""}`,
  );
  return manifest;
}

describe("MariaDB, a database kind of its own", () => {
  it("restores the database exactly, tables created after the backup included, as mariadb-dump sees it", async () => {
    const dir = await tempDir();
    const database = createShopDatabase();
    const before = dumpOf(database);
    const rollback = new GlobalRollback({ backupDir: join(dir, "store") });
    const info = await rollback.backupDatabase(
      { type: "mariadb", ...MARIADB, database },
      "pre",
      "shop",
    );
    expect(info.source).toBe(`mariadb://root@127.0.0.1:${MARIADB.port}/${database}`);

    mutateShopDatabase(database);
    expect(dumpOf(database)).not.toBe(before);
    const restored = await rollback.restoreBackupDetailed(info.backupId);
    expect(restored.outcome, JSON.stringify(restored.error)).toBe("restored");
    expect(restored.detail).toContain("row counts equal");
    expect(dumpOf(database)).toBe(before);
    expect(mariadb("SHOW TABLES", database).split("\n").filter(Boolean).sort()).toEqual([
      "big_invoices",
      "customers",
      "invoices",
    ]);
    await rollback.close();
  });

  it("rollpoint run with a sql step on MariaDB (type mysql): a failed check rolls it back exactly; plan names the target", async () => {
    const dir = await tempDir();
    const database = createShopDatabase();
    const before = dumpOf(database);
    writeFileSync(
      join(dir, "migrate.sql"),
      "ALTER TABLE customers ADD COLUMN tier INT; DELETE FROM invoices;",
    );
    const manifest = shopManifest(dir, { type: "mysql", database });
    const store = join(dir, "store");
    const plan = await rollpoint(["--store", store, "--json", "plan", manifest]);
    expect(plan.exitCode, plan.stdout + plan.stderr).toBe(0);
    expect(JSON.parse(plan.stdout).plan.rollbackPoint.databases[0].target).toBe(
      `mariadb://root@${MARIADB.host}:${MARIADB.port}/${database}`,
    );
    const run = await rollpoint(["--store", store, "run", manifest]);
    expect(run.exitCode, run.stdout + run.stderr).toBe(1);
    expect(run.stdout).toContain(
      "rolled back: everything in the rollback point is as it was before the update",
    );
    expect(dumpOf(database)).toBe(before);
  });

  it("a damaged restore is not called restored: the read-back names what differs", async () => {
    const dir = await tempDir();
    const database = createShopDatabase();
    const rollback = new GlobalRollback({ backupDir: join(dir, "store") });
    const info = await rollback.backupDatabase(
      { type: "mariadb", ...MARIADB, database },
      "pre",
      "shop",
    );
    // The backup recorded a table its dump does not hold: a restore cannot bring it back, and
    // must say so instead of "restored".
    const { Store } = await import("../../../src/store/store.js");
    await rollback.close();
    const store = await Store.open(join(dir, "store"));
    const row = store.catalog.getBackup(info.backupId)!;
    const meta = row.meta as { fingerprint: { schema: string[] } };
    meta.fingerprint.schema.push("base table ghost InnoDB");
    store.catalog.db
      .prepare("UPDATE backups SET meta = ? WHERE id = ?")
      .run(JSON.stringify(meta), row.id);
    store.close();
    const again = new GlobalRollback({ backupDir: join(dir, "store") });
    await expect(again.restoreBackupDetailed(info.backupId)).rejects.toMatchObject({
      code: "DATABASE_FAILED",
      message: expect.stringContaining(
        "read back, 1 difference(s): missing: base table ghost InnoDB",
      ),
    });
    await again.close();
  });

  it("database-level grants come back: an update's GRANT does not outlive the rollback, a REVOKE is undone", async () => {
    const dir = await tempDir();
    const database = createShopDatabase();
    const suffix = database.slice(-6);
    const [reader, intruder] = [`rp_reader_${suffix}`, `rp_intruder_${suffix}`];
    mariadb(`CREATE USER '${reader}'@'localhost'; CREATE USER '${intruder}'@'%'`);
    try {
      mariadb(`GRANT SELECT, SHOW VIEW ON \`${database}\`.* TO '${reader}'@'localhost'`);
      const grants = () =>
        mariadb(
          `SELECT GRANTEE, PRIVILEGE_TYPE, IS_GRANTABLE FROM information_schema.SCHEMA_PRIVILEGES WHERE TABLE_SCHEMA = '${database}' ORDER BY 1, 2`,
        );
      const before = grants();
      const rollback = new GlobalRollback({ backupDir: join(dir, "store") });
      const info = await rollback.backupDatabase(
        { type: "mariadb", ...MARIADB, database },
        "pre",
        "shop",
      );
      // The update: the reader loses SELECT and gains INSERT, someone else gets everything.
      mariadb(
        `REVOKE SELECT ON \`${database}\`.* FROM '${reader}'@'localhost';
         GRANT INSERT ON \`${database}\`.* TO '${reader}'@'localhost';
         GRANT ALL ON \`${database}\`.* TO '${intruder}'@'%' WITH GRANT OPTION`,
      );
      expect(grants()).not.toBe(before);
      const restored = await rollback.restoreBackupDetailed(info.backupId);
      expect(restored.outcome, JSON.stringify(restored.error)).toBe("restored");
      expect(restored.detail).toContain(
        "database-level grants put back (3 GRANT/REVOKE statement(s))",
      );
      expect(grants()).toBe(before);
      expect(mariadb(`SHOW GRANTS FOR '${intruder}'@'%'`)).not.toContain(database);
      await rollback.close();
    } finally {
      mariadb(`DROP USER IF EXISTS '${reader}'@'localhost', '${intruder}'@'%'`);
    }
  });
});

describe("MariaDB grants below the database", () => {
  it("table and column grants come back as SHOW GRANTS showed them: one on a table the rollback removed goes, a revoked column grant returns", async () => {
    const dir = await tempDir();
    const database = createShopDatabase();
    const account = `rp_app_${database.slice(-6)}`;
    mariadb(`CREATE USER '${account}'@'localhost'`);
    try {
      mariadb(
        `GRANT SELECT (name), UPDATE (name) ON \`${database}\`.customers TO '${account}'@'localhost';
         GRANT SELECT ON \`${database}\`.invoices TO '${account}'@'localhost'`,
      );
      const shown = () =>
        mariadb(`SHOW GRANTS FOR '${account}'@'localhost'`).split("\n").filter(Boolean).sort();
      const before = shown();
      const rollback = new GlobalRollback({ backupDir: join(dir, "store") });
      const info = await rollback.backupDatabase(
        { type: "mariadb", ...MARIADB, database },
        "pre",
        "shop",
      );
      // The update: a new table with grants on it, a column grant added, one revoked, a table
      // grant widened.
      mariadb(
        `CREATE TABLE report_cache (id INT PRIMARY KEY, body TEXT);
         GRANT SELECT, INSERT ON \`${database}\`.report_cache TO '${account}'@'localhost';
         ALTER TABLE customers ADD COLUMN preferences TEXT;
         GRANT UPDATE (preferences) ON \`${database}\`.customers TO '${account}'@'localhost';
         REVOKE SELECT (name) ON \`${database}\`.customers FROM '${account}'@'localhost';
         GRANT INSERT ON \`${database}\`.invoices TO '${account}'@'localhost' WITH GRANT OPTION`,
        database,
      );
      expect(shown()).not.toEqual(before);
      const restored = await rollback.restoreBackupDetailed(info.backupId);
      expect(restored.outcome, JSON.stringify(restored.error)).toBe("restored");
      expect(restored.detail).toContain("grants on the database, its tables and columns put back");
      expect(shown()).toEqual(before);
      expect(
        mariadb(
          `SELECT COUNT(*) FROM mysql.tables_priv WHERE Db = '${database}' AND Table_name = 'report_cache'`,
        ).trim(),
      ).toBe("0");
      await rollback.close();
    } finally {
      mariadb(`DROP USER IF EXISTS '${account}'@'localhost'`);
    }
  });
});

describe("MariaDB behind a password", () => {
  it("an application's account: passwordEnv and inline both roll back exactly, and the password is in no argv, store file or log", async () => {
    const dir = await tempDir();
    const account = createAccount();
    const database = createShopDatabase(account);
    const before = dumpOf(database);
    // The account needs its password: without it, the server refuses.
    expect(() => mariadb("SELECT 1", undefined, { ...account, password: "" })).toThrow(/denied/);

    // Every mariadb and mariadb-dump rollpoint starts writes its argv here, then runs the real one.
    const bin = join(dir, "bin");
    const argv = join(dir, "argv.log");
    mkdirSync(bin);
    for (const tool of ["mariadb", "mariadb-dump"]) {
      const real = execFileSync("sh", ["-c", `command -v ${tool}`])
        .toString()
        .trim();
      writeFileSync(
        join(bin, tool),
        `#!/bin/sh\nprintf '%s\\n' "$0 $*" >> ${argv}\nexec ${real} "$@"\n`,
        { mode: 0o755 },
      );
    }
    writeFileSync(
      join(dir, "migrate.sql"),
      "ALTER TABLE customers ADD COLUMN tier INT; DELETE FROM invoices; CREATE TABLE audit (x INT);",
    );
    const store = join(dir, "store");
    const manifest = join(dir, "shop.yaml");
    const write = (secret: string, db = database, user = account.user) =>
      shopManifest(dir, { database: db, account: `user: ${user}, ${secret}` });
    const env = { PATH: `${bin}:${process.env.PATH}`, SHOP_PASSWORD: account.password };
    for (const secret of ["passwordEnv: SHOP_PASSWORD", `password: "${account.password}"`]) {
      write(secret);
      const run = await rollpoint(["--store", store, "run", manifest], { env });
      expect(run.exitCode, secret + run.stdout + run.stderr).toBe(1);
      expect(run.stdout).toContain(
        "rolled back: everything in the rollback point is as it was before the update",
      );
      expect(dumpOf(database)).toBe(before);
      expect(run.stdout + run.stderr).not.toContain(account.password);
    }
    const calls = readFileSync(argv, "utf8");
    expect(calls).toContain("mariadb-dump");
    expect(calls).toContain(`--user=${account.user}`);
    expect(calls).not.toContain(account.password);
    for (const file of storeFiles(store)) {
      expect(readFileSync(file).includes(account.password), file).toBe(false);
    }

    // Objects defined by another account (root, here) need SET USER to be recreated: refused
    // at preflight, exit 4, naming them; nothing changed.
    const foreign = createShopDatabase();
    grant(account, foreign);
    const foreignBefore = dumpOf(foreign);
    write("passwordEnv: SHOP_PASSWORD", foreign);
    const refused = await rollpoint(["--store", store, "run", manifest], { env });
    expect(refused.exitCode, refused.stdout + refused.stderr).toBe(4);
    expect(refused.stdout + refused.stderr).toMatch(/view big_invoices \(definer root@/);
    expect(refused.stdout + refused.stderr).toContain("SET USER");
    expect(dumpOf(foreign)).toBe(foreignBefore);

    // An account with less than a restore takes: refused the same way, naming what it lacks.
    const reader = createAccount();
    grant(reader, database, "SELECT, INSERT");
    write("passwordEnv: SHOP_PASSWORD", database, reader.user);
    const lacking = await rollpoint(["--store", store, "run", manifest], {
      env: { ...env, SHOP_PASSWORD: reader.password },
    });
    expect(lacking.exitCode, lacking.stdout + lacking.stderr).toBe(4);
    expect(lacking.stdout + lacking.stderr).toMatch(/lacks CREATE, DROP, ALTER/);
    expect(dumpOf(database)).toBe(before);
  });
});

describe("MariaDB when the runner dies during a migration", () => {
  it("recover kills the step's client and ends an application's session: nothing is written after, and the database is proven back", async () => {
    const dir = await tempDir();
    const database = createShopDatabase();
    const before = dumpOf(database);
    writeFileSync(
      join(dir, "migrate.sql"),
      "DELETE FROM invoices WHERE id = 1;\nSELECT SLEEP(4);\nCREATE TABLE made_after_recover (x INT);\nINSERT INTO customers (name) VALUES ('late');\n",
    );
    const manifest = shopManifest(dir, { database, failingCheck: false });
    // An application's session holding a transaction on the database (a metadata lock that a
    // DROP DATABASE waits for, forever by default): its stdin stays open.
    const app = mariadbSession(database);
    app.stdin.write("START TRANSACTION;\nSELECT COUNT(*) FROM customers;\n");
    const sessions = () =>
      mariadb(
        `SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE DB = '${database}'`,
      ).trim();
    await until("the application's session", () => sessions() === "1");
    const store = join(dir, "store");
    await runKilledWhen(
      ["--store", store, "run", manifest],
      "the migration in its SLEEP",
      () =>
        mariadb(
          `SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE INFO LIKE 'SELECT SLEEP(4)%'`,
        ).trim() === "1",
    );

    const recovered = await rollpoint(["--store", store, "--json", "recover"]);
    expect(recovered.exitCode, recovered.stdout + recovered.stderr).toBe(0);
    const [result] = JSON.parse(recovered.stdout).recovered;
    expect(result.outcome).toBe("rolledBack");
    expect(result.killed).toBeGreaterThanOrEqual(1);
    expect(result.result.rollback.operations[0].detail).toMatch(/^ended \d+ other session\(s\)/);
    // Longer than the SLEEP the dead client was in: had it lived, it would have written by now.
    await new Promise((resolve) => setTimeout(resolve, 5_000));
    expect(mariadb("SHOW TABLES LIKE 'made_after_recover'", database).trim()).toBe("");
    expect(mariadb("SELECT COUNT(*) FROM customers WHERE name = 'late'", database).trim()).toBe(
      "0",
    );
    expect(dumpOf(database)).toBe(before);
    expect(sessions()).toBe("0");
    app.kill("SIGKILL");
  });
});
