import { execFileSync, spawn, spawnSync } from "node:child_process";
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { whenGone } from "./watchdog.js";

/**
 * A real systemd for one `npm test`: a Debian rootfs (debootstrapped once, cached in
 * /var/cache/rollpoint-test), booted as PID 1 of a `systemd-nspawn` container with a volatile
 * overlay (nothing a test does to it outlives the run), driven from outside through `nsenter`.
 * A `systemctl` wrapper first on PATH is all the code under test needs.
 *
 * Tests read: ROLLPOINT_TEST_SYSTEMD_PID (the container's systemd, for /proc/PID/root),
 * ROLLPOINT_TEST_SYSTEMD_SHARED (a directory bound at the same path inside, for the files units
 * read and write). Needs root, systemd-nspawn (systemd-container) and debootstrap the first time;
 * without them the suite fails, naming what is missing: the service tests are never skipped.
 * `ROLLPOINT_TEST_SYSTEMD=none` boots nothing: the tests that need it fail, the others run.
 */
export default async function setup(): Promise<() => Promise<void>> {
  // For a machine that cannot boot one: the tests that need systemd then fail, the rest run.
  if (process.env.ROLLPOINT_TEST_SYSTEMD === "none") return async () => {};
  const missing = unavailable();
  if (missing) {
    throw new Error(
      `the service tests boot a real systemd in a container: ${missing}. ROLLPOINT_TEST_SYSTEMD=none runs the suite without it (the tests that need it then fail).`,
    );
  }
  await reapStale();
  const rootfs = await ensureRootfs();
  const dir = mkdtempSync(join(tmpdir(), "rollpoint-test-systemd-"));
  const shared = join(dir, "shared");
  mkdirSync(shared);
  let container: Container;
  try {
    container = await bootContainer({
      name: `rptest-${process.pid}`,
      root: rootfs,
      volatile: true,
      binds: [shared],
      dir,
    });
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
  const bin = join(dir, "bin");
  mkdirSync(bin);
  const wrapper = join(bin, "systemctl");
  writeFileSync(wrapper, `#!/bin/sh\nexec nsenter -t ${container.pid} -a -- systemctl "$@"\n`);
  chmodSync(wrapper, 0o755);
  process.env.PATH = `${bin}:${process.env.PATH}`;
  process.env.ROLLPOINT_TEST_SYSTEMD_PID = String(container.pid);
  process.env.ROLLPOINT_TEST_SYSTEMD_SHARED = shared;
  process.env.ROLLPOINT_TEST_SYSTEMD_ROOTFS = rootfs;
  return async () => {
    await container.stop();
    rmSync(dir, { recursive: true, force: true });
  };
}

/** A booted container: its systemd's pid as the host sees it, and how to end it. */
export interface Container {
  pid: number;
  /** A clean shutdown (SIGTERM to nspawn), then whatever is left is killed. */
  stop(): Promise<void>;
  /** Power loss: everything in the container is killed at once. */
  kill(): Promise<void>;
}

/**
 * Boot `root` as a container named `name` (a name `rptest-<pid>…`, the pid of the process that
 * owns it: a watchdog stops the container when that process is gone, and the next test run reaps
 * what a killed watchdog left). `volatile`: the rootfs is a read-only lower layer, changes go
 * to memory. Node and the project are bound read-only at their paths; `binds` read-write.
 */
export async function bootContainer(options: {
  name: string;
  root: string;
  volatile: boolean;
  binds: string[];
  /** Where the log goes; removed by the reaper of a stale container. */
  dir: string;
  /** An overlay mounted for the container, unmounted by the reaper. */
  mount?: string;
  /** What to add to the error when the container's systemd does not come up. */
  diagnose?: (pid: number) => string;
}): Promise<Container> {
  const { name, dir } = options;
  // nspawn makes its payload/supervisor cgroups beside itself: give it a directory of its own,
  // or it writes them at the host's cgroup root.
  const cgroup = join(cgroupMount(), ownCgroup(), name);
  mkdirSync(cgroup);
  const log = join(dir, `${name}.log`);
  const nspawn = spawn(
    "/bin/sh",
    [
      "-c",
      'echo $$ > "$0/cgroup.procs" && log="$1" && shift && exec systemd-nspawn "$@" > "$log" 2>&1',
      cgroup,
      log,
      "-D",
      options.root,
      "-M",
      name,
      ...(options.volatile ? ["--volatile=overlay"] : []),
      ...options.binds.map((b) => `--bind=${b}`),
      // The units' binaries: /bin/sh and coreutils are the container's own; node and the
      // project's build are the host's, at the same paths (the recover-at-boot test runs them).
      "--bind-ro=/usr/bin/node",
      `--bind-ro=${process.cwd()}`,
      "--boot",
      "--register=no",
      "--keep-unit",
      "--private-network",
      "--console=read-only",
      "--link-journal=no",
      "--resolv-conf=off",
      "--timezone=off",
    ],
    { stdio: "ignore", detached: true },
  );
  const nspawnPid = nspawn.pid!;
  nspawn.unref();
  const stateFile = join(STATE_DIR, `${name}.json`);
  mkdirSync(STATE_DIR, { recursive: true });
  writeFileSync(stateFile, JSON.stringify({ nspawnPid, cgroup, dir, mount: options.mount }));
  // If the process that owns the container is killed, the container must not outlive it.
  const disarm = whenGone(
    `kill -TERM ${nspawnPid} 2>/dev/null; sleep 10; echo 1 > '${cgroup}/cgroup.kill'`,
  );
  const end = async (hard: boolean) => {
    disarm();
    if (hard) {
      writeFileSync(join(cgroup, "cgroup.kill"), "1");
      for (let i = 0; i < 100 && alive(nspawnPid); i++) await sleep(100);
    }
    await stopContainer(nspawnPid, cgroup);
    rmSync(stateFile, { force: true });
  };
  try {
    const pid = await containerInit(nspawnPid, log);
    await untilRunning(pid, log).catch((error: Error) => {
      throw new Error(`${error.message}\n${options.diagnose?.(pid) ?? ""}`);
    });
    return { pid, stop: () => end(false), kill: () => end(true) };
  } catch (error) {
    await end(true);
    throw error;
  }
}

const STATE_DIR = "/run/rollpoint-test";
const CACHE = "/var/cache/rollpoint-test";
// Bump when the recipe below changes: a cached rootfs of an older recipe is rebuilt.
const RECIPE = 2;
const MASKED = [
  "getty@tty1.service",
  "console-getty.service",
  "apt-daily.timer",
  "apt-daily-upgrade.timer",
  "dpkg-db-backup.timer",
  "e2scrub_all.timer",
  "e2scrub_reap.service",
  "fstrim.timer",
  "systemd-tmpfiles-clean.timer",
];

function unavailable(): string | undefined {
  if (process.getuid?.() !== 0) return "they must run as root";
  const has = (tool: string) => {
    try {
      execFileSync("sh", ["-c", `command -v ${tool}`], { stdio: "ignore" });
      return true;
    } catch {
      return false;
    }
  };
  if (!has("systemd-nspawn")) {
    return "systemd-nspawn is missing (Debian package systemd-container, pinned to the host's systemd version: apt-get install systemd-container=$(dpkg-query -W -f='${Version}' systemd))";
  }
  if (!has("nsenter")) return "nsenter is missing (Debian package util-linux)";
  if (!cgroupMountOrUndefined()) return "no cgroup v2 file system is mounted";
  return undefined;
}

/** The debootstrapped rootfs, built the first time (about a minute and 40 MB of packages). */
async function ensureRootfs(): Promise<string> {
  const suite = codename();
  const rootfs = join(CACHE, `rootfs-${suite}-${process.arch}-r${RECIPE}`);
  if (existsSync(join(rootfs, "usr/lib/systemd/systemd"))) return rootfs;
  mkdirSync(CACHE, { recursive: true });
  const building = mkdtempSync(join(CACHE, "building-"));
  try {
    const mirror = process.env.ROLLPOINT_TEST_DEBIAN_MIRROR ?? "http://deb.debian.org/debian";
    console.warn(`building the test container's rootfs in ${rootfs} (once; about a minute)`);
    try {
      execFileSync(
        "debootstrap",
        [
          "--variant=minbase",
          "--include=systemd,systemd-sysv,dbus,dpkg-repack",
          suite,
          building,
          mirror,
        ],
        { stdio: ["ignore", "pipe", "pipe"] },
      );
    } catch (error) {
      throw new Error(
        `debootstrap ${suite} failed or is missing (Debian package debootstrap; mirror ${mirror}, ROLLPOINT_TEST_DEBIAN_MIRROR sets another): ${(error as Error).message}`,
      );
    }
    // Nothing in the container may wake up on its own and change what a test sees.
    for (const unit of MASKED) {
      const link = join(building, "etc/systemd/system", unit);
      rmSync(link, { force: true });
      symlinkSync("/dev/null", link);
    }
    writeFileSync(join(building, "etc/hostname"), "rollpoint-test\n");
    rmSync(join(building, "var/cache/apt/archives"), { recursive: true, force: true });
    rmSync(join(building, "var/lib/apt/lists"), { recursive: true, force: true });
    renameSync(building, rootfs);
    return rootfs;
  } finally {
    rmSync(building, { recursive: true, force: true });
  }
}

function codename(): string {
  try {
    const release = readFileSync("/etc/os-release", "utf8");
    const id = /^ID=(.*)$/m.exec(release)?.[1]?.replace(/"/g, "");
    const name = /^VERSION_CODENAME=(.*)$/m.exec(release)?.[1]?.replace(/"/g, "");
    if (id === "debian" && name) return name;
  } catch {}
  return "bookworm";
}

function cgroupMountOrUndefined(): string | undefined {
  for (const line of readFileSync("/proc/self/mountinfo", "utf8").split("\n")) {
    const [fields, after] = line.split(" - ");
    if (after?.startsWith("cgroup2 ")) return fields!.split(" ")[4];
  }
  return undefined;
}

function cgroupMount(): string {
  return cgroupMountOrUndefined()!;
}

function ownCgroup(): string {
  const line = readFileSync("/proc/self/cgroup", "utf8")
    .split("\n")
    .find((l) => l.startsWith("0::"));
  return line?.slice(3) ?? "/";
}

/** The container's PID 1, as the host sees it: nspawn's child. */
async function containerInit(nspawnPid: number, log: string): Promise<number> {
  for (let i = 0; i < 300; i++) {
    try {
      const children = readFileSync(`/proc/${nspawnPid}/task/${nspawnPid}/children`, "utf8")
        .trim()
        .split(/\s+/)
        .filter(Boolean)
        .map(Number);
      // nspawn forks a helper (itself, "systemd-nspawn") before the container's init execs:
      // only a process whose name is systemd is the init.
      for (const child of children) {
        if (readFileSync(`/proc/${child}/comm`, "utf8").trim() === "systemd") return child;
      }
    } catch {
      if (!existsSync(`/proc/${nspawnPid}`)) break;
    }
    await sleep(100);
  }
  throw new Error(`systemd-nspawn did not start a systemd: ${tail(log)}`);
}

/** Until the container's systemd says running (or degraded): two minutes, for a busy machine. */
async function untilRunning(pid: number, log: string): Promise<void> {
  let state = "";
  for (let i = 0; i < 1200; i++) {
    if (!alive(pid))
      throw new Error(`the test container's systemd (pid ${pid}) is gone: ${tail(log)}`);
    const answer = spawnSync(
      "nsenter",
      ["-t", String(pid), "-a", "--", "systemctl", "is-system-running"],
      {
        encoding: "utf8",
      },
    );
    state = `${answer.stdout.trim()}${answer.stderr.trim() ? ` (${answer.stderr.trim()})` : ""}`;
    if (answer.stdout.trim() === "running" || answer.stdout.trim() === "degraded") return;
    await sleep(100);
  }
  throw new Error(
    `the test container's systemd did not come up (last state ${state}): ${tail(log)}`,
  );
}

function tail(file: string): string {
  try {
    return readFileSync(file, "utf8").split("\n").slice(-15).join("\n");
  } catch {
    return "(no log)";
  }
}

/** SIGTERM makes nspawn shut the container down cleanly; what is left after 10 s is killed. */
async function stopContainer(nspawnPid: number, cgroup: string): Promise<void> {
  if (nspawnPid > 0) {
    try {
      process.kill(nspawnPid, "SIGTERM");
    } catch {}
    for (let i = 0; i < 100 && alive(nspawnPid); i++) await sleep(100);
  }
  try {
    if (existsSync(cgroup)) writeFileSync(join(cgroup, "cgroup.kill"), "1");
  } catch {}
  for (let i = 0; i < 50 && populated(cgroup); i++) await sleep(100);
  removeCgroup(cgroup);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function populated(cgroup: string): boolean {
  try {
    return /populated 1/.test(readFileSync(join(cgroup, "cgroup.events"), "utf8"));
  } catch {
    return false;
  }
}

function removeCgroup(dir: string): void {
  if (!existsSync(dir)) return;
  for (const entry of readdirSync(dir, { withFileTypes: true }))
    if (entry.isDirectory()) removeCgroup(join(dir, entry.name));
  try {
    rmSync(dir, { recursive: false });
  } catch {
    try {
      execFileSync("rmdir", [dir], { stdio: "ignore" });
    } catch {}
  }
}

/** A container left by a test run that was killed before its watchdog could act. */
async function reapStale(): Promise<void> {
  if (!existsSync(STATE_DIR)) return;
  for (const file of readdirSync(STATE_DIR)) {
    if (!file.endsWith(".json")) continue;
    const path = join(STATE_DIR, file);
    let state: { nspawnPid: number; cgroup: string; dir: string; mount?: string };
    try {
      state = JSON.parse(readFileSync(path, "utf8"));
    } catch {
      continue;
    }
    // Another test run that is still going keeps its container.
    const owner = Number(/rptest-(\d+)/.exec(file)?.[1]);
    if (owner && alive(owner) && readCmdline(owner).includes("node")) continue;
    if (!readCmdline(state.nspawnPid).includes("systemd-nspawn")) state.nspawnPid = 0;
    await stopContainer(state.nspawnPid, state.cgroup);
    if (state.mount) spawnSync("umount", ["-l", state.mount], { stdio: "ignore" });
    rmSync(state.dir, { recursive: true, force: true });
    rmSync(path, { force: true });
  }
}

function readCmdline(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8");
  } catch {
    return "";
  }
}
