import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { rollpoint } from "../helpers/cli.js";
import { makeTree, tempDir } from "../helpers/tree.js";

async function runCheck(check: string) {
  const dir = await tempDir();
  makeTree(join(dir, "app"), { "a.conf": "a\n" });
  const manifest = join(dir, "m.yaml");
  writeFileSync(
    manifest,
    `apiVersion: rollpoint/v1\nname: app\nrollbackPoint: { files: [${join(dir, "app")}] }\nsteps:\n  - id: probe\n    check: ${check.replaceAll("DIR", dir)}\n`,
  );
  const result = await rollpoint(["--store", join(dir, "store"), "--json", "run", manifest]);
  return { dir, result, report: JSON.parse(result.stdout) };
}

describe("checks", () => {
  it("a probe slower than the interval runs to its end and passes (it is not killed after the interval)", async () => {
    const { result } = await runCheck(
      `{ command: [sh, -c, "sleep 1.5; echo probed >> DIR/probes"], interval: 500ms, within: 20s }`,
    );
    expect(result.exitCode, result.stdout).toBe(0);
  });

  it("once: a single probe, no retries; the failure reported is the probe's own answer", async () => {
    const { result, report, dir } = await runCheck(
      `{ command: [sh, -c, "echo x >> DIR/probes; exit 3"], once: true, within: 30s, interval: 100ms }`,
    );
    expect(result.exitCode).toBe(1);
    expect(readFileSync(join(dir, "probes"), "utf8")).toBe("x\n");
    expect(report.steps[0].error).toBe(
      `check failed (once, no retries): sh -c echo x >> ${dir}/probes; exit 3 exited with 3`,
    );
    expect(report.steps[0].code).toBe("CHECK");
  });

  it("probeTimeout bounds one probe: a hung probe is reported as such, and plan shows the bound", async () => {
    const { result, report, dir } = await runCheck(
      `{ command: [sleep, "30"], once: true, probeTimeout: 1s }`,
    );
    expect(result.exitCode).toBe(1);
    expect(report.steps[0].error).toBe(
      "check failed (once, no retries): sleep 30 did not finish within the probe's 1000 ms (probeTimeout)",
    );
    const plan = await rollpoint(["--store", join(dir, "store"), "plan", join(dir, "m.yaml")]);
    expect(plan.stdout).toContain("check sleep 30, once (each probe up to 1s)");
  });

  it("holdFor: a check that passes, then fails inside its settle window, fails the step and says when", async () => {
    // The probe passes twice, then fails: counted, not timed, so the order cannot flip.
    const { result, report } = await runCheck(
      `{ command: [sh, -c, "n=$(cat DIR/n 2>/dev/null || echo 0); n=$((n+1)); echo $n > DIR/n; [ $n -lt 3 ]"], interval: 100ms, holdFor: 1h }`,
    );
    expect(result.exitCode).toBe(1);
    expect(report.steps[0].error).toMatch(
      /^check passed, then failed \d+\.\ds into its 1h settle window: sh -c .* exited with 1$/,
    );
  });

  it("holdFor: a check that keeps passing through the window passes", async () => {
    const { result } = await runCheck(`{ command: ["true"], interval: 100ms, holdFor: 300ms }`);
    expect(result.exitCode, result.stdout).toBe(0);
  });
});
