import { execFileSync, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach } from "vitest";
import { tempDir } from "./tree.js";

/** The directory holding the `systemctl` stand-in (output-parsing tests only). */
export const FIXTURE_BIN = fileURLToPath(new URL("../fixtures/bin", import.meta.url));

export interface FakeUnit {
  active: string;
  unitFile: string;
  /** Make this verb fail, as a unit whose start script exits non-zero would. */
  failOn?: string;
}

/**
 * Units for the `systemctl` stand-in, kept in `dir`, for the tests of how systemctl's output is
 * read. Everything about what services do runs against the real systemd below.
 */
export function fakeSystemd(dir: string, units: Record<string, FakeUnit>) {
  mkdirSync(dir, { recursive: true });
  for (const [name, state] of Object.entries(units)) {
    writeFileSync(join(dir, `${name}.service.json`), JSON.stringify(state));
  }
  return { env: { PATH: `${FIXTURE_BIN}:${process.env.PATH}`, SYSTEMCTL_STATE_DIR: dir } };
}

/** A unit's state as `systemctl show` reports it. */
export interface RealUnitState {
  active: string;
  unitFile: string;
}

/** What a test asks of the real systemd the suite booted (test/setup/systemd-container.ts). */
export interface TestSystemd {
  /** A directory of this test that units see at the same path (removed after the test). */
  dir: string;
  /** This test's name for a unit: unique in the container, so tests can run side by side. */
  name(base: string): string;
  /**
   * Write a unit file and daemon-reload. `/etc/systemd/system` (the admin's place) unless
   * `vendor` (`/usr/lib/systemd/system`, where packages put theirs). Returns the unit's name.
   */
  install(base: string, text: string, options?: { vendor?: boolean }): string;
  /**
   * Write a unit file into this test's directory and `systemctl link` it: a unit file a rollback
   * point can list (the host and the container see it at the same path). Returns its name.
   */
  link(base: string, text: string): { unit: string; file: string };
  /** `systemctl ARGS` inside the container; never throws. */
  systemctl(...args: string[]): { exitCode: number; stdout: string; stderr: string };
  state(base: string): RealUnitState;
  /** The container's view of a path, from the host. */
  inside(path: string): string;
}

const installed: { units: string[]; files: string[] } = { units: [], files: [] };

/** The real systemd, for one test; everything it installed is removed after the test. */
export async function realSystemd(): Promise<TestSystemd> {
  const pid = process.env.ROLLPOINT_TEST_SYSTEMD_PID;
  const shared = process.env.ROLLPOINT_TEST_SYSTEMD_SHARED;
  if (!pid || !shared) {
    throw new Error(
      "this test needs the real systemd that test/setup/systemd-container.ts boots (not booted: ROLLPOINT_TEST_SYSTEMD=none?)",
    );
  }
  const dir = await tempDir("rollpoint-test-", shared);
  const id = randomBytes(3).toString("hex");
  const root = `/proc/${pid}/root`;
  const systemctl = (...args: string[]) => {
    const result = spawnSync("systemctl", args, { encoding: "utf8" });
    return {
      exitCode: result.status ?? -1,
      stdout: result.stdout.trim(),
      stderr: result.stderr.trim(),
    };
  };
  const name = (base: string) => `rp${id}-${base}`;
  return {
    dir,
    name,
    install(base, text, options = {}) {
      const unit = `${name(base)}.service`;
      const file = join(
        root,
        options.vendor ? "usr/lib/systemd/system" : "etc/systemd/system",
        unit,
      );
      writeFileSync(file, text);
      installed.units.push(unit);
      installed.files.push(file);
      execFileSync("systemctl", ["daemon-reload"]);
      return name(base);
    },
    link(base, text) {
      const unit = `${name(base)}.service`;
      const file = join(dir, unit);
      writeFileSync(file, text);
      installed.units.push(unit);
      installed.files.push(join(root, "etc/systemd/system", unit));
      execFileSync("systemctl", ["link", file], { stdio: "ignore" });
      return { unit: name(base), file };
    },
    systemctl,
    state(base) {
      const props = new Map(
        systemctl("show", "-p", "ActiveState,UnitFileState", "--", `${name(base)}.service`)
          .stdout.split("\n")
          .map((line) => line.split("=") as [string, string]),
      );
      return { active: props.get("ActiveState") ?? "", unitFile: props.get("UnitFileState") ?? "" };
    },
    inside: (path) => join(root, path),
  };
}

/** A long-running service that records the configuration it started with. */
export function serviceReading(config: string, running: string): string {
  return `[Unit]
Description=rollpoint test service
[Service]
ExecStart=/bin/sh -c 'cat ${config} > ${running}; exec sleep infinity'
[Install]
WantedBy=multi-user.target
`;
}

/** A long-running service that does nothing. */
export const SLEEPER = `[Service]
ExecStart=/bin/sleep infinity
[Install]
WantedBy=multi-user.target
`;

afterEach(() => {
  const units = installed.units.splice(0);
  const files = installed.files.splice(0);
  if (units.length === 0) return;
  const run = (...args: string[]) => spawnSync("systemctl", args, { stdio: "ignore" });
  run("stop", "--", ...units);
  run("unmask", "--", ...units);
  run("disable", "--", ...units);
  for (const file of files) rmSync(file, { force: true });
  run("daemon-reload");
  run("reset-failed", "--", ...units);
});

/** The stand-in's state file of a unit (parsing tests). */
export function fakeUnitState(dir: string, name: string): FakeUnit {
  return JSON.parse(readFileSync(join(dir, `${name}.service.json`), "utf8")) as FakeUnit;
}
