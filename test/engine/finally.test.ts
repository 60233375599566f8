import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { rollpoint } from "../helpers/cli.js";
import { appUpdate } from "../helpers/update.js";

function update(health: "true" | "false") {
  return appUpdate(
    { "site.conf": "v1\n" },
    (app, dir) => `steps:
  - id: edit
    shell: echo v2 > ${app}/site.conf
  - id: health
    run: ["${health}"]
finally:
  - id: reload
    when: [rolledBack, rollbackFailed]
    shell: echo "reload saw $(cat ${app}/site.conf)" >> ${dir}/events
  - id: notify
    shell: echo notified >> ${dir}/events; exit 7
  - id: on-commit
    when: [committed]
    shell: echo committed >> ${dir}/events
`,
    "proxy",
  );
}

describe("finally steps", () => {
  it("after a rollback: run after the files are restored (the reload sees v1), filtered by when; a failure never changes the outcome", async () => {
    const u = await update("false");
    const run = await rollpoint(["--store", u.store, "--json", "run", u.manifest]);
    expect(run.exitCode).toBe(1);
    const report = JSON.parse(run.stdout);
    expect(report.outcome).toBe("rolledBack");
    expect(readFileSync(join(u.dir, "events"), "utf8")).toBe("reload saw v1\nnotified\n");
    expect(report.finally.map((s: { id: string; status: string }) => [s.id, s.status])).toEqual([
      ["reload", "succeeded"],
      ["notify", "failed"],
    ]);
    expect(report.steps.map((s: { id: string }) => s.id)).toEqual(["edit", "health"]);
    // Why each failed, for scripts: a non-zero exit, typed.
    expect(report.steps[1]).toMatchObject({ status: "failed", code: "EXIT" });
    expect(report.finally[1]).toMatchObject({ error: "sh exited with 7", code: "EXIT" });
  });

  it("after a commit: only the steps whose when names committed (and those without when); plan lists them", async () => {
    const u = await update("true");
    const plan = await rollpoint(["--store", u.store, "plan", u.manifest]);
    expect(plan.stdout).toContain("reload [shell]");
    // A finally step without its own timeout gets one: a hang cannot hold the host.
    const json = JSON.parse(
      (await rollpoint(["--store", u.store, "--json", "plan", u.manifest])).stdout,
    );
    expect(json.plan.finally[0].timeout).toBe("5m");
    expect(plan.stdout).toContain("when rolledBack or rollbackFailed");
    const run = await rollpoint(["--store", u.store, "run", u.manifest]);
    expect(run.exitCode).toBe(0);
    expect(run.stdout).toContain("✗ notify failed");
    expect(readFileSync(join(u.dir, "events"), "utf8")).toBe("notified\ncommitted\n");
  });

  it("validate: when outside finally, an id used twice, irreversible in finally", async () => {
    const u = await update("true");
    writeFileSync(
      u.manifest,
      `apiVersion: rollpoint/v1
name: x
steps:
  - { id: a, run: ["true"], when: [committed] }
finally:
  - { id: a, run: ["true"], irreversible: true }
`,
    );
    const result = await rollpoint(["--store", u.store, "--json", "validate", u.manifest]);
    expect(result.exitCode).toBe(3);
    const errors = JSON.parse(result.stdout).files[0].errors.map(
      (e: { code: string; path: string }) => `${e.code} ${e.path}`,
    );
    expect(errors.sort()).toEqual([
      "FINALLY finally[0].id",
      "FINALLY finally[0].irreversible",
      "FINALLY steps[0].when",
    ]);
  });
});

describe("values in shell scripts", () => {
  it("${env.X} and ${vars.X} reach a shell step as data: a value holding '; touch' runs nothing", async () => {
    const u = await appUpdate(
      { "site.conf": "v1\n" },
      (app, dir) => `vars: { note: "a; touch ${dir}/pwned-by-var" }
steps:
  - id: edit
    shell: |
      printf '%s\\n' "\${env.ROLLPOINT_TEST_VALUE}" > ${app}/site.conf
      echo \${env.ROLLPOINT_TEST_VALUE} \${vars.note} >> ${app}/site.conf
`,
      "proxy",
    );
    const env = { ...process.env, ROLLPOINT_TEST_VALUE: `x; touch ${u.dir}/pwned-by-env` };
    const run = await rollpoint(["--store", u.store, "run", u.manifest], { env });
    expect(run.exitCode, run.stdout + run.stderr).toBe(0);
    expect(readFileSync(join(u.app, "site.conf"), "utf8")).toBe(
      `x; touch ${u.dir}/pwned-by-env\nx; touch ${u.dir}/pwned-by-env a; touch ${u.dir}/pwned-by-var\n`,
    );
    expect(existsSync(join(u.dir, "pwned-by-env"))).toBe(false);
    expect(existsSync(join(u.dir, "pwned-by-var"))).toBe(false);
  });
});
