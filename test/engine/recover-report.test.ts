import { existsSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { rollpoint } from "../helpers/cli.js";
import { runKilledWhen } from "../helpers/paused.js";
import { treeState } from "../helpers/tree.js";
import { appUpdate } from "../helpers/update.js";

describe("what recover reports", () => {
  it("like run's rollback: the steps as the dead runner left them, every member restored and proven; show says the same", async () => {
    const { app, dir, manifest, store } = await appUpdate(
      { "a.conf": "a=1\n" },
      (app, dir) => `steps:
  - { id: edit, shell: "echo a=2 > ${app}/a.conf" }
  - { id: slow, shell: "touch ${dir}/slow; sleep 120" }
  - { id: never, run: ["true"] }
`,
    );
    const before = treeState(app);
    await runKilledWhen(["--store", store, "run", manifest], "the slow step", () =>
      existsSync(join(dir, "slow")),
    );

    const recovered = await rollpoint(["--store", store, "recover"]);
    expect(recovered.exitCode, recovered.stderr).toBe(0);
    const out = recovered.stdout;
    expect(out).toMatch(/^r-\S+ \(app\), interrupted in step\.slow: rolledBack$/m);
    expect(out).toMatch(/^killed \d+ leftover process\(es\) of its steps first$/m);
    expect(out).toContain("  ✓ edit succeeded");
    expect(out).toContain("  ✗ slow failed: the runner died while this step ran");
    expect(out).toContain("  · never pending");
    expect(out).toMatch(
      /restored:\n {2}✓ f-\S+ .*app: restored \(1 written, 0 removed, 0 metadata\)/,
    );
    expect(out.trim().split("\n").at(-1)).toBe(
      "rolled back: everything in the rollback point is as it was before the update: 1 protected path",
    );
    // Progress as it goes, as for run: a slow recover does not look hung.
    expect(recovered.stderr + out).toContain("rollingBack.restore.file-1");
    expect(treeState(app)).toEqual(before);

    const runId = /^(r-\S+) \(app\), interrupted/m.exec(out)![1]!;
    const show = await rollpoint(["--store", store, "show", runId]);
    expect(show.stdout).toContain("  ✓ edit succeeded");
    expect(show.stdout).toContain("  ✗ slow failed: the runner died while this step ran");
    const json = await rollpoint(["--store", store, "--json", "show", runId]);
    const steps = JSON.parse(json.stdout).result.steps;
    expect(steps[1]).toMatchObject({ id: "slow", status: "failed", code: "INTERRUPTED" });
  });
});
