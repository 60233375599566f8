import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { rollpoint } from "../helpers/cli.js";
import { realSystemd, SLEEPER } from "../helpers/systemd.js";

// A unit whose start systemd calls a success, and which dies 0.3 s later.
const DIES_SOON = `[Service]
ExecStart=/bin/sh -c 'sleep 0.3; exit 3'
[Install]
WantedBy=multi-user.target
`;

/**
 * An update that replaces a running unit's definition and checks the service: the unit file is
 * linked from the test's directory, so the rollback point can list it (or not).
 */
async function update(next: string, check: string, options: { pointHasUnitFile: boolean }) {
  const systemd = await realSystemd();
  const { unit: app, file } = systemd.link("app", SLEEPER);
  systemd.systemctl("enable", "--now", app);
  writeFileSync(join(systemd.dir, "next.service"), next);
  const manifest = join(systemd.dir, "update.yaml");
  writeFileSync(
    manifest,
    `apiVersion: rollpoint/v1
name: app
rollbackPoint:
  services: [${app}]
${options.pointHasUnitFile ? `  files: [${file}]\n` : ""}steps:
  - id: replace
    shell: cat ${join(systemd.dir, "next.service")} > ${file} && systemctl daemon-reload
  - id: restart
    service: { restart: [${app}] }
  - id: health
    check: { service: ${app}, ${check} }
`,
  );
  const result = await rollpoint([
    "--store",
    join(systemd.dir, "store"),
    "--json",
    "run",
    manifest,
  ]);
  return { systemd, app, file, result, report: JSON.parse(result.stdout) };
}

describe("the service health check and service rollback, against a real systemd", () => {
  it("passes for a unit that stays active through holdFor; the update commits", async () => {
    const u = await update(
      SLEEPER.replace("infinity", "99999"),
      "within: 5s, holdFor: 1s, interval: 200ms",
      {
        pointHasUnitFile: true,
      },
    );
    expect(u.result.exitCode, u.result.stderr).toBe(0);
    expect(u.report.outcome).toBe("committed");
    expect(u.systemd.state("app")).toEqual({ active: "active", unitFile: "enabled" });
    expect(readFileSync(u.file, "utf8")).toContain("99999");
  });

  it("holdFor catches a unit that starts and dies a moment later; the rollback restores its unit file and it runs again", async () => {
    const u = await update(DIES_SOON, "within: 5s, holdFor: 2s, interval: 100ms", {
      pointHasUnitFile: true,
    });
    expect(u.result.exitCode, u.result.stderr).toBe(1);
    expect(u.report.outcome).toBe("rolledBack");
    expect(u.report.steps.find((s: { id: string }) => s.id === "health").status).toBe("failed");
    expect(readFileSync(u.file, "utf8")).toBe(SLEEPER);
    expect(u.systemd.state("app")).toEqual({ active: "active", unitFile: "enabled" });
    expect(u.systemd.systemctl("show", "-p", "ExecStart", `${u.app}.service`).stdout).toContain(
      "/bin/sleep",
    );
  });

  it("a rollback that cannot bring the unit back up says so (exit 2), never 'as it was'", async () => {
    // The unit file is not in the rollback point: the rollback starts the broken definition.
    const u = await update(DIES_SOON, "within: 5s, holdFor: 2s, interval: 100ms", {
      pointHasUnitFile: false,
    });
    expect(u.result.exitCode, u.result.stderr).toBe(2);
    expect(u.report.outcome).toBe("rollbackFailed");
    expect(JSON.stringify(u.report.rollback)).toContain(
      `${u.app}.service is failed/enabled, recorded active/enabled`,
    );
  });
});
