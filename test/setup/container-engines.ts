import { execFileSync, spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { whenGone } from "./watchdog.js";

/**
 * A Docker Engine and a Podman of the suite's own, never the host's: dockerd with a data root,
 * exec root, pidfile and socket in a temporary directory (no iptables, no bridge: containers use
 * the host's network or none), Podman with a containers.conf and storage.conf of its own (runc:
 * crun refuses this hybrid cgroup host). The workers reach them through DOCKER_HOST,
 * CONTAINERS_CONF and CONTAINERS_STORAGE_CONF; all is stopped and deleted at the end.
 * `ROLLPOINT_TEST_CONTAINERS=none` starts nothing (the container tests then fail).
 */
export default async function setup(): Promise<() => Promise<void>> {
  if (process.env.ROLLPOINT_TEST_CONTAINERS === "none") return async () => {};
  for (const [tool, pkg] of [
    ["dockerd", "docker.io"],
    ["podman", "podman"],
    ["runc", "runc"],
    ["docker-compose", "docker-compose"],
    ["busybox", "busybox-static"],
  ] as const) {
    try {
      execFileSync("sh", ["-c", `command -v ${tool}`], { stdio: "ignore" });
    } catch {
      throw new Error(
        `the container tests start a Docker Engine and a Podman of their own: ${tool} is missing (Debian package ${pkg}; scripts/test-deps.sh installs it). ROLLPOINT_TEST_CONTAINERS=none runs the suite without them (those tests then fail).`,
      );
    }
  }
  // Short: the daemon's socket path must fit in sun_path.
  const dir = mkdtempSync(join(tmpdir(), "rp-engines-"));
  const docker = join(dir, "docker");
  mkdirSync(docker);
  const socket = join(docker, "sock");
  const log = join(docker, "log");
  const daemon = spawn(
    "sh",
    [
      "-c",
      `exec dockerd --iptables=false --ip6tables=false --bridge=none --data-root '${docker}/data' --exec-root '${docker}/exec' --pidfile '${docker}/pid' -H 'unix://${socket}' --default-ulimit nofile=1024:1024 --default-ulimit nproc=1024:1024 >'${log}' 2>&1`,
    ],
    { stdio: "ignore", detached: true },
  );
  const podman = join(dir, "podman");
  mkdirSync(podman);
  writeFileSync(
    join(podman, "containers.conf"),
    [
      "[containers]",
      'default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]',
      'netns = "host"',
      "[engine]",
      'runtime = "runc"',
      'cgroup_manager = "cgroupfs"',
      'events_logger = "file"',
      `tmp_dir = "${podman}/tmp"`,
      `volume_path = "${podman}/root/volumes"`,
      "",
    ].join("\n"),
  );
  writeFileSync(
    join(podman, "storage.conf"),
    `[storage]\ndriver = "overlay"\ngraphroot = "${podman}/root"\nrunroot = "${podman}/run"\n`,
  );
  // What the engines leave mounted below the directory (the daemon's network namespace, overlay
  // layers): unmounted, deepest first, before it is deleted.
  const unmount = `grep -o ' ${dir}/[^ ]*' /proc/mounts | sort -r | xargs -r umount -l`;
  const disarm = whenGone(
    `kill -TERM ${daemon.pid} 2>/dev/null; sleep 5; CONTAINERS_CONF='${podman}/containers.conf' CONTAINERS_STORAGE_CONF='${podman}/storage.conf' podman rm -af -t 0 >/dev/null 2>&1; ${unmount}; rm -rf '${dir}'`,
  );
  process.env.DOCKER_HOST = `unix://${socket}`;
  process.env.CONTAINERS_CONF = join(podman, "containers.conf");
  process.env.CONTAINERS_STORAGE_CONF = join(podman, "storage.conf");
  for (let i = 0; ; i++) {
    try {
      execFileSync("docker", ["version", "--format", "{{.Server.Version}}"], { stdio: "ignore" });
      break;
    } catch {
      if (i > 300) {
        let said = "";
        try {
          said = execFileSync("tail", ["-5", log]).toString();
        } catch {}
        throw new Error(`the test Docker Engine did not start within 30 s:\n${said}`);
      }
      await sleep(100);
    }
  }
  return async () => {
    disarm();
    try {
      execFileSync("podman", ["rm", "-af", "-t", "0"], { stdio: "ignore" });
      execFileSync("podman", ["system", "reset", "-f"], { stdio: "ignore" });
    } catch {
      // Deleted with the directory below.
    }
    daemon.kill("SIGTERM");
    await new Promise((resolve) => daemon.once("exit", resolve));
    try {
      execFileSync("sh", ["-c", unmount], { stdio: "ignore" });
    } catch {
      // Nothing mounted.
    }
    rmSync(dir, { recursive: true, force: true });
  };
}
