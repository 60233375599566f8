import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { rollpoint } from "../helpers/cli.js";
import { tempDir } from "../helpers/tree.js";

describe("under --json, a failing command still prints one JSON document", () => {
  it("an invalid manifest to run: exit 3, the error with each diagnostic, and nothing else on stdout", async () => {
    const dir = await tempDir();
    const manifest = join(dir, "m.yaml");
    writeFileSync(manifest, "apiVersion: rollpoint/v1\nname: t\nsteps:\n  - id: a\n    run: []\n");
    const result = await rollpoint(["--store", join(dir, "store"), "--json", "run", manifest]);
    expect(result.exitCode).toBe(3);
    const doc = JSON.parse(result.stdout);
    expect(doc.exitCode).toBe(3);
    expect(doc.error.code).toBe("INVALID_ARGUMENT");
    expect(doc.error.diagnostics).toEqual([
      expect.objectContaining({
        file: manifest,
        line: 5,
        path: "steps[0].run",
        message: "must be a non-empty array of strings, found []",
      }),
    ]);
  });

  it("a usage error, a missing backup and a malformed id give the same shape", async () => {
    const dir = await tempDir();
    const store = join(dir, "store");
    // The store must exist for a missing backup to be the error (reading never creates one).
    expect((await rollpoint(["--store", store, "backups", "prune"])).exitCode).toBe(0);
    for (const [args, exitCode, code] of [
      [["--json", "no-such-command"], 3, "INVALID_ARGUMENT"],
      [
        ["--store", store, "--json", "backups", "restore", "f-20260101T000000Z-0000000000000000"],
        3,
        "BACKUP_NOT_FOUND",
      ],
      [["--store", store, "--json", "backups", "show", "not-an-id"], 3, "INVALID_BACKUP_ID"],
    ] as const) {
      const result = await rollpoint([...args]);
      expect(result.exitCode, args.join(" ")).toBe(exitCode);
      expect(JSON.parse(result.stdout), args.join(" ")).toMatchObject({
        exitCode,
        error: { code },
      });
    }
  });
});

describe("a command that only reads never creates a store", () => {
  it("list, show, history and verify on a mistyped --store: exit 3, named, and nothing made", async () => {
    const dir = await tempDir();
    const typo = join(dir, "stroe");
    for (const args of [
      ["backups", "list"],
      ["backups", "verify"],
      ["history"],
      ["show", "r-20260101T000000Z-0000000000000000"],
    ]) {
      const result = await rollpoint(["--store", typo, ...args]);
      expect(result.exitCode, args.join(" ")).toBe(3);
      expect(result.stderr).toContain(`no rollpoint store at ${typo}`);
      expect(existsSync(typo)).toBe(false);
    }
  });
});
