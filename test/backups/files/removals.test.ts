import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { execa } from "execa";
import { describe, expect, it } from "vitest";
import { GlobalRollback } from "../../../src/index.js";
import { makeTree, rsyncDifferences, tempDir } from "../../helpers/tree.js";

describe("what an update added", () => {
  it("goes, top-most paths only: a new tree as one removal, each new file in an old directory as one, a file turned directory rewritten", async () => {
    const dir = await tempDir();
    const app = join(dir, "app");
    const spec: Record<string, string> = { "keep/a.txt": "a\n", "was-file": "file\n" };
    for (let i = 0; i < 300; i++) spec[`cache/d${i % 10}/old${i}`] = `old ${i}\n`;
    makeTree(app, spec);
    const pristine = join(dir, "pristine");
    await execa("cp", ["-a", app, pristine]);
    const rollback = new GlobalRollback({ backupDir: join(dir, "store") });
    const backup = await rollback.backupFile(app, "before", "app");

    // A new tree (one removal, whatever it holds), 2,000 new files in existing directories (each
    // a top-most removal of its own), and a file replaced by a directory with children.
    for (let i = 0; i < 50; i++) makeTree(join(app, "node_modules", `m${i}`), { "index.js": "x" });
    for (let i = 0; i < 2000; i++) writeFileSync(join(app, "cache", `d${i % 10}`, `new${i}`), "n");
    rmSync(join(app, "was-file"));
    mkdirSync(join(app, "was-file", "sub"), { recursive: true });
    writeFileSync(join(app, "was-file", "sub", "x"), "x");

    const result = await rollback.restoreBackupDetailed(backup.backupId);
    expect(result.outcome).toBe("restored");
    expect(result.changes).toEqual({ removed: 1 + 2000 + 1, written: 1, metadata: 11 });
    expect(await rsyncDifferences(pristine, app)).toBe("");
    await rollback.close();
  });

  it("the backed-up directory replaced by a file: one removal, the whole tree written back", async () => {
    const dir = await tempDir();
    const app = join(dir, "app");
    makeTree(app, { "a/b.txt": "b\n", "c.txt": "c\n" });
    const pristine = join(dir, "pristine");
    await execa("cp", ["-a", app, pristine]);
    const rollback = new GlobalRollback({ backupDir: join(dir, "store") });
    const backup = await rollback.backupFile(app, "before", "app");
    rmSync(app, { recursive: true });
    writeFileSync(app, "not a directory\n");

    const result = await rollback.restoreBackupDetailed(backup.backupId);
    expect(result.outcome).toBe("restored");
    expect(result.changes).toEqual({ removed: 1, written: 4, metadata: 0 });
    expect(await rsyncDifferences(pristine, app)).toBe("");
    await rollback.close();
  });
});
