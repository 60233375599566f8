import { spawnSync } from "node:child_process";
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  readFileSync,
  writeFileSync,
} from "node:fs";
import { dirname, join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { tempDir } from "../helpers/tree.js";
import { until } from "../helpers/wait.js";
import { bootContainer, type Container } from "../setup/systemd-container.js";

const CONTRIB = join(process.cwd(), "contrib/systemd");
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/**
 * A host of its own for this test: the suite's rootfs under an overlay whose upper layer is on
 * disk, so that what the host writes survives a power loss and the next boot.
 */
async function host() {
  const rootfs = process.env.ROLLPOINT_TEST_SYSTEMD_ROOTFS;
  if (!rootfs) throw new Error("no test rootfs: test/setup/systemd-container.ts did not run");
  const dir = await tempDir();
  const [upper, work, merged] = ["upper", "work", "merged"].map((d) => join(dir, d));
  for (const d of [upper, work, merged]) mkdirSync(d!);
  const mount = spawnSync("mount", [
    "-t",
    "overlay",
    "overlay",
    "-o",
    `lowerdir=${rootfs},upperdir=${upper},workdir=${work}`,
    merged!,
  ]);
  if (mount.status !== 0) throw new Error(`mount overlay: ${mount.stderr}`);
  let container: Container | undefined;
  cleanups.push(async () => {
    await container?.stop();
    spawnSync("umount", ["-l", merged!]);
  });
  const file = (path: string, content: string, mode = 0o644) => {
    const at = join(merged!, path);
    mkdirSync(dirname(at), { recursive: true });
    writeFileSync(at, content);
    chmodSync(at, mode);
  };
  return {
    file,
    read: (path: string) => readFileSync(join(merged!, path), "utf8"),
    exists: (path: string) => existsSync(join(merged!, path)),
    install: (name: string, as = `/etc/systemd/system/${name}`) => {
      mkdirSync(dirname(join(merged!, as)), { recursive: true });
      copyFileSync(join(CONTRIB, name), join(merged!, as));
    },
    /** The built CLI as /usr/local/bin/rollpoint, and the boot-time recover unit. */
    installRollpoint() {
      file(
        "/usr/local/bin/rollpoint",
        `#!/bin/sh\nexec /usr/bin/node ${process.cwd()}/dist/cli/main.js "$@"\n`,
        0o755,
      );
      copyFileSync(
        join(CONTRIB, "rollpoint-recover.service"),
        join(merged!, "/etc/systemd/system/rollpoint-recover.service"),
      );
    },
    /** `systemctl --root`: what `systemctl enable` does, before the first boot. */
    enable: (...units: string[]) => {
      const result = spawnSync("/bin/systemctl", [`--root=${merged}`, "enable", ...units], {
        encoding: "utf8",
      });
      if (result.status !== 0) throw new Error(`systemctl --root enable: ${result.stderr}`);
    },
    /** Everything in the container killed at once; its disk stays as it was. */
    async powerLoss() {
      await container?.kill();
      container = undefined;
    },
    async boot() {
      container = await bootContainer({
        name: `rptest-${process.pid}-host`,
        root: merged!,
        volatile: false,
        binds: [],
        dir,
        mount: merged,
        diagnose: (pid) =>
          spawnSync(
            "nsenter",
            [
              "-t",
              String(pid),
              "-a",
              "--",
              "sh",
              "-c",
              "systemctl list-jobs --no-pager; journalctl --no-pager -n 80",
            ],
            { encoding: "utf8" },
          ).stdout,
      });
      return container;
    },
    /** What the container's systemd and journal say, for a test that timed out. */
    diagnose() {
      if (!container) return "(no container)";
      const run = (...args: string[]) =>
        spawnSync("nsenter", ["-t", String(container!.pid), "-a", "--", ...args], {
          encoding: "utf8",
        }).stdout;
      return [
        run("systemctl", "is-system-running"),
        run("systemctl", "list-jobs", "--no-pager"),
        run(
          "journalctl",
          "--no-pager",
          "-n",
          "60",
          "-u",
          "rollpoint-recover",
          "-u",
          "rollpoint-update@app",
          "-u",
          "app",
        ),
      ].join("\n");
    },
    inside(...args: string[]) {
      const result = spawnSync("nsenter", ["-t", String(container!.pid), "-a", "--", ...args], {
        encoding: "utf8",
      });
      return {
        exitCode: result.status,
        stdout: result.stdout.trim(),
        stderr: result.stderr.trim(),
      };
    },
  };
}

describe("contrib/systemd, on a real systemd", () => {
  // Two boots and a run on a busy machine: more than the default minute.
  it("rollpoint-recover.service rolls back an update cut off by a power loss before the service it protects starts", {
    timeout: 240_000,
  }, async () => {
    const h = await host();
    h.installRollpoint();
    h.install("rollpoint-update@.service");
    h.install("rollpoint-update@.timer");
    h.install("rollpoint-protected.conf", "/etc/systemd/system/app.service.d/rollpoint.conf");
    // The service appends the configuration it read at each start.
    h.file(
      "/etc/systemd/system/app.service",
      `[Service]\nExecStart=/bin/sh -c 'cat /srv/app/app.conf >> /srv/app/starts; exec sleep infinity'\n[Install]\nWantedBy=multi-user.target\n`,
    );
    h.file("/srv/app/app.conf", "v1\n");
    h.file(
      "/etc/rollpoint/app.yaml",
      `apiVersion: rollpoint/v1
name: app
rollbackPoint:
  files: [/srv/app/app.conf]
  services: [app]
steps:
  - id: configure
    shell: echo v2 > /srv/app/app.conf
  - id: restart
    service: { restart: [app] }
  - id: migrate
    shell: touch /srv/app/migrating; sleep 600
`,
    );
    h.enable("rollpoint-recover.service", "app.service", "rollpoint-update@app.timer");

    await h.boot();
    // The whole line: the unit's shell makes the file before it writes to it (seen empty under
    // load).
    await until(
      "app's first start",
      () => h.exists("/srv/app/starts") && h.read("/srv/app/starts").endsWith("\n"),
      { diagnose: h.diagnose },
    );
    expect(h.read("/srv/app/starts")).toBe("v1\n");
    // Every unit shipped is one systemd accepts.
    const verify = h.inside(
      "systemd-analyze",
      "verify",
      "/etc/systemd/system/rollpoint-recover.service",
      "/etc/systemd/system/rollpoint-update@app.service",
      "/etc/systemd/system/rollpoint-update@app.timer",
    );
    expect(verify.exitCode, verify.stderr).toBe(0);
    expect(h.inside("systemctl", "is-active", "rollpoint-update@app.timer").stdout).toBe("active");

    // The update, as the timer would start it; cut off by a power loss during its migration.
    expect(
      h.inside("systemctl", "start", "--no-block", "rollpoint-update@app.service").exitCode,
    ).toBe(0);
    await until("the migration step", () => h.exists("/srv/app/migrating"), {
      diagnose: h.diagnose,
    });
    expect(h.read("/srv/app/starts")).toBe("v1\nv2\n");
    expect(h.read("/srv/app/app.conf")).toBe("v2\n");
    await h.powerLoss();

    // The next boot: the rollback happens before app starts, so app starts once, on v1.
    await h.boot();
    await until(
      "app to run",
      () => h.inside("systemctl", "is-active", "app.service").stdout === "active",
      { diagnose: h.diagnose },
    );
    const recover = h.inside(
      "systemctl",
      "show",
      "-p",
      "ActiveState,Result",
      "rollpoint-recover.service",
    );
    expect(recover.stdout.split("\n").sort()).toEqual(["ActiveState=active", "Result=success"]);
    expect(h.read("/srv/app/app.conf")).toBe("v1\n");
    expect(h.read("/srv/app/starts")).toBe("v1\nv2\nv1\n");
    const history = JSON.parse(h.inside("/usr/local/bin/rollpoint", "--json", "history").stdout);
    expect(history.runs[0]).toMatchObject({ module: "app", state: "rolledBack", finished: true });
  });

  it("a watch in a transient unit, cut off by a power loss, resumes at the next boot and still rolls back", {
    timeout: 240_000,
  }, async () => {
    const h = await host();
    h.installRollpoint();
    h.file(
      "/etc/systemd/system/app.service",
      `[Service]\nExecStart=/bin/sh -c 'cat /srv/app/app.conf >> /srv/app/starts; exec sleep infinity'\n[Install]\nWantedBy=multi-user.target\n`,
    );
    h.file("/srv/app/app.conf", "v1\n");
    h.file(
      "/etc/rollpoint/app.yaml",
      `apiVersion: rollpoint/v1
name: app
rollbackPoint:
  files: [/srv/app/app.conf]
  services: [app]
watch:
  for: 10m
  interval: 1s
  checks:
    - { command: [test, "!", -e, /srv/app/broken], once: true }
steps:
  - id: configure
    shell: echo v2 > /srv/app/app.conf
  - id: restart
    service: { restart: [app] }
`,
    );
    h.enable("rollpoint-recover.service", "app.service");
    await h.boot();
    await until(
      "the container to finish booting",
      () => h.inside("systemctl", "is-active", "rollpoint-recover.service").stdout === "active",
      { diagnose: h.diagnose },
    );
    await until(
      "app's first start",
      () => h.exists("/srv/app/starts") && h.read("/srv/app/starts") === "v1\n",
      { diagnose: h.diagnose },
    );
    const run = h.inside("/usr/local/bin/rollpoint", "--json", "run", "/etc/rollpoint/app.yaml");
    expect(run.exitCode, run.stdout + run.stderr).toBe(0);
    const { runId, watch } = JSON.parse(run.stdout) as {
      runId: string;
      watch: { unit: string };
    };
    expect(watch.unit).toBe(`rollpoint-watch-${runId}.service`);
    await until(
      "the watch's unit to run",
      () => h.inside("systemctl", "is-active", watch.unit).stdout === "active",
      { diagnose: h.diagnose },
    );
    expect(h.read("/srv/app/app.conf")).toBe("v2\n");
    // A simple unit is started once forked: its line comes a moment later.
    await until("app's start on v2", () => h.read("/srv/app/starts") === "v1\nv2\n", {
      diagnose: h.diagnose,
    });
    await h.powerLoss();

    // The next boot: the boot-time recover starts the watch again, in a unit of the same name.
    await h.boot();
    await until(
      "the watch's unit to run again",
      () => h.inside("systemctl", "is-active", watch.unit).stdout === "active",
      { diagnose: h.diagnose },
    );
    expect(h.read("/srv/app/app.conf")).toBe("v2\n");
    h.file("/srv/app/broken", "");
    await until("the watch to roll the update back", () => h.read("/srv/app/app.conf") === "v1\n", {
      diagnose: h.diagnose,
    });
    await until(
      "the watch's unit to end",
      () => h.inside("systemctl", "is-active", watch.unit).stdout !== "active",
      { diagnose: h.diagnose },
    );
    // The service was stopped, its file put back, and started again on it: it reads v1.
    expect(h.inside("systemctl", "is-active", "app.service").stdout).toBe("active");
    await until("app's start on v1", () => h.read("/srv/app/starts").endsWith("\nv1\n"), {
      diagnose: h.diagnose,
    });
    const history = JSON.parse(h.inside("/usr/local/bin/rollpoint", "--json", "history").stdout);
    expect(history.runs.map((r: { state: string }) => r.state)).toEqual([
      "watchRolledBack",
      "committed",
    ]);
  });
});
