import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { rollpoint } from "../helpers/cli.js";
import { startHolder } from "../helpers/lock.js";
import { makeTree, tempDir } from "../helpers/tree.js";

describe("one writer per store", () => {
  it("a second writer exits 5 naming the holder; a killed holder frees the store", async () => {
    const dir = await tempDir();
    const store = join(dir, "store");
    makeTree(join(dir, "app"), { "a.txt": "a" });
    const holder = await startHolder(store);

    const second = await rollpoint([
      "--store",
      store,
      "backups",
      "create",
      join(dir, "app"),
      "--module",
      "app",
    ]);
    expect(second.exitCode).toBe(5);
    expect(second.stderr).toContain(`locked by pid ${holder.pid}`);
    expect(second.stderr).toContain("hold-lock fixture");
    expect(second.stderr).not.toMatch(/\n\s+at /);

    // Reading needs no lock.
    expect((await rollpoint(["--store", store, "backups", "list"])).exitCode).toBe(0);

    holder.child.kill("SIGKILL");
    await holder.exited;
    const third = await rollpoint([
      "--store",
      store,
      "backups",
      "create",
      join(dir, "app"),
      "--module",
      "app",
    ]);
    expect(third.exitCode).toBe(0);
    const log = readFileSync(join(store, "operations.log"), "utf8");
    expect(log).toContain(`holder pid ${holder.pid} died`);
    expect(existsSync(join(store, "lock.json"))).toBe(false);
  });

  it("a holder that finishes releases the lock", async () => {
    const dir = await tempDir();
    const store = join(dir, "store");
    const holder = await startHolder(store);
    holder.child.stdin.end();
    expect(await holder.exited).toBe(0);
    const next = await rollpoint(["--store", store, "backups", "prune"]);
    expect(next.exitCode).toBe(0);
    expect(readFileSync(join(store, "operations.log"), "utf8")).not.toContain("died");
  });
});
