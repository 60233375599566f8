import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { rollpoint } from "../helpers/cli.js";
import { startPausedAt } from "../helpers/paused.js";
import { treeState } from "../helpers/tree.js";
import { appUpdate } from "../helpers/update.js";

describe("a signal before the run's machine exists", () => {
  it("SIGTERM while the lock is being taken: the update never starts (exit 4, not started)", async () => {
    const { app, dir, manifest, store } = await appUpdate(
      { "a.conf": "a=1\n" },
      (app) => `steps:\n  - { id: edit, shell: "echo a=2 > ${app}/a.conf" }\n`,
    );
    const before = treeState(app);
    const go = join(dir, "go");
    // Parked inside the lock's acquisition: the signal waits in the kernel until the pause ends,
    // and is handled while the lock file is written, before any machine exists.
    const run = await startPausedAt("lock", ["--store", store, "run", manifest], {
      ...process.env,
      ROLLPOINT_PAUSE_UNTIL: go,
    });
    run.child.kill("SIGTERM");
    writeFileSync(go, "");
    const code = await run.exited;
    const out = run.output();
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
