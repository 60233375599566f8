import { chmodSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { describe, expect, it } from "vitest";
import { rollpoint } from "../helpers/cli.js";
import { treeState } from "../helpers/tree.js";
import { appUpdate } from "../helpers/update.js";

describe("backups restore --dry-run", () => {
  it("lists, member by member, what the restore would change, changes nothing; after the restore, nothing is left", async () => {
    const { dir, app, manifest, store } = await appUpdate(
      {
        "etc/a.conf": "a=1\n",
        "etc/b.conf": "b=1\n",
        "bin/run": { content: "#!/bin/sh\n", mode: 0o755 },
      },
      (app) => `steps:
  - id: edit
    shell: echo a=2 > ${app}/etc/a.conf && rm ${app}/etc/b.conf && chmod 700 ${app}/bin/run && echo new > ${app}/etc/new.conf
`,
    );
    const db = join(dir, "cache.db");
    const sqlite = new Database(db);
    sqlite.exec("CREATE TABLE kv (k); INSERT INTO kv VALUES (1)");
    sqlite.close();
    writeFileSync(
      manifest,
      readFileSync(manifest, "utf8").replace(
        `rollbackPoint: { files: [${app}] }`,
        `rollbackPoint: { files: [${app}], databases: [{ name: cache, type: sqlite, database: ${db} }] }`,
      ),
    );
    const run = await rollpoint(["--store", store, "--json", "run", manifest]);
    expect(run.exitCode, run.stderr).toBe(0);
    const pointId = JSON.parse(run.stdout).pointId as string;
    chmodSync(join(app, "etc/a.conf"), 0o600);
    const before = treeState(app);

    const dry = await rollpoint(["--store", store, "backups", "restore", "--dry-run", pointId]);
    expect(dry.exitCode, dry.stderr).toBe(0);
    const lines = dry.stdout.split("\n");
    expect(lines).toContain(`  ${app}/etc/a.conf: contents differ`);
    expect(lines).toContain(`  ${app}/etc/b.conf: missing (a file at backup time)`);
    expect(lines).toContain(`  ${app}/bin/run: mode 0700, expected 0755`);
    expect(lines).toContain(`  ${app}/etc/new.conf: exists, but did not at backup time`);
    expect(dry.stdout).toMatch(
      new RegExp(
        `d-\\S+ database ${db}: 1 change\\(s\\)\\n  ${db}: would be replaced by the copy of `,
      ),
    );
    expect(lines.at(-1)).toBe("dry run: nothing was changed");
    // The database comes first: restore order, last taken first.
    expect(dry.stdout.indexOf(" database ")).toBeLessThan(dry.stdout.indexOf(" file "));
    expect(treeState(app)).toEqual(before);

    expect((await rollpoint(["--store", store, "backups", "restore", pointId])).exitCode).toBe(0);
    const after = await rollpoint([
      "--store",
      store,
      "--json",
      "backups",
      "restore",
      "--dry-run",
      pointId,
    ]);
    const previews = JSON.parse(after.stdout).previews as {
      backupType: string;
      changes: string[];
    }[];
    expect(previews.find((p) => p.backupType === "file")!.changes).toEqual([]);
  });
});
