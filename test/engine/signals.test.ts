import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { rollpoint } from "../helpers/cli.js";
import { runParkedAt } from "../helpers/paused.js";
import { treeState } from "../helpers/tree.js";
import { appUpdate } from "../helpers/update.js";

describe("a signal before the run's machine exists", () => {
  it("SIGTERM while the lock is being taken: the update never starts (exit 4, not started)", async () => {
    const { app, dir, manifest, store } = await appUpdate(
      { "a.conf": "a=1\n" },
      (app) => `steps:\n  - { id: edit, shell: "echo a=2 > ${app}/a.conf" }\n`,
    );
    const before = treeState(app);
    // Parked inside the lock's acquisition: the signal waits in the kernel until the pause ends,
    // and is handled while the lock file is written, before any machine exists.
    const run = await runParkedAt("lock", { store, manifest, dir });
    run.child.kill("SIGTERM");
    const { code, out } = await run.release();
    expect(code, out).toBe(4);
    expect(out).toContain("SIGTERM received");
    expect(out).toContain("not started: nothing was changed");
    expect(out).not.toContain("a rollback is under way");
    expect(treeState(app)).toEqual(before);
    expect(existsSync(join(store, "lock.json"))).toBe(false);
    const history = await rollpoint(["--store", store, "--json", "history"]);
    expect(JSON.parse(history.stdout).runs[0]).toMatchObject({
      state: "notStarted",
      finished: true,
    });
  });
});

describe("a signal while the rollback point is being taken", () => {
  // More than three walk windows (4,096 paths each): the signal, handled while the first window
  // is settled, must stop the walk at the next one, not after the last file of the tree.
  const files = Object.fromEntries(
    Array.from({ length: 15_000 }, (_, i) => [`d${i % 40}/f${i}.txt`, `file ${i}\n`]),
  );

  it("SIGTERM in the middle of the walk: the point is abandoned, nothing kept, the update never starts (exit 4)", async () => {
    const { app, dir, manifest, store } = await appUpdate(
      files,
      (app) => `steps:\n  - { id: edit, shell: "echo changed > ${app}/d0/f0.txt" }\n`,
    );
    const before = treeState(app);
    const run = await runParkedAt("backup:object", { store, manifest, dir });
    run.child.kill("SIGTERM");
    const { code, out } = await run.release();
    expect(code, out).toBe(4);
    expect(out).toContain("SIGTERM: stopping the update and rolling back");
    expect(out).toContain(`interrupted (SIGTERM received) while reading ${app}`);
    expect(out).toContain("not started: nothing was changed");
    expect(treeState(app)).toEqual(before);
    // Had the walk run on to the end, the point would exist and the run would end rolledBack.
    const history = JSON.parse((await rollpoint(["--store", store, "--json", "history"])).stdout);
    expect(history.runs[0]).toMatchObject({ state: "notStarted", finished: true });
    const backups = JSON.parse(
      (await rollpoint(["--store", store, "--json", "backups", "list"])).stdout,
    );
    expect(backups.backups ?? backups).toEqual([]);
    expect(readdirSync(join(store, "objects", "packs"))).toEqual([]);
  });

  it("the run's timeout passing in the middle of the walk: the same, naming the timeout", async () => {
    const { app, dir, manifest, store } = await appUpdate(
      files,
      (app) => `timeout: 4s\nsteps:\n  - { id: edit, shell: "echo changed > ${app}/d0/f0.txt" }\n`,
    );
    const run = await runParkedAt("backup:object", { store, manifest, dir });
    await new Promise((resolve) => setTimeout(resolve, 4_500));
    const { code, out } = await run.release();
    expect(code, out).toBe(4);
    expect(out).toContain("interrupted (the run's timeout (4s) passed) while reading");
    expect(out).toContain("not started: nothing was changed");
    expect(readFileSync(join(app, "d0", "f0.txt"), "utf8")).toBe("file 0\n");
  });
});
