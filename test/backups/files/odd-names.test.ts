import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { execa } from "execa";
import { describe, expect, it } from "vitest";
import { rollpoint } from "../../helpers/cli.js";
import { rsyncDifferences } from "../../helpers/tree.js";
import { appUpdate } from "../../helpers/update.js";

/** A path whose last name is the bytes 0xff 0xfe then "x": not valid UTF-8. */
const oddPath = (dir: string) =>
  Buffer.concat([Buffer.from(`${dir}/`), Buffer.from([0xff, 0xfe]), Buffer.from("x")]);
const names = (dir: string) =>
  readdirSync(dir, { encoding: "buffer" }).map((b) => b.toString("hex"));

describe("names that are not valid UTF-8", () => {
  it("are named (escaped) by plan and backup, left as found when they were there, removed when an update made them, and the rollback says what it did not prove", async () => {
    const { dir, app, manifest, store } = await appUpdate(
      { "conf/app.conf": "v=1\n" },
      (app) => `steps:
  - id: edit
    run: [sh, -c, 'echo v=2 > ${app}/conf/app.conf; printf new > "${app}/$(printf "\\\\375\\\\374y")"']
  - id: health
    run: ["false"]
`,
    );
    // One there before the update...
    writeFileSync(oddPath(join(app, "conf")), "kept\n");
    const plan = await rollpoint(["--store", store, "plan", manifest]);
    expect(plan.exitCode, plan.stdout + plan.stderr).toBe(0);
    expect(plan.stdout).toContain(
      `! ${app}: 1 file, 4 B; ${app}/conf/\\xff\\xfex: the name is not valid UTF-8 (shown escaped): not backed up, and a restore leaves it as it finds it`,
    );
    // The oracle is someone else's tool: a pristine copy, compared by rsync afterwards.
    const pristine = join(dir, "pristine");
    await execa("cp", ["-a", app, pristine]);
    const namesBefore = names(join(app, "conf"));

    const run = await rollpoint(["--store", store, "--json", "run", manifest]);
    expect(run.exitCode, run.stderr).toBe(1);
    const report = JSON.parse(run.stdout);
    expect(report.outcome).toBe("rolledBack");
    // ...kept, as found; the one the update made (0xfd 0xfc "y") is gone; the rest restored.
    expect(readFileSync(oddPath(join(app, "conf")), "utf8")).toBe("kept\n");
    expect(names(join(app, "conf"))).toEqual(namesBefore);
    expect(existsSync(Buffer.from(`${app}/\xfd\xfcy`, "latin1"))).toBe(false);
    expect(await rsyncDifferences(pristine, app)).toBe("");
    const files = report.rollback.operations.find(
      (o: { backupType: string }) => o.backupType === "file",
    );
    expect(files.unproven).toContain("1 path(s)");
    expect(files.unproven).toContain("conf/\\xff\\xfex");
    // Never "everything is as it was" for what was not compared.
    const text = await rollpoint(["--store", store, "show", report.runId]);
    expect(text.stdout).not.toContain("as it was before the update");
    expect(text.stdout).toContain("not everything was proven");

    const show = await rollpoint(["--store", store, "--json", "backups", "list"]);
    const backupId = JSON.parse(show.stdout).backups[0].backupId;
    const shown = await rollpoint(["--store", store, "backups", "show", backupId]);
    expect(shown.stdout).toContain("conf/\\xff\\xfex: the name is not valid UTF-8");
  });
});

describe("names that are not valid UTF-8, deleted by an update", () => {
  it("are named as not restored: exit 2, never 'everything is as it was'; the rest is restored", async () => {
    const { app, manifest, store } = await appUpdate(
      { "conf/app.conf": "v=1\n" },
      (app) => `steps:
  - id: edit
    run: [sh, -c, 'echo v=2 > ${app}/conf/app.conf; rm -f ${app}/conf/*x']
  - id: health
    run: ["false"]
`,
    );
    writeFileSync(oddPath(join(app, "conf")), "kept\n");
    const run = await rollpoint(["--store", store, "run", manifest]);
    expect(run.exitCode, run.stdout + run.stderr).toBe(2);
    expect(run.stdout).toContain(
      `1 path(s) whose names are not valid UTF-8 were not backed up and are gone now, so they could not be restored: ${app}/conf/\\xff\\xfex`,
    );
    expect(run.stdout).not.toContain("as it was before the update");
    expect(readFileSync(join(app, "conf/app.conf"), "utf8")).toBe("v=1\n");
  });
});
