import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { rollpoint } from "../helpers/cli.js";
import { killHard, startPausedAt } from "../helpers/paused.js";
import { appUpdate } from "../helpers/update.js";

function update() {
  return appUpdate(
    { "a.conf": "v1\n" },
    (app, dir) => `steps:
  - id: edit
    shell: echo v2 > ${app}/a.conf
  - id: send-mail
    shell: echo sent >> ${dir}/outbox
    irreversible: true
  - id: health
    run: ["false"]
`,
  );
}

describe("irreversible: true, the point of no return", () => {
  it("a failure after it: exit 2, failedForward naming it, nothing rolled back, the point kept; plan says so", async () => {
    const u = await update();
    const plan = await rollpoint(["--store", u.store, "plan", u.manifest]);
    expect(plan.stdout).toContain("send-mail [shell] sh -e: echo sent");
    expect(plan.stdout).toContain("irreversible: the point of no return");
    expect(plan.stdout).toContain(
      "health: past the point of no return (send-mail): not rolled back, the run ends failedForward (exit 2)",
    );
    expect(plan.stdout).toContain("edit: rollback from r1");

    const run = await rollpoint(["--store", u.store, "--json", "run", u.manifest]);
    expect(run.exitCode).toBe(2);
    const report = JSON.parse(run.stdout);
    expect(report.outcome).toBe("failedForward");
    expect(report.pointId).toMatch(/^p-/);
    expect(readFileSync(join(u.app, "a.conf"), "utf8")).toBe("v2\n");
    const text = await rollpoint(["--store", u.store, "show", report.runId]);
    expect(text.stdout).toContain("FAILED FORWARD");
    const points = await rollpoint(["--store", u.store, "--json", "backups", "list"]);
    expect(JSON.parse(points.stdout).backups).toHaveLength(1);
    // A person who decides to go back anyway: rollback restores the point.
    const back = await rollpoint(["--store", u.store, "rollback", report.runId]);
    expect(back.exitCode, back.stderr).toBe(0);
    expect(readFileSync(join(u.app, "a.conf"), "utf8")).toBe("v1\n");
  });

  it("a runner killed past it: recover does not roll back either, and closes the run failedForward", async () => {
    const u = await update();
    await killHard(
      await startPausedAt("state:step.health", ["--store", u.store, "run", u.manifest]),
    );
    const recovered = await rollpoint(["--store", u.store, "--json", "recover"]);
    expect(recovered.exitCode).toBe(2);
    expect(JSON.parse(recovered.stdout).recovered[0].outcome).toBe("failedForward");
    expect(readFileSync(join(u.app, "a.conf"), "utf8")).toBe("v2\n");
  });
});
