import { join } from "node:path";
import { execa } from "execa";
import { describe, expect, it } from "vitest";
import { GlobalRollback } from "../../../src/index.js";
import { fakeSystemd } from "../../helpers/systemd.js";
import { tempDir } from "../../helpers/tree.js";

describe("the systemctl stand-in follows systemctl's formats and exit codes", () => {
  it("show, --value, is-active, is-enabled and unknown units", async () => {
    const dir = await tempDir();
    fakeSystemd(join(dir, "units"), { web: { active: "active", unitFile: "enabled" } });
    const show = await execa("systemctl", [
      "show",
      "-p",
      "ActiveState,UnitFileState",
      "web",
      "nope",
    ]);
    expect(show.stdout).toBe(
      "ActiveState=active\nUnitFileState=enabled\n\nActiveState=inactive\nUnitFileState=",
    );
    expect((await execa("systemctl", ["show", "-p", "ActiveState", "--value", "web"])).stdout).toBe(
      "active",
    );
    expect((await execa("systemctl", ["is-active", "web"], { reject: false })).exitCode).toBe(0);
    expect((await execa("systemctl", ["is-active", "nope"], { reject: false })).exitCode).toBe(3);
    const start = await execa("systemctl", ["start", "nope"], { reject: false });
    expect(start.exitCode).toBe(5);
    expect(start.stderr).toBe("Failed to start nope.service: Unit nope.service not found.");
  });
});

describe("service backups", () => {
  it("put every unit back to its recorded enablement and activity", async () => {
    const dir = await tempDir();
    const units = fakeSystemd(join(dir, "units"), {
      web: { active: "active", unitFile: "enabled" },
      worker: { active: "inactive", unitFile: "disabled" },
      legacy: { active: "inactive", unitFile: "masked" },
      cron: { active: "active", unitFile: "static" },
    });
    const rollback = new GlobalRollback({ backupDir: join(dir, "store") });
    const info = await rollback.backupServices(["web", "worker", "legacy", "cron"], "pre", "app");
    expect(info.backupType).toBe("service");
    expect(info.metadata.units).toEqual([
      { unit: "web.service", activeState: "active", unitFileState: "enabled" },
      { unit: "worker.service", activeState: "inactive", unitFileState: "disabled" },
      { unit: "legacy.service", activeState: "inactive", unitFileState: "masked" },
      { unit: "cron.service", activeState: "active", unitFileState: "static" },
    ]);

    // The update: web stopped and disabled, worker enabled and started, legacy unmasked, cron stopped.
    units.set("web", { active: "inactive", unitFile: "disabled" });
    units.set("worker", { active: "active", unitFile: "enabled" });
    units.set("legacy", { active: "inactive", unitFile: "disabled" });
    units.set("cron", { active: "failed", unitFile: "static" });

    const op = await rollback.restoreBackupDetailed(info.backupId);
    expect(op.outcome).toBe("restored");
    expect(units.state("web")).toMatchObject({ active: "active", unitFile: "enabled" });
    expect(units.state("worker")).toMatchObject({ active: "inactive", unitFile: "disabled" });
    expect(units.state("legacy")).toMatchObject({ active: "inactive", unitFile: "masked" });
    expect(units.state("cron")).toMatchObject({ active: "active", unitFile: "static" });
    expect(units.calls()).toEqual([
      "enable web.service",
      "start web.service",
      "disable worker.service",
      "stop worker.service",
      "mask legacy.service",
      "start cron.service",
    ]);
    expect(op.units?.map((u) => [u.unit, u.ok, u.actions])).toEqual([
      ["web.service", true, ["enable", "start"]],
      ["worker.service", true, ["disable", "stop"]],
      ["legacy.service", true, ["mask"]],
      ["cron.service", true, ["start"]],
    ]);
    // Nothing left to do the second time.
    expect((await rollback.restoreBackupDetailed(info.backupId)).outcome).toBe("unchanged");
    await rollback.close();
  });

  it("names a unit that does not exist", async () => {
    const dir = await tempDir();
    fakeSystemd(join(dir, "units"), { web: { active: "active", unitFile: "enabled" } });
    const rollback = new GlobalRollback({ backupDir: join(dir, "store") });
    const error = await rollback
      .backupServices(["web", "ghost"], "pre", "app")
      .catch((e: unknown) => e);
    expect(error).toMatchObject({ code: "BACKUP_FAILED", context: { unit: "ghost.service" } });
    expect(String((error as Error).message)).toContain("unit ghost.service does not exist");
    expect(await rollback.listBackups()).toEqual([]);
    await rollback.close();
  });

  it("a partial failure is a failure, and every unit is reported", async () => {
    const dir = await tempDir();
    const units = fakeSystemd(join(dir, "units"), {
      a: { active: "active", unitFile: "enabled" },
      b: { active: "active", unitFile: "enabled" },
      c: { active: "active", unitFile: "enabled" },
    });
    const rollback = new GlobalRollback({ backupDir: join(dir, "store") });
    const info = await rollback.backupServices(["a", "b", "c"], "pre", "app");
    units.set("a", { active: "inactive", unitFile: "enabled" });
    units.set("b", { active: "inactive", unitFile: "enabled", failOn: "start" });
    units.set("c", { active: "inactive", unitFile: "enabled" });
    const error = await rollback.restoreBackupDetailed(info.backupId).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: "SERVICE_FAILED" });
    expect(String((error as Error).message)).toContain("1 of 3 units did not return");
    expect(String((error as Error).message)).toContain("systemctl start b.service failed (exit 1)");
    expect(units.state("a").active).toBe("active");
    expect(units.state("c").active).toBe("active");
    await rollback.close();
  });
});
