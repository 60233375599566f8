import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { rollpoint } from "../helpers/cli.js";
import { appUpdate } from "../helpers/update.js";

describe("keepFailedState: true", () => {
  it("keeps the failed state as a rollback point of its own before rolling back; it can be restored to look at it", async () => {
    const { app, manifest, store } = await appUpdate(
      { "app.conf": "v1\n" },
      (app) => `keepFailedState: true
steps:
  - id: install
    shell: echo v2-broken > ${app}/app.conf
  - id: health
    run: ["false"]
`,
    );
    const plan = await rollpoint(["--store", store, "graph", manifest]);
    expect(plan.stdout).toContain("rollingBack_settle --> rollingBack_evidence");
    const run = await rollpoint(["--store", store, "--json", "run", manifest]);
    expect(run.exitCode).toBe(1);
    const report = JSON.parse(run.stdout);
    expect(report.outcome).toBe("rolledBack");
    expect(report.evidencePointId).toMatch(/^p-/);
    expect(report.evidencePointId).not.toBe(report.pointId);
    expect(readFileSync(join(app, "app.conf"), "utf8")).toBe("v1\n");
    // The evidence is a rollback point like any other: restored, it shows what the failure left.
    const restore = await rollpoint([
      "--store",
      store,
      "backups",
      "restore",
      report.evidencePointId,
    ]);
    expect(restore.exitCode, restore.stdout + restore.stderr).toBe(0);
    expect(readFileSync(join(app, "app.conf"), "utf8")).toBe("v2-broken\n");
  });
});
