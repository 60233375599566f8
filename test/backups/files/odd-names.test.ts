import { randomBytes } from "node:crypto";
import { mkdirSync, readdirSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { execa } from "execa";
import { describe, expect, it } from "vitest";
import { rollpoint } from "../../helpers/cli.js";
import { rsyncDifferences } from "../../helpers/tree.js";
import { appUpdate } from "../../helpers/update.js";

/** A name made of text and raw bytes: `bytes("dir", [0xff])` is `dir` then 0xff. */
const bytes = (...parts: Array<string | number[]>) =>
  Buffer.concat(parts.map((p) => (typeof p === "string" ? Buffer.from(p) : Buffer.from(p))));
const hexNames = (dir: string) =>
  readdirSync(dir, { encoding: "buffer" })
    .map((b) => b.toString("hex"))
    .sort();

describe("names that are not valid UTF-8", () => {
  it("are backed up, restored and proven like any other: rsync -aHAXS --checksum finds nothing, and the rollback may say 'as it was'", async () => {
    const { dir, app, manifest, store } = await appUpdate(
      { "conf/app.conf": "v=1\n" },
      (_app, dir) => `steps:
  - id: edit
    run: [sh, ${dir}/update.sh]
  - id: health
    run: ["false"]
`,
    );
    const at = (rel: Buffer) => Buffer.concat([Buffer.from(`${app}/`), rel]);
    // A file, a directory with a file and a link in it, and a link whose target is raw bytes.
    writeFileSync(at(bytes("conf/", [0xff, 0xfe], ".conf")), "kept\n");
    mkdirSync(at(bytes("dir", [0xff])));
    writeFileSync(at(bytes("dir", [0xff], "/inner")), "inner\n");
    symlinkSync(
      bytes("../conf/", [0xff, 0xfe], ".conf"),
      at(bytes("dir", [0xff], "/link", [0xe9])),
    );
    writeFileSync(at(bytes("noted", [0xfe])), "before\n");
    // Large enough to be stored as an object of its own (read after the walk, by its path).
    writeFileSync(at(bytes("big", [0xfe])), randomBytes(3 << 20));
    // Extended attributes too (getfattr and setfattr are given such names through xargs -0).
    await execa("sh", ["-c", `setfattr -n user.note -v before "$(printf 'noted\\376')"`], {
      cwd: app,
    });
    writeFileSync(
      join(dir, "update.sh"),
      `set -e
cd '${app}'
echo v=2 > conf/app.conf
rm -f "$(printf 'conf/\\377\\376.conf')"
rm -rf "$(printf 'dir\\377')"
printf after > "$(printf 'noted\\376')"
setfattr -n user.note -v after "$(printf 'noted\\376')"
printf new > "$(printf '\\375\\374y')"
head -c 100 /dev/zero >> "$(printf 'big\\376')"
`,
    );
    const plan = await rollpoint(["--store", store, "plan", manifest]);
    expect(plan.exitCode, plan.stdout + plan.stderr).toBe(0);
    expect(plan.stdout).not.toContain("not valid UTF-8");
    // The oracle is someone else's tool: a pristine copy, compared by rsync afterwards.
    const pristine = join(dir, "pristine");
    await execa("cp", ["-a", app, pristine]);
    const namesBefore = hexNames(app);

    const run = await rollpoint(["--store", store, "--json", "run", manifest]);
    expect(run.exitCode, run.stderr).toBe(1);
    const report = JSON.parse(run.stdout);
    expect(report.outcome).toBe("rolledBack");
    expect(hexNames(app)).toEqual(namesBefore);
    expect(await rsyncDifferences(pristine, app)).toBe("");
    const files = report.rollback.operations.find(
      (o: { backupType: string }) => o.backupType === "file",
    );
    expect(files.unproven).toBeUndefined();
    const text = await rollpoint(["--store", store, "show", report.runId]);
    expect(text.stdout).toContain("as it was before the update");

    // Shown escaped, in text and in JSON.
    const list = await rollpoint(["--store", store, "--json", "backups", "list"]);
    const backupId = JSON.parse(list.stdout).backups[0].backupId;
    const shown = await rollpoint(["--store", store, "backups", "show", backupId]);
    expect(shown.stdout).toContain("conf/\\xff\\xfe.conf");
    expect(shown.stdout).toContain("dir\\xff/link\\xe9 -> ../conf/\\xff\\xfe.conf");
    const json = await rollpoint(["--store", store, "--json", "backups", "show", backupId]);
    const paths = JSON.parse(json.stdout).entries.map((e: { path: string }) => e.path);
    expect(paths).toContain("dir\\xff/inner");
  });
});
