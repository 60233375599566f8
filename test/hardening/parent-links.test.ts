import { mkdirSync, readFileSync, renameSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { describe, expect, it } from "vitest";
import { createBackup, rollpoint } from "../helpers/cli.js";
import { makeTree, tempDir, treeState } from "../helpers/tree.js";

/**
 * The attack: after a backup, a parent of the protected path is replaced by a symlink to a
 * victim directory. A restore running as root must not write, create or delete anything there.
 */
async function swapParentForLink(protectedRel: string, setup: (app: string) => void) {
  const dir = await tempDir();
  const store = join(dir, "store");
  const app = join(dir, "srv/app");
  const victim = join(dir, "victim");
  makeTree(victim, { "keep.txt": "victim's own\n", "a.conf": "victim's a.conf\n" });
  setup(app);
  const id = await createBackup(store, join(app, protectedRel));
  // The swap: etc/ moves away and a link to the victim takes its place.
  renameSync(join(app, "etc"), join(dir, "etc.moved"));
  symlinkSync(victim, join(app, "etc"));
  const victimBefore = treeState(victim);
  const restored = await rollpoint(["--store", store, "backups", "restore", id]);
  return { restored, victim, victimBefore, app, dir };
}

describe("a restore never writes through a parent that became a symlink", () => {
  it("a protected file: exit 2 naming the link, the victim directory unchanged", async () => {
    const r = await swapParentForLink("etc/a.conf", (app) =>
      makeTree(app, { "etc/a.conf": "ours\n" }),
    );
    expect(r.restored.exitCode).toBe(2);
    expect(r.restored.stderr + r.restored.stdout).toContain(
      `the parent of ${join(r.app, "etc/a.conf")} now resolves to ${r.victim}`,
    );
    expect(treeState(r.victim)).toEqual(r.victimBefore);
  });

  it("a protected directory: not recreated inside the link's target", async () => {
    const r = await swapParentForLink("etc/conf.d", (app) =>
      makeTree(app, { "etc/conf.d/x.conf": "x\n" }),
    );
    expect(r.restored.exitCode).toBe(2);
    expect(treeState(r.victim)).toEqual(r.victimBefore);
  });

  it("a path recorded absent: the victim's file of that name is not deleted", async () => {
    const r = await swapParentForLink("etc/a.conf", (app) =>
      mkdirSync(join(app, "etc"), { recursive: true }),
    );
    expect(r.restored.exitCode).toBe(2);
    expect(treeState(r.victim)).toEqual(r.victimBefore);
  });

  it("a SQLite database: not written through a linked parent", async () => {
    const dir = await tempDir();
    const store = join(dir, "store");
    const victim = join(dir, "victim");
    makeTree(victim, { "keep.txt": "victim\n" });
    mkdirSync(join(dir, "var/db"), { recursive: true });
    const db = new Database(join(dir, "var/db/app.db"));
    db.exec("CREATE TABLE t (x); INSERT INTO t VALUES (1)");
    db.close();
    const manifest = join(dir, "m.yaml");
    writeFileSync(
      manifest,
      `apiVersion: rollpoint/v1
name: app
rollbackPoint:
  databases: [{ name: db, type: sqlite, database: ${join(dir, "var/db/app.db")} }]
steps:
  - id: swap
    shell: mv ${join(dir, "var/db")} ${join(dir, "db.moved")} && ln -s ${victim} ${join(dir, "var/db")}
  - id: fail
    run: ["false"]
`,
    );
    const before = treeState(victim);
    const run = await rollpoint(["--store", store, "run", manifest]);
    expect(run.exitCode).toBe(2);
    expect(run.stdout).toContain(`now resolves to ${victim}`);
    expect(treeState(victim)).toEqual(before);
  });

  it("a legitimate link among the parents at backup time (like /lib -> usr/lib) still restores", async () => {
    const dir = await tempDir();
    const store = join(dir, "store");
    makeTree(join(dir, "usr/lib/app"), { "unit.conf": "v1\n" });
    symlinkSync("usr/lib", join(dir, "lib"));
    const path = join(dir, "lib/app/unit.conf");
    const id = await createBackup(store, path);
    writeFileSync(path, "v2\n");
    const restored = await rollpoint(["--store", store, "backups", "restore", id]);
    expect(restored.exitCode, restored.stderr).toBe(0);
    expect(readFileSync(join(dir, "usr/lib/app/unit.conf"), "utf8")).toBe("v1\n");
  });
});
