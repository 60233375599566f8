import { join } from "node:path";
import { execa } from "execa";
import { describe, expect, it } from "vitest";
import { GlobalRollback } from "../../../src/index.js";
import { fakeSystemd, realSystemd, SLEEPER } from "../../helpers/systemd.js";
import { tempDir } from "../../helpers/tree.js";

describe("the systemctl stand-in (for output-parsing tests) follows systemctl's formats", () => {
  it("show, --value, is-active, is-enabled and unknown units", async () => {
    const dir = await tempDir();
    const { env } = fakeSystemd(join(dir, "units"), {
      web: { active: "active", unitFile: "enabled" },
    });
    const show = await execa(
      "systemctl",
      ["show", "-p", "ActiveState,UnitFileState", "web", "nope"],
      {
        env,
      },
    );
    expect(show.stdout).toBe(
      "ActiveState=active\nUnitFileState=enabled\n\nActiveState=inactive\nUnitFileState=",
    );
    const value = await execa("systemctl", ["show", "-p", "ActiveState", "--value", "web"], {
      env,
    });
    expect(value.stdout).toBe("active");
    expect((await execa("systemctl", ["is-active", "web"], { env, reject: false })).exitCode).toBe(
      0,
    );
    expect((await execa("systemctl", ["is-active", "nope"], { env, reject: false })).exitCode).toBe(
      3,
    );
    const start = await execa("systemctl", ["start", "nope"], { env, reject: false });
    expect(start.exitCode).toBe(5);
    expect(start.stderr).toBe("Failed to start nope.service: Unit nope.service not found.");
  });
});

describe("service backups, against a real systemd", () => {
  it("put every unit back to its recorded enablement and activity", async () => {
    const systemd = await realSystemd();
    const web = systemd.install("web", SLEEPER);
    const worker = systemd.install("worker", SLEEPER);
    const legacy = systemd.install("legacy", SLEEPER, { vendor: true });
    // No [Install] section: systemd calls it static.
    const cron = systemd.install("cron", "[Service]\nExecStart=/bin/sleep infinity\n");
    systemd.systemctl("enable", "--now", web);
    systemd.systemctl("mask", legacy);
    systemd.systemctl("start", cron);
    const rollback = new GlobalRollback({ backupDir: join(systemd.dir, "store") });
    const info = await rollback.backupServices([web, worker, legacy, cron], "pre", "app");
    expect(info.backupType).toBe("service");
    expect(info.metadata.units).toEqual([
      { unit: `${web}.service`, activeState: "active", unitFileState: "enabled" },
      { unit: `${worker}.service`, activeState: "inactive", unitFileState: "disabled" },
      { unit: `${legacy}.service`, activeState: "inactive", unitFileState: "masked" },
      { unit: `${cron}.service`, activeState: "active", unitFileState: "static" },
    ]);

    // The update: web stopped and disabled, worker enabled and started, legacy unmasked, cron
    // killed (systemd then calls it failed).
    systemd.systemctl("disable", "--now", web);
    systemd.systemctl("enable", "--now", worker);
    systemd.systemctl("unmask", legacy);
    systemd.systemctl("kill", "-s", "KILL", cron);
    await expect.poll(() => systemd.state("cron").active).toBe("failed");

    const op = await rollback.restoreBackupDetailed(info.backupId);
    expect(op.outcome).toBe("restored");
    expect(systemd.state("web")).toEqual({ active: "active", unitFile: "enabled" });
    expect(systemd.state("worker")).toEqual({ active: "inactive", unitFile: "disabled" });
    expect(systemd.state("legacy")).toEqual({ active: "inactive", unitFile: "masked" });
    expect(systemd.state("cron")).toEqual({ active: "active", unitFile: "static" });
    expect(op.units?.map((u) => [u.unit, u.ok, u.actions])).toEqual([
      [`${web}.service`, true, ["enable", "start"]],
      [`${worker}.service`, true, ["disable", "stop"]],
      [`${legacy}.service`, true, ["mask"]],
      [`${cron}.service`, true, ["start"]],
    ]);
    // Nothing left to do the second time.
    expect((await rollback.restoreBackupDetailed(info.backupId)).outcome).toBe("unchanged");
    await rollback.close();
  });

  it("a backup of no units (packages that ship none) is named so, and restores as nothing to do", async () => {
    const systemd = await realSystemd();
    const rollback = new GlobalRollback({ backupDir: join(systemd.dir, "store") });
    const info = await rollback.backupServices([], "pre", "app");
    expect(info.source).toBe("(no units)");
    const op = await rollback.restoreBackupDetailed(info.backupId);
    expect(op).toMatchObject({ outcome: "unchanged", source: "(no units)" });
    await rollback.close();
  });

  it("names a unit that does not exist", async () => {
    const systemd = await realSystemd();
    const web = systemd.install("web", SLEEPER);
    const rollback = new GlobalRollback({ backupDir: join(systemd.dir, "store") });
    const ghost = systemd.name("ghost");
    const error = await rollback
      .backupServices([web, ghost], "pre", "app")
      .catch((e: unknown) => e);
    expect(error).toMatchObject({ code: "BACKUP_FAILED", context: { unit: `${ghost}.service` } });
    expect(String((error as Error).message)).toContain(`unit ${ghost}.service does not exist`);
    expect(await rollback.listBackups()).toEqual([]);
    await rollback.close();
  });

  it("a unit that cannot start: a failure, and every other unit still returned and reported", async () => {
    const systemd = await realSystemd();
    const [a, b, c] = ["a", "b", "c"].map((n) => systemd.install(n, SLEEPER));
    systemd.systemctl("enable", "--now", a!, b!, c!);
    const rollback = new GlobalRollback({ backupDir: join(systemd.dir, "store") });
    const info = await rollback.backupServices([a!, b!, c!], "pre", "app");
    systemd.systemctl("stop", a!, b!, c!);
    // The update broke b's unit: its start job fails.
    systemd.install(
      "b",
      "[Service]\nType=oneshot\nExecStart=/bin/false\n[Install]\nWantedBy=multi-user.target\n",
    );
    const error = await rollback.restoreBackupDetailed(info.backupId).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: "SERVICE_FAILED" });
    expect(String((error as Error).message)).toContain("1 of 3 units did not return");
    expect(String((error as Error).message)).toContain(
      `systemctl start ${b}.service failed (exit 1)`,
    );
    expect(systemd.state("a").active).toBe("active");
    expect(systemd.state("b").active).toBe("failed");
    expect(systemd.state("c").active).toBe("active");
    await rollback.close();
  });

  it("a Type=simple unit whose start succeeds and which dies a moment later did not come back", async () => {
    const systemd = await realSystemd();
    const app = systemd.install("app", SLEEPER);
    systemd.systemctl("enable", "--now", app);
    const rollback = new GlobalRollback({ backupDir: join(systemd.dir, "store") });
    const info = await rollback.backupServices([app], "pre", "app");
    systemd.systemctl("stop", app);
    systemd.install(
      "app",
      "[Service]\nExecStart=/bin/sh -c 'sleep 0.3; exit 3'\n[Install]\nWantedBy=multi-user.target\n",
    );
    // systemctl itself calls this start a success.
    expect(systemd.systemctl("start", app).exitCode).toBe(0);
    systemd.systemctl("stop", app);
    const error = await rollback.restoreBackupDetailed(info.backupId).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: "SERVICE_FAILED" });
    expect(String((error as Error).message)).toContain(
      `${app}.service is failed/enabled, recorded active/enabled`,
    );
    await rollback.close();
  });

  it("masking a unit whose file an update put in /etc: the error says what would have worked", async () => {
    const systemd = await realSystemd();
    const legacy = systemd.install("legacy", SLEEPER, { vendor: true });
    systemd.systemctl("mask", legacy);
    const rollback = new GlobalRollback({ backupDir: join(systemd.dir, "store") });
    const info = await rollback.backupServices([legacy], "pre", "app");
    // The update replaced the mask with a unit file of its own.
    systemd.systemctl("unmask", legacy);
    systemd.install("legacy", SLEEPER);
    const error = await rollback.restoreBackupDetailed(info.backupId).catch((e: unknown) => e);
    expect(String((error as Error).message)).toContain(
      `systemctl mask ${legacy}.service failed (exit 1): Failed to mask unit: File /etc/systemd/system/${legacy}.service already exists.`,
    );
    expect(String((error as Error).message)).toContain("lists that file in its files");
    await rollback.close();
  });
});
