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
  schemaOf,
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

describe("PostgreSQL, a role that may not create databases", () => {
  it("restores a dump in place, in one transaction, and says so", async () => {
    const dir = await tempDir();
    const role = await createRole("LOGIN NOCREATEDB");
    const database = await createAppDatabase(role);
    const data = await dataOf(database);
    const rollback = new GlobalRollback({ backupDir: join(dir, "store") });
    const config = { type: "postgresql" as const, ...PG, user: role, database };
    const info = await rollback.backupDatabase(config, "pre", "app");
    dropScratchOf(info.backupId);
    await mutateAppDatabase(database);
    const op = await rollback.restoreBackupDetailed(info.backupId);
    expect(op.detail).toContain(
      `restored in place with pg_restore --clean --single-transaction (${role} may not create databases)`,
    );
    expect(await dataOf(database)).toEqual(data);

    const clone = await rollback
      .backupDatabase({ ...config, strategy: "clone" }, "pre", "app")
      .catch((e: unknown) => e);
    expect(clone).toMatchObject({ code: "BACKUP_FAILED" });
    expect(String((clone as Error).message)).toContain(
      `strategy clone needs a role that may create databases; ${role}`,
    );
    await rollback.close();
  });
});

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
