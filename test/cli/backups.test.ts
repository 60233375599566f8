import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { execa } from "execa";
import { describe, expect, it } from "vitest";
import { rollpoint } from "../helpers/cli.js";
import { makeTree, tempDir } from "../helpers/tree.js";

const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as {
  version: string;
};

describe("rollpoint backups", () => {
  it("creates, lists, shows and restores through the CLI, text and JSON", async () => {
    const dir = await tempDir();
    const store = join(dir, "store");
    makeTree(dir, { "app/conf": "a=1\n", "app/link": { symlink: "conf" } });

    const created = await rollpoint([
      "--store",
      store,
      "--json",
      "backups",
      "create",
      join(dir, "app"),
      "--module",
      "app",
      "--description",
      "pre",
    ]);
    expect(created.exitCode).toBe(0);
    const { backup } = JSON.parse(created.stdout) as {
      backup: { backupId: string; moduleName: string };
    };
    expect(backup.moduleName).toBe("app");

    const list = await rollpoint([
      "--store",
      store,
      "backups",
      "list",
      "--json",
      "--module",
      "app",
    ]);
    expect(JSON.parse(list.stdout).backups.map((b: { backupId: string }) => b.backupId)).toEqual([
      backup.backupId,
    ]);
    expect(
      (await rollpoint(["--store", store, "backups", "list", "--module", "nope"])).stdout,
    ).toBe("no backups");

    const show = await rollpoint(["--store", store, "--json", "backups", "show", backup.backupId]);
    const shown = JSON.parse(show.stdout) as {
      entries: Array<{ path: string; kind: string; target?: string }>;
    };
    expect(shown.entries.map((e) => [e.path, e.kind])).toEqual([
      ["", "dir"],
      ["conf", "file"],
      ["link", "symlink"],
    ]);
    expect(shown.entries[2]!.target).toBe("conf");
    const showText = await rollpoint(["--store", store, "backups", "show", backup.backupId]);
    expect(showText.stdout).toMatch(/symlink 0777 \d+:\d+ +\d+ \S+ link -> conf/);

    writeFileSync(join(dir, "app/conf"), "a=2\n");
    const restored = await rollpoint(["--store", store, "backups", "restore", backup.backupId]);
    expect(restored.exitCode).toBe(0);
    expect(restored.stdout).toContain(
      `✓ ${backup.backupId} ${join(dir, "app")}: restored (1 written`,
    );
    expect(readFileSync(join(dir, "app/conf"), "utf8")).toBe("a=1\n");
  });

  it("answers bad usage with exit 3 and a one-line message, never a stack trace", async () => {
    const dir = await tempDir();
    const store = join(dir, "store");
    // A store that exists (prune makes it), so that each case meets its own check.
    expect((await rollpoint(["--store", store, "backups", "prune"])).exitCode).toBe(0);
    const cases: Array<[string[], RegExp]> = [
      [["backups", "restore", "../../etc/passwd"], /invalid backup id "..\/..\/etc\/passwd"/],
      [
        ["backups", "show", "f-20260101T120000Z-0123456789abcdef"],
        /no backup f-20260101T120000Z-0123456789abcdef in store/,
      ],
      [["backups", "prune", "--max-age", "forever"], /--max-age must be a duration like 30d/],
      [
        ["backups", "list", "--type", "tape"],
        /--type must be container, file, package, database or service, got "tape"/,
      ],
      [["backups", "frobnicate"], /unknown command 'frobnicate'/],
      [["--bogus"], /unknown option '--bogus'/],
    ];
    for (const [args, message] of cases) {
      const result = await rollpoint(["--store", store, ...args]);
      expect(result.exitCode, args.join(" ")).toBe(3);
      expect(result.stderr).toMatch(message);
      expect(result.stderr).not.toMatch(/\n\s+at /);
    }
  });

  it("prints its version and help", async () => {
    const version = await rollpoint(["--version"]);
    expect(version).toMatchObject({ exitCode: 0, stdout: pkg.version });
    const help = await rollpoint(["backups", "--help"]);
    expect(help.exitCode).toBe(0);
    expect(help.stdout).toContain("verify [backup-id]");
  });

  it("is importable as the package `rollpoint`", async () => {
    const dir = await tempDir();
    makeTree(dir, { "f.txt": "x" });
    const script = `
      import { GlobalRollback, GlobalRollbackError, backupFileSimple, restoreBackupSimple, createGlobalRollback } from "rollpoint";
      const id = await backupFileSimple(${JSON.stringify(join(dir, "f.txt"))}, "pre", "m", ${JSON.stringify(join(dir, "store"))});
      const ok = await restoreBackupSimple(id, ${JSON.stringify(join(dir, "store"))});
      console.log(JSON.stringify({ id, ok, cls: typeof GlobalRollback, err: new GlobalRollbackError("INVALID_ARGUMENT", "x").code, make: typeof createGlobalRollback }));
    `;
    const result = await execa(process.execPath, ["--input-type=module", "-e", script], {
      cwd: new URL("../..", import.meta.url),
    });
    expect(JSON.parse(result.stdout)).toMatchObject({
      ok: true,
      cls: "function",
      err: "INVALID_ARGUMENT",
      make: "function",
    });
  });
});
