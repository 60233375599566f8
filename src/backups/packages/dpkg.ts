// dpkg and apt as their command lines give them: what is installed (dpkg-query), what an apt
// request would change (apt-get -s), and the changes themselves, always noninteractive.

import { execFile } from "node:child_process";
import { setTimeout as sleep } from "node:timers/promises";

const TIMEOUT_MS = 30 * 60_000;

/** dpkg and apt never ask: the old conffile is kept (the point restores conffiles itself). */
export const NONINTERACTIVE = {
  env: { ...process.env, DEBIAN_FRONTEND: "noninteractive", DEBCONF_NONINTERACTIVE_SEEN: "true" },
  dpkgOptions: ["--force-confdef", "--force-confold"],
};

export class DpkgFailed extends Error {
  /** What the command printed before it failed (dpkg-query lists the names it knows). */
  stdout = "";
}

/** How long a dpkg or apt call waits for the lock another dpkg holds. */
const LOCK_WAIT_MS = 10 * 60_000;
// dpkg's and apt's words for a lock held by another process (dpkg 1.21, apt 2.6).
const LOCKED =
  /lock(ed)? (was )?(held|locked) by another process|Could not get lock|is locked by another process/i;

/**
 * Run a dpkg or apt command, noninteractive. When another dpkg holds the lock (the dpkg of a
 * runner that was killed is still configuring a package: `recover` starts while it runs), wait
 * for it, up to ten minutes, rather than fail the restore on a lock that is about to be free.
 */
export async function tool(
  command: string,
  args: readonly string[],
  cwd?: string,
): Promise<string> {
  const until = Date.now() + LOCK_WAIT_MS;
  for (;;) {
    try {
      return await once(command, args, cwd);
    } catch (error) {
      if (!(error instanceof DpkgFailed) || !LOCKED.test(error.message) || Date.now() > until)
        throw error;
      await sleep(1000);
    }
  }
}

function once(command: string, args: readonly string[], cwd?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      command,
      [...args],
      {
        env: NONINTERACTIVE.env,
        maxBuffer: 64 * 2 ** 20,
        timeout: TIMEOUT_MS,
        killSignal: "SIGKILL",
        ...(cwd ? { cwd } : {}),
      },
      (error, stdout, stderr) => {
        if (!error) return resolve(stdout);
        const why =
          (error as { code?: unknown }).code === "ENOENT"
            ? "is not installed"
            : `failed: ${String(stderr).trim().split("\n").slice(-5).join(" / ") || error.message}`;
        const failed = new DpkgFailed(`${command} ${args.join(" ")} ${why}`, { cause: error });
        failed.stdout = String(stdout);
        reject(failed);
      },
    );
  });
}

/** A package as dpkg knows it now. `installed` means status "install ok installed". */
export interface PackageState {
  name: string;
  /** Empty when dpkg has no version of it (never installed, or purged). */
  version: string;
  architecture: string;
  /** dpkg's status: want, error flag and state, e.g. "install ok installed", "hold ok installed". */
  status: string;
  /** Installed and configured, whatever its selection ("install" or "hold"). */
  installed: boolean;
  /** dpkg's Installed-Size, in KiB (an estimate of its .deb's size, for preflight). */
  installedSize: number;
}

// A package held at its version is as installed as one that is not: the hold is its selection.
const INSTALLED = /^\S+ ok installed$/;

/** The selection (dpkg's "want": install, hold, deinstall, purge) in a status. */
export const selectionOf = (status: string): string => status.split(" ")[0] ?? "";

const FORMAT = "${Package}\\t${Version}\\t${Architecture}\\t${Status}\\t${Installed-Size}\\n";

/** The state of each name (one dpkg has never heard of: not installed, no version). */
export async function packageStates(names: readonly string[]): Promise<PackageState[]> {
  // All at once: dpkg-query exits 1 when one name is unknown, and lists the others anyway.
  let out = "";
  try {
    out = await tool("dpkg-query", ["-W", `-f=${FORMAT}`, ...names]);
  } catch (error) {
    if (!(error instanceof DpkgFailed) || /is not installed$/.test(error.message)) throw error;
    out = error.stdout;
  }
  const known = new Map(
    out
      .split("\n")
      .filter(Boolean)
      .map((line) => {
        const [name, version, architecture, status, size] = line.split("\t") as [
          string,
          string,
          string,
          string,
          string,
        ];
        return [
          name,
          {
            name,
            version,
            architecture,
            status,
            installed: INSTALLED.test(status),
            installedSize: Number(size) || 0,
          },
        ];
      }),
  );
  return names.map(
    (name) =>
      known.get(name) ?? {
        name,
        version: "",
        architecture: "",
        status: "not-installed",
        installed: false,
        installedSize: 0,
      },
  );
}

// Where Debian packages put systemd units; templates (name@.service) have no state of their own.
const UNIT_FILE = /^\/(?:usr\/)?lib\/systemd\/system\/([^/@]+\.(?:service|socket|timer))$/;

/** The systemd units the packages ship, each once, sorted. */
export async function unitsShippedBy(names: readonly string[]): Promise<string[]> {
  if (!names.length) return [];
  const out = await tool("dpkg-query", ["-L", ...names]);
  const units = new Set<string>();
  for (const line of out.split("\n")) {
    const unit = UNIT_FILE.exec(line.trim())?.[1];
    if (unit) units.add(unit);
  }
  return [...units].sort();
}

/** A package's conffiles that dpkg still tracks (obsolete ones left out). */
export async function conffilesOf(name: string): Promise<string[]> {
  const out = await tool("dpkg-query", ["-W", "-f=${Conffiles}\\n", name]);
  return out
    .split("\n")
    .map((l) => l.trim().split(/\s+/))
    .filter((f) => f[0]?.startsWith("/") && !f.includes("obsolete"))
    .map((f) => f[0]!);
}

/** What an apt request would install, upgrade, downgrade or remove: its simulation's names. */
export interface AptRequest {
  install?: string[];
  upgrade?: string[];
  remove?: string[];
}

export function aptArgs(request: AptRequest): string[][] {
  const runs: string[][] = [];
  if (request.install?.length) runs.push(["install", ...request.install]);
  if (request.upgrade?.length) runs.push(["install", "--only-upgrade", ...request.upgrade]);
  if (request.remove?.length) runs.push(["remove", ...request.remove]);
  return runs;
}

/** The packages `apt-get -s` says the request would touch, each with what it would do. */
export async function simulate(
  request: AptRequest,
): Promise<Array<{ name: string; action: "install" | "remove"; from?: string; to?: string }>> {
  const out: Array<{ name: string; action: "install" | "remove"; from?: string; to?: string }> = [];
  for (const args of aptArgs(request)) {
    const text = await tool("apt-get", ["-s", "-y", ...args]);
    for (const line of text.split("\n")) {
      const inst = /^Inst (\S+) (?:\[(\S+)\] )?\((\S+)/.exec(line);
      if (inst)
        out.push({
          name: inst[1]!,
          action: "install",
          ...(inst[2] ? { from: inst[2] } : {}),
          to: inst[3]!,
        });
      const remv = /^Remv (\S+)(?: \[(\S+)\])?/.exec(line);
      if (remv)
        out.push({ name: remv[1]!, action: "remove", ...(remv[2] ? { from: remv[2] } : {}) });
    }
  }
  return out;
}

/** apt's cache file name of a version (an epoch's colon is %3a there). */
export function cachedDebName(
  state: Pick<PackageState, "name" | "version" | "architecture">,
): string {
  return `${state.name}_${state.version.replace(/:/g, "%3a")}_${state.architecture}.deb`;
}
