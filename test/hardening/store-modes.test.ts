import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import Database from "better-sqlite3";
import { describe, expect, it } from "vitest";
import { makeTree, tempDir } from "../helpers/tree.js";

const LIBRARY = fileURLToPath(new URL("../../dist/index.js", import.meta.url));

describe("the store's files are private whatever the umask", () => {
  it("under umask 000: catalog, lock, packs, whole objects (a SQLite copy, a large file) and logs are 0600, directories 0700", async () => {
    const dir = await tempDir();
    const store = join(dir, "store");
    makeTree(join(dir, "app"), { "a.conf": "a\n", "big.bin": "x".repeat(2 * 2 ** 20) });
    const db = new Database(join(dir, "app.db"));
    db.exec("CREATE TABLE t (x); INSERT INTO t VALUES (1)");
    db.close();
    // The library as a module would use it, in a process whose umask lets everyone read.
    const script = `
      const { GlobalRollback } = await import(${JSON.stringify(LIBRARY)});
      const rollback = new GlobalRollback({ backupDir: ${JSON.stringify(store)} });
      await rollback.backupFile(${JSON.stringify(join(dir, "app"))}, "files", "app");
      await rollback.backupDatabase({ type: "sqlite", database: ${JSON.stringify(join(dir, "app.db"))} }, "db", "app");
    `;
    execFileSync("sh", [
      "-c",
      'umask 000; exec "$0" --input-type=module -e "$1"',
      process.execPath,
      script,
    ]);
    const open = execFileSync("find", [store, "-perm", "/077", "-printf", "%m %p\\n"], {
      encoding: "utf8",
    });
    expect(open).toBe("");
    // And there is something to check: the catalog, a pack and two whole objects at least.
    const files = execFileSync("find", [store, "-type", "f"], { encoding: "utf8" });
    expect(files).toContain("catalog.db");
    expect(files).toMatch(/packs\/p-/);
    expect(
      files.split("\n").filter((f) => /objects\/[0-9a-f]{2}\//.test(f)).length,
    ).toBeGreaterThanOrEqual(2);
  });
});
