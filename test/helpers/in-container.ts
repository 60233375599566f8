import { spawnSync } from "node:child_process";
import { join } from "node:path";

// Commands inside the suite's systemd container (test/setup/systemd-container.ts), as root there:
// its own dpkg and apt, and the built rollpoint (node and the project are bound into it).

/** The built CLI, at the same path inside the container. */
export const CLI = join(process.cwd(), "dist/cli/main.js");

/**
 * How a command enters the container: in all its namespaces (its network is private: no route
 * out), or in all but the network's, for the one test that needs Debian's archive.
 */
export type Network = "private" | "host";

/** `nsenter` argv that runs `args` in the container, with a clean environment plus `env`. */
export function enter(args: string[], env: string[] = [], network: Network = "private"): string[] {
  const pid = process.env.ROLLPOINT_TEST_SYSTEMD_PID;
  if (!pid)
    throw new Error("this test needs the real systemd container (ROLLPOINT_TEST_SYSTEMD=none?)");
  const clean = ["PATH=/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/root", "LC_ALL=C", ...env];
  const namespaces = network === "private" ? ["-a"] : ["-m", "-u", "-i", "-p", "-C"];
  return ["-t", pid, ...namespaces, "--", "env", "-i", ...clean, ...args];
}

/** Run `args` in the container; never throws. */
export function inContainer(
  args: string[],
  network: Network = "private",
): { exitCode: number; stdout: string; stderr: string } {
  const result = spawnSync("nsenter", enter(args, [], network), {
    encoding: "utf8",
    maxBuffer: 64 * 2 ** 20,
  });
  return { exitCode: result.status ?? -1, stdout: result.stdout, stderr: result.stderr };
}

/** Run `args` in the container; its stdout, or an error saying what it printed. */
export function must(args: string[], network: Network = "private"): string {
  const r = inContainer(args, network);
  if (r.exitCode !== 0)
    throw new Error(`${args.join(" ")}: exit ${r.exitCode}\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

/** Versions and statuses as dpkg-query says, one line per name. */
export function dpkgState(names: string[]): Record<string, string> {
  const r = inContainer(["dpkg-query", "-W", "-f=${Package} ${Version} ${Status}\\n", ...names]);
  const out: Record<string, string> = Object.fromEntries(names.map((n) => [n, "unknown"]));
  for (const line of r.stdout.split("\n").filter(Boolean)) {
    const [name, version, ...status] = line.split(" ");
    out[name!] = `${version} ${status.join(" ")}`.trim();
  }
  return out;
}

/**
 * `apt-get update` of the one source list `list` (a path in the container): a test's own `file:`
 * repository, never the distribution's lists, and the other lists' files kept.
 */
export function aptUpdateOf(list: string): void {
  must([
    "apt-get",
    "update",
    "-o",
    `Dir::Etc::sourcelist=${list}`,
    "-o",
    "Dir::Etc::sourceparts=-",
    "-o",
    "APT::Get::List-Cleanup=0",
  ]);
}
