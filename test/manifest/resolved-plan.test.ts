import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { rollpoint } from "../helpers/cli.js";
import { createAppDatabase, createRole, PG } from "../helpers/postgres.js";
import { tempDir } from "../helpers/tree.js";

describe("plan and run read one resolved plan", () => {
  it("with PGHOST, PGPORT and PGUSER in the environment, plan prints the target run connects to", async () => {
    const role = await createRole("LOGIN SUPERUSER");
    const database = await createAppDatabase();
    const dir = await tempDir();
    const store = join(dir, "store");
    const manifest = join(dir, "m.yaml");
    // No host, port or user in the manifest: the environment decides, for plan and run alike.
    writeFileSync(
      manifest,
      `apiVersion: rollpoint/v1
name: app
rollbackPoint:
  databases: [{ name: main, type: postgresql, database: ${database} }]
steps:
  - { id: check, check: { command: ["true"] } }
`,
    );
    const env = { ...process.env, PGHOST: PG.host, PGPORT: String(PG.port), PGUSER: role };
    const expected = `postgresql://${role}@${PG.host}:${PG.port}/${database}`;

    const plan = await rollpoint(["--store", store, "--json", "plan", manifest], { env });
    expect(plan.exitCode, plan.stdout + plan.stderr).toBe(0);
    const planned = JSON.parse(plan.stdout).plan;
    expect(planned.rollbackPoint.databases[0]).toMatchObject({
      target: expected,
      strategy: "dump",
    });
    // The defaults are filled in once, and shown; so is the resolved manifest itself.
    expect(planned.steps[0].summary).toContain("every 1s within 30s");
    const resolved = JSON.parse(plan.stdout).manifest;
    expect(resolved.rollbackPoint.databases[0]).toMatchObject({
      host: PG.host,
      port: PG.port,
      user: role,
      strategy: "dump",
    });
    expect(resolved.steps[0].check).toMatchObject({ within: "30s", interval: "1s" });

    const run = await rollpoint(["--store", store, "--json", "run", manifest], { env });
    expect(run.exitCode, run.stdout + run.stderr).toBe(0);
    const list = await rollpoint(["--store", store, "--json", "backups", "list"]);
    const backup = JSON.parse(list.stdout).backups.find(
      (b: { backupType: string }) => b.backupType === "database",
    );
    expect(backup.source).toBe(expected);
  });
});
