import { readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { execa } from "execa";
import { describe, expect, it } from "vitest";
import { GlobalRollback } from "../../../src/index.js";
import {
  createAppDatabase,
  createRole,
  databaseExists,
  dataOf,
  dropScratchOf,
  mutateAppDatabase,
  PG,
  privilegesOf,
  schemaOf,
  sql,
} from "../../helpers/postgres.js";
import { storeFiles } from "../../helpers/store.js";
import { tempDir } from "../../helpers/tree.js";

const WRAP = fileURLToPath(new URL("../../fixtures/pg-wrap", import.meta.url));

for (const strategy of ["dump", "clone"] as const) {
  describe(`PostgreSQL, strategy ${strategy}`, () => {
    it("restores schema and data exactly", async () => {
      const dir = await tempDir();
      const database = await createAppDatabase();
      const schema = await schemaOf(database);
      const data = await dataOf(database);
      const rollback = new GlobalRollback({ backupDir: join(dir, "store") });
      const info = await rollback.backupDatabase(
        { type: "postgresql", ...PG, database, strategy },
        "pre",
        "app",
      );
      const scratch = dropScratchOf(info.backupId);
      expect(info.source).toBe(`postgresql://postgres@127.0.0.1:${PG.port}/${database}`);
      expect(await databaseExists(scratch.snapshot)).toBe(strategy === "clone");

      await mutateAppDatabase(database);
      expect(await dataOf(database)).not.toEqual(data);
      expect(await schemaOf(database)).not.toEqual(schema);

      const op = await rollback.restoreBackupDetailed(info.backupId);
      expect(op.outcome).toBe("restored");
      expect(op.detail).toMatch(
        strategy === "clone" ? /swapped the snapshot/ : /restored into a new database/,
      );
      expect(await schemaOf(database)).toEqual(schema);
      expect(await dataOf(database)).toEqual(data);
      for (const name of Object.values(scratch)) expect(await databaseExists(name)).toBe(false);

      // Again: harmless. A dump restores again; a clone's snapshot was used up and says so.
      const again = await rollback.restoreBackupDetailed(info.backupId);
      expect(again.outcome).toBe(strategy === "clone" ? "unchanged" : "restored");
      expect(await dataOf(database)).toEqual(data);
      await rollback.close();
    });
  });
}

describe("PostgreSQL, a clone whose snapshot is gone", () => {
  it("is refused before the database is touched, unless the database already is the backup's", async () => {
    const dir = await tempDir();
    const database = await createAppDatabase();
    const rollback = new GlobalRollback({ backupDir: join(dir, "store") });
    const info = await rollback.backupDatabase(
      { type: "postgresql", ...PG, database, strategy: "clone" },
      "pre",
      "app",
    );
    const scratch = dropScratchOf(info.backupId);
    // As after a committed run (which drops the snapshot) or an earlier rollback, then an update.
    await sql(`DROP DATABASE ${scratch.snapshot}`);
    // Dropped by hand, not by a commit or a rollback of rollpoint's: verify calls it damage.
    const [report] = await rollback.verifyBackups(info.backupId);
    expect(report?.ok).toBe(false);
    expect(JSON.stringify(report?.problems)).toContain(
      `its snapshot database ${scratch.snapshot} is gone`,
    );
    const untouched = await dataOf(database);
    const restored = await rollback.restoreBackupDetailed(info.backupId);
    expect(restored.outcome).toBe("unchanged");

    await mutateAppDatabase(database);
    const mutated = { data: await dataOf(database), schema: await schemaOf(database) };
    expect(mutated.data).not.toEqual(untouched);
    const refused = await rollback.restoreBackupDetailed(info.backupId).then(
      (op) => `resolved ${op.outcome}`,
      (error: Error & { code?: string }) => `${error.code}: ${error.message}`,
    );
    expect(refused).toMatch(
      new RegExp(
        `^VERIFY_FAILED: .*snapshot database ${scratch.snapshot} is gone.*not the one it recorded.*left as it is$`,
      ),
    );
    expect(await dataOf(database)).toEqual(mutated.data);
    expect(await schemaOf(database)).toEqual(mutated.schema);
    await rollback.close();
  });
});

describe("PostgreSQL, a role that may not create databases", () => {
  it("is refused before anything is taken: a restore could not bring the database back whole", async () => {
    const dir = await tempDir();
    const role = await createRole("LOGIN NOCREATEDB");
    const database = await createAppDatabase(role);
    const rollback = new GlobalRollback({ backupDir: join(dir, "store") });
    const config = { type: "postgresql" as const, ...PG, user: role, database };
    for (const strategy of ["dump", "clone"] as const) {
      const refused = await rollback
        .backupDatabase({ ...config, strategy }, "pre", "app")
        .catch((e: unknown) => e);
      expect(refused).toMatchObject({ code: "BACKUP_FAILED" });
      expect(String((refused as Error).message)).toContain(
        `${role} at postgresql://${role}@${PG.host}:${PG.port}/${database} may not create databases, so a rollback could not bring ${database} back whole`,
      );
    }
    await rollback.close();
  });
});

for (const strategy of ["dump", "clone"] as const) {
  describe(`PostgreSQL, the database as a whole (${strategy})`, () => {
    it("owner, comment, privileges, settings and connection limit come back with the data", async () => {
      const dir = await tempDir();
      const owner = await createRole("LOGIN");
      const reader = await createRole("LOGIN");
      const database = await createAppDatabase(owner);
      await sql(`COMMENT ON DATABASE ${database} IS 'billing, do not touch'`);
      await sql(`ALTER DATABASE ${database} SET work_mem TO '8MB'`);
      await sql(`ALTER DATABASE ${database} SET search_path TO public, audit`);
      await sql(`ALTER ROLE ${reader} IN DATABASE ${database} SET statement_timeout TO '5s'`);
      await sql(`ALTER DATABASE ${database} CONNECTION LIMIT 40`);
      await sql(`REVOKE CONNECT ON DATABASE ${database} FROM PUBLIC`);
      await sql(`GRANT CONNECT ON DATABASE ${database} TO ${reader}`);
      const properties = () =>
        sql(
          `SELECT pg_get_userbyid(datdba) AS owner, datconnlimit, datacl::text AS acl,
                  shobj_description(d.oid, 'pg_database') AS comment,
                  (SELECT array_agg(COALESCE(r.rolname, '*') || ':' || array_to_string(setconfig, ';') ORDER BY 1)
                     FROM pg_db_role_setting s LEFT JOIN pg_roles r ON r.oid = s.setrole
                    WHERE s.setdatabase = d.oid) AS settings
             FROM pg_database d WHERE datname = $1`,
          [database],
        );
      const before = await properties();
      const schema = await schemaOf(database);
      const rollback = new GlobalRollback({ backupDir: join(dir, "store") });
      const info = await rollback.backupDatabase(
        { type: "postgresql", ...PG, database, strategy },
        "pre",
        "app",
      );
      dropScratchOf(info.backupId);

      await sql(`COMMENT ON DATABASE ${database} IS 'changed'`);
      await sql(`ALTER DATABASE ${database} RESET ALL`);
      await sql(`ALTER DATABASE ${database} CONNECTION LIMIT -1`);
      await sql(`GRANT CONNECT ON DATABASE ${database} TO PUBLIC`);
      await sql("CREATE TABLE audit (x int); INSERT INTO audit VALUES (1)", [], database);

      const restored = await rollback.restoreBackupDetailed(info.backupId);
      expect(restored.detail).toContain("read back: schema, database properties");
      expect(await properties()).toEqual(before);
      expect(await schemaOf(database)).toBe(schema);
      await rollback.close();
    });
  });
}

describe("PostgreSQL passwords", () => {
  it("reach pg_dump through its environment only, and never the store", async () => {
    const dir = await tempDir();
    const store = join(dir, "store");
    const database = await createAppDatabase();
    const password = `s3cret-${Date.now()}-pw`;
    const real = (await execa("sh", ["-c", "command -v pg_dump"])).stdout.trim();
    const log = join(dir, "pgdump");
    const saved = { PATH: process.env.PATH };
    Object.assign(process.env, {
      PATH: `${WRAP}:${process.env.PATH}`,
      RP_TEST_PASSWORD: password,
      PG_WRAP_LOG: log,
      PG_WRAP_REAL: real,
      PG_WRAP_EXPECT: password,
    });
    try {
      const rollback = new GlobalRollback({ backupDir: store });
      const info = await rollback.backupDatabase(
        { type: "postgresql", ...PG, database, passwordEnv: "RP_TEST_PASSWORD" },
        "pre",
        "app",
      );
      dropScratchOf(info.backupId);
      await rollback.restoreBackup(info.backupId);
      await rollback.close();
    } finally {
      process.env.PATH = saved.PATH;
    }
    // The dump child's command line, as /proc showed it: no password; its environment had it.
    const cmdline = readFileSync(`${log}.cmdline`, "utf8");
    expect(cmdline).toContain("--format=custom");
    expect(cmdline).not.toContain(password);
    expect(readFileSync(`${log}.env`, "utf8").trim()).toBe("yes");
    // Nowhere in the store: catalog, WAL, objects, operations.log.
    const files = storeFiles(store);
    expect(files.length).toBeGreaterThan(3);
    for (const file of files) expect(readFileSync(file).includes(password), file).toBe(false);
  });

  it("an unset passwordEnv is an error that names the variable", async () => {
    const dir = await tempDir();
    delete process.env.RP_TEST_UNSET;
    const rollback = new GlobalRollback({ backupDir: join(dir, "store") });
    const error = await rollback
      .backupDatabase(
        { type: "postgresql", ...PG, database: "postgres", passwordEnv: "RP_TEST_UNSET" },
        "pre",
        "app",
      )
      .catch((e: unknown) => e);
    expect(String((error as Error).message)).toContain(
      "should be in $RP_TEST_UNSET, which is not set",
    );
    await rollback.close();
  });
});

describe("PostgreSQL, a dump taken while others write", () => {
  it("records the row counts of the dump's own snapshot, and the restore proves them", async () => {
    const dir = await tempDir();
    const database = await createAppDatabase();
    const rollback = new GlobalRollback({ backupDir: join(dir, "store") });
    let writing = true;
    let written = 0;
    const writer = (async () => {
      while (writing) {
        await sql("INSERT INTO invoices (customer_id, total) VALUES (1, 1)", [], database);
        written++;
      }
    })();
    const started = written;
    const info = await rollback
      .backupDatabase({ type: "postgresql", ...PG, database, strategy: "dump" }, "pre", "app")
      .finally(() => {
        writing = false;
      });
    await writer;
    expect(written - started, "rows were written while the backup ran").toBeGreaterThan(0);

    await mutateAppDatabase(database);
    const op = await rollback.restoreBackupDetailed(info.backupId);
    expect(op.outcome, JSON.stringify(op.error)).toBe("restored");
    expect(op.detail).toContain("database properties and row counts as recorded");
    await rollback.close();
  });
});

describe("PostgreSQL grants below the database", () => {
  for (const strategy of ["dump", "clone"] as const) {
    it(`table and column privileges come back as \\dp shows them, and the proof reads them (${strategy})`, async () => {
      const dir = await tempDir();
      const database = await createAppDatabase();
      const reader = await createRole("LOGIN");
      await sql(
        `GRANT SELECT ON customers TO ${reader}; GRANT UPDATE (email) ON customers TO ${reader};
         GRANT SELECT ON invoices TO ${reader}`,
        [],
        database,
      );
      const dp = () => privilegesOf(database);
      const before = await dp();
      expect(before).toContain(`${reader}=r/postgres`);
      const rollback = new GlobalRollback({ backupDir: join(dir, "store") });
      const info = await rollback.backupDatabase(
        { type: "postgresql", ...PG, database, strategy },
        "pre",
        "app",
      );
      // The update: a table with grants on it, a column grant added and one revoked, a table
      // grant widened.
      await sql(
        `CREATE TABLE report_cache (id int PRIMARY KEY, body text);
         GRANT SELECT, INSERT ON report_cache TO ${reader};
         GRANT UPDATE (name) ON customers TO ${reader};
         REVOKE UPDATE (email) ON customers FROM ${reader};
         GRANT INSERT, DELETE ON invoices TO ${reader}`,
        [],
        database,
      );
      expect(await dp()).not.toBe(before);
      const op = await rollback.restoreBackupDetailed(info.backupId);
      expect(op.outcome, JSON.stringify(op.error)).toBe("restored");
      expect(await dp()).toBe(before);
      await rollback.close();
    });
  }

  it("the proof names a privilege that differs from the backup's", async () => {
    const { fingerprintDifferences } = await import(
      "../../../src/backups/databases/postgresql/fingerprint.js"
    );
    const database = { owner: "app", connectionLimit: -1, acl: null, comment: null, settings: [] };
    const recorded = {
      database,
      schema: ["object privileges recorded", "acl public.customers app=arwdDxt,reader=r"],
      rows: {},
    };
    const now = {
      database,
      schema: ["object privileges recorded", "acl public.customers app=arwdDxt,reader=arw"],
      rows: {},
    };
    expect(fingerprintDifferences(recorded as never, now as never).join("; ")).toContain(
      "acl public.customers",
    );
    // A backup from before privileges were recorded is not held to them.
    const old = { ...recorded, schema: [] };
    expect(fingerprintDifferences(old as never, now as never)).toEqual([]);
  });
});
