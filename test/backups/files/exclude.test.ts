import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { rollpoint } from "../../helpers/cli.js";
import { makeTree, tempDir } from "../../helpers/tree.js";

describe("excludes follow .gitignore's rules", () => {
  it("negation, trailing slash (directories only), anchoring, any depth; options before the path", async () => {
    const dir = await tempDir();
    const app = join(dir, "app");
    makeTree(app, {
      "a.log": "x",
      "keep.log": "kept by !keep.log",
      "deep/b.log": "x",
      "deep/keep.log": "kept at any depth",
      "cache/blob": "x",
      "sub/cache/blob": "x",
      "sub/cache-file": "not a directory named cache",
      "files/cache": "a file named cache: cache/ matches directories only",
      "top.txt": "x",
      "sub/top.txt": "not at the root: /top.txt is anchored",
      "etc/app.conf": "kept",
    });
    const store = join(dir, "store");
    // --exclude before the path, several times: each one pattern, the path still the path.
    const created = await rollpoint([
      "--store",
      store,
      "--json",
      "backups",
      "create",
      "--exclude",
      "*.log",
      "--exclude",
      "!keep.log",
      "--exclude",
      "cache/",
      "--exclude",
      "/top.txt",
      app,
      "--module",
      "app",
    ]);
    expect(created.exitCode, created.stderr).toBe(0);
    const id = JSON.parse(created.stdout).backup.backupId as string;
    const shown = await rollpoint(["--store", store, "--json", "backups", "show", id]);
    const rels = (JSON.parse(shown.stdout).entries as Array<{ path: string; kind: string }>)
      .filter((e) => e.kind === "file")
      .map((e) => e.path)
      .sort();
    expect(rels).toEqual([
      "deep/keep.log",
      "etc/app.conf",
      "files/cache",
      "keep.log",
      "sub/cache-file",
      "sub/top.txt",
    ]);
    expect(readFileSync(join(app, "keep.log"), "utf8")).toBe("kept by !keep.log");
  });
});
