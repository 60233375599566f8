import { mkdirSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { describe, expect, it } from "vitest";
import { rollpoint } from "../helpers/cli.js";
import { tempDir } from "../helpers/tree.js";

describe("the catalog", () => {
  it("refuses a store written by a newer rollpoint instead of guessing at its format", async () => {
    const dir = await tempDir();
    const store = join(dir, "store");
    mkdirSync(store);
    const db = new Database(join(store, "catalog.db"));
    db.pragma("user_version = 99");
    db.close();
    const result = await rollpoint(["--store", store, "backups", "list"]);
    expect(result.exitCode).toBe(4);
    expect(result.stderr).toContain("schema version 99, newer than this rollpoint knows");
  });

  it("creates the store directory with mode 0700", async () => {
    const dir = await tempDir();
    const store = join(dir, "a/b/store");
    expect((await rollpoint(["--store", store, "backups", "prune"])).exitCode).toBe(0);
    const { statSync } = await import("node:fs");
    expect((statSync(store).mode & 0o777).toString(8)).toBe("700");
  });
});
