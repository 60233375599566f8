import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { rollpoint } from "../helpers/cli.js";
import { killHard, startPausedAt } from "../helpers/paused.js";
import { makeTree, tempDir } from "../helpers/tree.js";

async function host() {
  const dir = await tempDir();
  const app = join(dir, "app");
  makeTree(app, { "a.conf": "a\n" });
  const store = join(dir, "store");
  const manifest = (name: string, fail: boolean) => {
    const file = join(dir, `${name}.yaml`);
    writeFileSync(
      file,
      `apiVersion: rollpoint/v1\nname: ${name}\nrollbackPoint: { files: [${app}] }\nsteps:\n  - { id: s, run: ["${fail ? "false" : "true"}"] }\n`,
    );
    return file;
  };
  return { dir, store, manifest };
}

describe("rollpoint status", () => {
  it("names an unfinished run (exit 5) and a dead holder; after recover, each module's last outcome (exit 0)", async () => {
    const h = await host();
    expect((await rollpoint(["--store", h.store, "run", h.manifest("web", false)])).exitCode).toBe(
      0,
    );
    expect((await rollpoint(["--store", h.store, "run", h.manifest("db", true)])).exitCode).toBe(1);
    await killHard(
      await startPausedAt("transition#3", ["--store", h.store, "run", h.manifest("web", false)]),
    );

    const broken = await rollpoint(["--store", h.store, "status"]);
    expect(broken.exitCode).toBe(5);
    expect(broken.stdout).toMatch(
      /UNFINISHED r-\S+ \(web\), last in step\.s: run `rollpoint recover`/,
    );
    expect(broken.stdout).toMatch(
      /lock: free; pid \d+ on \S+ \(rollpoint run, run r-\S+, since \S+\) died holding it/,
    );

    expect((await rollpoint(["--store", h.store, "recover"])).exitCode).toBe(0);
    const fine = await rollpoint(["--store", h.store, "--json", "status"]);
    expect(fine.exitCode).toBe(0);
    const report = JSON.parse(fine.stdout);
    expect(report.lock.state).toBe("free");
    expect(report.unfinished).toEqual([]);
    expect(
      report.modules.map((m: { module: string; outcome: string }) => [m.module, m.outcome]),
    ).toEqual([
      ["db", "rolledBack"],
      ["web", "rolledBack"],
    ]);
  });

  it("shows who holds the lock while a run is under way; never creates a store", async () => {
    const h = await host();
    const paused = await startPausedAt("transition#3", [
      "--store",
      h.store,
      "run",
      h.manifest("web", false),
    ]);
    const held = await rollpoint(["--store", h.store, "status"]);
    expect(held.stdout).toMatch(
      new RegExp(`lock: held by pid ${paused.child.pid} on \\S+ \\(rollpoint run, run r-`),
    );
    await killHard(paused);
    const missing = await rollpoint(["--store", join(h.dir, "nope"), "status"]);
    expect(missing.exitCode).toBe(3);
    expect(missing.stderr).toContain("no rollpoint store at");
  });
});
