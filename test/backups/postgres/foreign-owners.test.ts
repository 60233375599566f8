import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { rollpoint } from "../../helpers/cli.js";
import { createAppDatabase, createRole, PG, sql } from "../../helpers/postgres.js";
import { tempDir } from "../../helpers/tree.js";

describe("PostgreSQL, objects owned by another role than the one rollpoint connects as", () => {
  it("plan refuses (exit 4) naming the owner, the objects and what would work; as a superuser, a rollback gives them back their owner", async () => {
    const dir = await tempDir();
    const owner = await createRole("LOGIN CREATEDB");
    const other = await createRole("NOLOGIN");
    const database = await createAppDatabase(owner);
    await sql(
      `CREATE TABLE audit (at timestamptz); ALTER TABLE audit OWNER TO ${other}`,
      [],
      database,
    );
    writeFileSync(join(dir, "migrate.sql"), "ALTER TABLE customers ADD COLUMN tier int;");
    const manifest = join(dir, "m.yaml");
    writeFileSync(
      manifest,
      `apiVersion: rollpoint/v1
name: app
rollbackPoint:
  databases:
    - { name: main, type: postgresql, host: ${PG.host}, port: ${PG.port}, user: ${owner}, database: ${database} }
steps:
  - id: migrate
    sql: { database: main, file: migrate.sql }
  - id: health
    run: ["false"]
`,
    );
    const store = join(dir, "store");
    const plan = await rollpoint(["--store", store, "plan", manifest]);
    expect(plan.exitCode, plan.stdout).toBe(4);
    expect(plan.stdout).toContain(
      `${owner} at postgresql://${owner}@${PG.host}:${PG.port}/${database} does not own every object in ${database}: ${other} (public.audit); a restore as ${owner} could not give them back their owners. Connect as a superuser`,
    );
    // Nothing was taken, nothing changed.
    expect((await rollpoint(["--store", store, "run", manifest])).exitCode).toBe(4);
    const columns = async () =>
      (
        await sql<{ c: string }>(
          "SELECT string_agg(column_name, ',' ORDER BY column_name) AS c FROM information_schema.columns WHERE table_name = 'customers'",
          [],
          database,
        )
      )[0]!.c;
    expect(await columns()).not.toContain("tier");

    // Even a member of the owning role could not: the new owner needs CREATE on the schema in
    // the new database before its privileges are restored. A superuser can.
    await sql(`GRANT ${other} TO ${owner}`);
    expect((await rollpoint(["--store", store, "plan", manifest])).exitCode).toBe(4);
    writeFileSync(
      manifest,
      readFileSync(manifest, "utf8").replace(`user: ${owner}`, `user: ${PG.user}`),
    );
    const run = await rollpoint(["--store", store, "--json", "run", manifest]);
    expect(run.exitCode, run.stdout + run.stderr).toBe(1);
    expect(JSON.parse(run.stdout).outcome).toBe("rolledBack");
    expect(await columns()).not.toContain("tier");
    const [audit] = await sql<{ o: string }>(
      "SELECT pg_get_userbyid(relowner) AS o FROM pg_class WHERE relname = 'audit'",
      [],
      database,
    );
    expect(audit!.o).toBe(other);
  });
});
