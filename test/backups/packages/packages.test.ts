import { spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { buildDeb, writeIndex } from "../../helpers/debs.js";
import {
  aptUpdateOf,
  CLI,
  dpkgState,
  enter,
  inContainer,
  must,
} from "../../helpers/in-container.js";
import { realSystemd } from "../../helpers/systemd.js";
import { until } from "../../helpers/wait.js";

// Debian packages in the suite's systemd container (real dpkg and apt), from a local apt
// repository of packages built here; rollpoint itself runs inside the container (node and the
// project are bound into it). Judged by dpkg-query, dpkg --audit and the files' bytes.

const sources: string[] = [];
const installed: string[] = [];
afterEach(() => {
  if (installed.length) inContainer(["dpkg", "--purge", ...installed.splice(0)]);
  for (const file of sources.splice(0)) rmSync(file, { force: true });
});

/** The package's daemon and its unit: it notes the version it started as, then waits. */
function service(app: string, version: string): Record<string, string> {
  return {
    [`/usr/bin/${app}`]: `#!/bin/sh\necho ${version} > /run/${app}.version\nexec sleep infinity\n`,
    [`/usr/lib/systemd/system/${app}.service`]: `[Service]\nExecStart=/bin/sh /usr/bin/${app}\n`,
  };
}

const units: string[] = [];
afterEach(() => {
  for (const unit of units.splice(0)) inContainer(["systemctl", "stop", unit]);
});

async function shop() {
  const sys = await realSystemd();
  const id = randomBytes(3).toString("hex");
  const app = `rp${id}-app`;
  const lib = `rp${id}-lib`;
  const old = `rp${id}-old`;
  const conf = `/etc/${app}/app.conf`;
  const repo = join(sys.dir, "repo");
  mkdirSync(repo);
  const debs = [
    buildDeb(repo, {
      name: app,
      version: "1.0",
      files: {
        [`/usr/share/${app}/version`]: "1.0\n",
        [conf]: "mode=one\n",
        ...service(app, "1.0"),
      },
      conffiles: [conf],
      // Slow to configure when a test asks (the lock case): it says when it starts.
      postinst: `#!/bin/sh\nif [ "$1" = configure ] && [ -e /run/${app}.slow ]; then touch /run/${app}.configuring; sleep 8; fi\nexit 0\n`,
    }),
    buildDeb(repo, { name: old, version: "1.0", files: { [`/usr/share/${old}/data`]: "old\n" } }),
    buildDeb(repo, { name: lib, version: "1.0", files: { [`/usr/share/${lib}/lib`]: "lib\n" } }),
    buildDeb(repo, {
      name: app,
      version: "2.0",
      depends: [lib],
      conflicts: [old],
      files: {
        [`/usr/share/${app}/version`]: "2.0\n",
        [conf]: "mode=two\n",
        ...service(app, "2.0"),
        // A unit only 2.0 ships: the rollback stops it before its file goes.
        [`/usr/lib/systemd/system/${app}-worker.service`]:
          "[Service]\nExecStart=/bin/sleep infinity\n",
      },
      conffiles: [conf],
    }),
  ];
  // 2.1's postinst fails half-way: dpkg leaves it half-configured.
  debs.push(
    buildDeb(repo, {
      name: app,
      version: "2.1",
      depends: [lib],
      files: {
        [`/usr/share/${app}/version`]: "2.1\n",
        [conf]: "mode=two\n",
        ...service(app, "2.1"),
      },
      conffiles: [conf],
      postinst: "#!/bin/sh\necho configuring >&2\nexit 1\n",
    }),
  );
  writeIndex(repo, debs);
  const list = `/etc/apt/sources.list.d/${app}.list`;
  writeFileSync(sys.inside(list), `deb [trusted=yes] file:${repo} ./\n`);
  sources.push(sys.inside(list));
  const update = () => aptUpdateOf(list);
  update();
  installed.push(app, lib, old);
  must(["apt-get", "install", "-y", `${app}=1.0`, `${old}=1.0`]);
  // The admin's own edit: a rollback must keep it, not the package's default.
  writeFileSync(sys.inside(conf), "mode=one\nadmin=yes\n");
  return { sys, app, lib, old, conf, repo, debs, update, store: join(sys.dir, "store") };
}

function manifest(
  s: Awaited<ReturnType<typeof shop>>,
  to = "",
  check = "3.0",
  more: string[] = [],
): string {
  const file = join(s.sys.dir, "upgrade.yaml");
  writeFileSync(
    file,
    `apiVersion: rollpoint/v1
name: ${s.app}
rollbackPoint:
  packages: [${s.app}]
steps:
  - id: upgrade
    apt: { ${to ? `install: ["${s.app}=${to}"]` : `upgrade: [${s.app}]`} }
${more.map((l) => `${l}\n`).join("")}  - id: version
    check: { command: [grep, -qx, "${check}", /usr/share/${s.app}/version], once: true }
`,
  );
  return file;
}

describe("Debian packages", () => {
  it("an upgrade that pulls in a library and removes a package, rolled back: versions, statuses, files, the admin's conffile", async () => {
    const s = await shop();
    const plan = inContainer([
      "/usr/bin/node",
      CLI,
      "--store",
      s.store,
      "plan",
      manifest(s, "2.0"),
    ]);
    expect(plan.exitCode, plan.stdout + plan.stderr).toBe(0);
    expect(plan.stdout).toContain(`upgrade ${s.app} 1.0 → 2.0`);
    expect(plan.stdout).toContain(`install ${s.lib}`);
    expect(plan.stdout).toContain(`remove ${s.old}`);
    const run = inContainer(["/usr/bin/node", CLI, "--store", s.store, "run", manifest(s, "2.0")]);
    expect(run.exitCode, run.stdout + run.stderr).toBe(1);
    expect(run.stdout).toMatch(/Unpacking .*2\.0/);
    expect(run.stdout).toContain("is as it was before the update");
    expect(dpkgState([s.app, s.lib, s.old])).toEqual({
      [s.app]: "1.0 install ok installed",
      [s.lib]: "unknown",
      [s.old]: "1.0 install ok installed",
    });
    expect(readFileSync(s.sys.inside(`/usr/share/${s.app}/version`), "utf8")).toBe("1.0\n");
    expect(readFileSync(s.sys.inside(s.conf), "utf8")).toBe("mode=one\nadmin=yes\n");
    expect(must(["dpkg", "--audit"]).trim()).toBe("");
  });

  it("a maintainer script that fails half-way: rolled back with nothing half-configured", async () => {
    const s = await shop();
    const run = inContainer(["/usr/bin/node", CLI, "--store", s.store, "run", manifest(s, "2.1")]);
    expect(run.exitCode, run.stdout + run.stderr).toBe(1);
    expect(run.stdout).toMatch(/post-installation script .*returned error exit status 1/);
    expect(dpkgState([s.app, s.lib])).toEqual({
      [s.app]: "1.0 install ok installed",
      [s.lib]: "unknown",
    });
    expect(must(["dpkg", "--audit"]).trim()).toBe("");
    expect(readFileSync(s.sys.inside(s.conf), "utf8")).toBe("mode=one\nadmin=yes\n");
  });

  it("a held package the update released and upgraded: back at 1.0 and held again", async () => {
    const s = await shop();
    must(["apt-mark", "hold", s.app]);
    expect(dpkgState([s.app])[s.app]).toBe("1.0 hold ok installed");
    const file = join(s.sys.dir, "held.yaml");
    writeFileSync(
      file,
      `apiVersion: rollpoint/v1
name: ${s.app}
rollbackPoint:
  packages: [${s.app}, ${s.lib}, ${s.old}]
steps:
  - id: release
    run: [apt-mark, unhold, ${s.app}]
  - id: upgrade
    run: [apt-get, install, -y, -o, "Dpkg::Options::=--force-confold", "${s.app}=2.0"]
    env: { DEBIAN_FRONTEND: noninteractive }
  - id: version
    check: { command: [grep, -qx, "3.0", /usr/share/${s.app}/version], once: true }
`,
    );
    const run = inContainer(["/usr/bin/node", CLI, "--store", s.store, "run", file]);
    expect(run.exitCode, run.stdout + run.stderr).toBe(1);
    expect(dpkgState([s.app, s.lib, s.old])).toEqual({
      [s.app]: "1.0 hold ok installed",
      [s.lib]: "unknown",
      [s.old]: "1.0 install ok installed",
    });
    expect(must(["apt-mark", "showhold"]).split("\n")).toContain(s.app);
    must(["apt-mark", "unhold", s.app]);
  });

  it("a committed upgrade, rolled back later by `rollpoint rollback <run>`", async () => {
    const s = await shop();
    const run = inContainer([
      "/usr/bin/node",
      CLI,
      "--store",
      s.store,
      "--json",
      "run",
      manifest(s, "2.0", "2.0"),
    ]);
    expect(run.exitCode, run.stdout + run.stderr).toBe(0);
    expect(dpkgState([s.app])[s.app]).toBe("2.0 install ok installed");
    const { runId, pointId } = JSON.parse(run.stdout) as { runId: string; pointId: string };
    const cli = (args: string[]) =>
      inContainer(["/usr/bin/node", CLI, "--store", s.store, ...args]);
    // The kept .debs and conffiles hash as stored; a dry run names each package that differs
    // and changes nothing.
    const verify = cli(["backups", "verify"]);
    expect(verify.exitCode, verify.stdout + verify.stderr).toBe(0);
    const dry = cli(["backups", "restore", "--dry-run", pointId]);
    expect(dry.exitCode, dry.stdout + dry.stderr).toBe(0);
    const lines = dry.stdout.trim().split("\n");
    expect(lines).toContain(
      `  ${s.app} is 2.0 (install ok installed), recorded 1.0 (install ok installed)`,
    );
    expect(lines).toContain(`  ${s.lib} is 1.0 (install ok installed), recorded not-installed`);
    expect(lines.at(-1)).toBe("dry run: nothing was changed");
    expect(dpkgState([s.app])[s.app]).toBe("2.0 install ok installed");
    const back = cli(["rollback", runId]);
    expect(back.exitCode, back.stdout + back.stderr).toBe(0);
    expect(dpkgState([s.app, s.lib, s.old])).toEqual({
      [s.app]: "1.0 install ok installed",
      [s.lib]: "unknown",
      [s.old]: "1.0 install ok installed",
    });
    expect(must(["dpkg", "--audit"]).trim()).toBe("");
  });

  it("the runner killed during the reinstall: `recover` finishes it", async () => {
    const s = await shop();
    const file = manifest(s, "2.0");
    const child = spawn(
      "nsenter",
      enter(
        ["/usr/bin/node", CLI, "--store", s.store, "run", file],
        ["ROLLPOINT_PAUSE_AT=packages:reinstall"],
      ),
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    let seen = "";
    await new Promise<void>((resolve, reject) => {
      const look = (c: Buffer) => {
        seen += c.toString();
        if (seen.includes("paused at packages:reinstall")) resolve();
      };
      child.stdout.on("data", look);
      child.stderr.on("data", look);
      child.once("exit", () => reject(new Error(`exited before the pause:\n${seen}`)));
    });
    // The runner itself (in the container's PID namespace, seen from here), not nsenter.
    spawnSync("pkill", ["-KILL", "-f", `${CLI} --store ${s.store} run ${file}`]);
    await new Promise((resolve) => child.once("exit", resolve));
    // Killed after the update's library was purged, before 1.0 was put back.
    expect(dpkgState([s.app])[s.app]).toMatch(/^2\.0 /);
    const recovered = inContainer(["/usr/bin/node", CLI, "--store", s.store, "--json", "recover"]);
    expect(recovered.exitCode, recovered.stdout + recovered.stderr).toBe(0);
    expect(recovered.stdout).toContain("rolledBack");
    expect(dpkgState([s.app, s.lib, s.old])).toEqual({
      [s.app]: "1.0 install ok installed",
      [s.lib]: "unknown",
      [s.old]: "1.0 install ok installed",
    });
    expect(must(["dpkg", "--audit"]).trim()).toBe("");
  });

  it("the service the package ships (not listed under services) runs the 1.0 program again after the rollback", async () => {
    const s = await shop();
    units.push(`${s.app}.service`);
    must(["systemctl", "daemon-reload"]);
    must(["systemctl", "start", `${s.app}.service`]);
    // A simple service is "started" once forked: its program writes its version a moment later.
    const runsVersion = (v: string) =>
      until(`${s.app} to write ${v.trim()}`, () => {
        try {
          return readFileSync(s.sys.inside(`/run/${s.app}.version`), "utf8") === v;
        } catch {
          return false;
        }
      });
    await runsVersion("1.0\n");
    // Only a start of the program after the rollback writes its version again.
    writeFileSync(s.sys.inside(`/run/${s.app}.version`), "stale\n");
    const run = inContainer([
      "/usr/bin/node",
      CLI,
      "--store",
      s.store,
      "run",
      manifest(s, "2.0", "3.0", ["  - id: worker", `    service: { start: [${s.app}-worker] }`]),
    ]);
    expect(run.exitCode, run.stdout + run.stderr).toBe(1);
    expect(run.stdout).toContain("is as it was before the update: 1 package set, 1 unit");
    expect(run.stdout).toContain(`stopped ${s.app}-worker.service (the update's)`);
    expect(inContainer(["systemctl", "is-active", `${s.app}-worker.service`]).stdout.trim()).toBe(
      "inactive",
    );
    expect(dpkgState([s.app])[s.app]).toBe("1.0 install ok installed");
    expect(inContainer(["systemctl", "is-active", `${s.app}.service`]).stdout.trim()).toBe(
      "active",
    );
    // Started again after the packages came back, as the 1.0 program.
    await runsVersion("1.0\n");
  });

  it("the installed .deb gone from the repository and apt's cache: rebuilt with dpkg-repack, restored exactly", async () => {
    const s = await shop();
    const gone = s.debs.find((d) => d.startsWith(`${s.app}_1.0_`))!;
    rmSync(join(s.repo, gone));
    writeIndex(
      s.repo,
      s.debs.filter((d) => d !== gone),
    );
    s.update();
    const run = inContainer(["/usr/bin/node", CLI, "--store", s.store, "run", manifest(s, "2.0")]);
    expect(run.exitCode, run.stdout + run.stderr).toBe(1);
    expect(dpkgState([s.app, s.lib])).toEqual({
      [s.app]: "1.0 install ok installed",
      [s.lib]: "unknown",
    });
    expect(readFileSync(s.sys.inside(`/usr/share/${s.app}/version`), "utf8")).toBe("1.0\n");
    // Every file dpkg recorded for 1.0, as it recorded it (the admin's conffile aside).
    const verify = inContainer(["dpkg", "--verify", s.app])
      .stdout.split("\n")
      .filter((l) => l && !/ c /.test(l));
    expect(verify).toEqual([]);
    const list = inContainer([
      "/usr/bin/node",
      CLI,
      "--store",
      s.store,
      "--json",
      "backups",
      "list",
      "--type",
      "package",
    ]);
    const [backup] = JSON.parse(list.stdout).backups as Array<{ backupId: string }>;
    const shown = inContainer([
      "/usr/bin/node",
      CLI,
      "--store",
      s.store,
      "backups",
      "show",
      backup!.backupId,
    ]);
    expect(shown.stdout).toMatch(new RegExp(`package ${s.app} +1\\.0 .*\\(\\.deb from repack\\)`));
  });

  it("recover waits for the dpkg that a killed runner left configuring, then finishes the rollback", async () => {
    const s = await shop();
    writeFileSync(s.sys.inside(`/run/${s.app}.slow`), "");
    const file = manifest(s, "2.0");
    const child = spawn("nsenter", enter(["/usr/bin/node", CLI, "--store", s.store, "run", file]), {
      stdio: "ignore",
    });
    const exited = new Promise((resolve) => child.once("exit", resolve));
    await until("the rollback's dpkg to configure 1.0", () =>
      existsSync(s.sys.inside(`/run/${s.app}.configuring`)),
    );
    spawnSync("pkill", ["-KILL", "-f", `${CLI} --store ${s.store} run ${file}`]);
    await exited;
    // The runner is gone; its dpkg is not, and holds dpkg's lock.
    expect(spawnSync("pgrep", ["-f", "dpkg --install --force-confdef"]).status).toBe(0);
    const recovered = inContainer(["/usr/bin/node", CLI, "--store", s.store, "--json", "recover"]);
    expect(recovered.exitCode, recovered.stdout + recovered.stderr).toBe(0);
    expect(recovered.stdout).toContain("rolledBack");
    expect(dpkgState([s.app, s.lib, s.old])).toEqual({
      [s.app]: "1.0 install ok installed",
      [s.lib]: "unknown",
      [s.old]: "1.0 install ok installed",
    });
    expect(must(["dpkg", "--audit"]).trim()).toBe("");
  });
});

// A real Debian package from Debian's own archive, in this file because the two share the
// container's dpkg and apt locks (files run in parallel, tests of one file in turn). This test
// needs the registry (deb.debian.org) and fails when it cannot be reached: never skipped. Its
// commands share the host's network (the container's own has no route out). tzdata is put at the
// oldest version bookworm's suites offer and apt's cache emptied, so that rollpoint must keep the
// old .deb by downloading that exact version; then upgraded to the newest, a check fails, and the
// rollback must bring the old one back.

const apt = (args: string[]) => must(["apt-get", "-o", "Dir::Etc::sourceparts=-", ...args], "host");

describe("a package from Debian's archive", () => {
  it("tzdata upgraded to the newest version bookworm offers, rolled back to the oldest", async () => {
    const sys = await realSystemd();
    const list = "/etc/apt/sources.list.d/rp-debian.list";
    writeFileSync(
      sys.inside(list),
      [
        "deb http://deb.debian.org/debian bookworm main",
        "deb http://deb.debian.org/debian bookworm-updates main",
        "deb http://deb.debian.org/debian-security bookworm-security main",
        "",
      ].join("\n"),
    );
    sources.push(sys.inside(list));
    const from = ["-o", `Dir::Etc::sourcelist=${list}`];
    const update = apt([...from, "update"]);
    expect(update, "deb.debian.org answers").not.toMatch(/^(Err|W):/m);
    const versions = must(["apt-cache", "madison", "tzdata"])
      .split("\n")
      .map((line) => line.split("|")[1]?.trim())
      .filter((v): v is string => Boolean(v));
    const sorted = [...new Set(versions)].sort((a, b) =>
      inContainer(["dpkg", "--compare-versions", a, "lt", b]).exitCode === 0 ? -1 : 1,
    );
    expect(sorted.length, `two versions of tzdata to move between: ${versions}`).toBeGreaterThan(1);
    const oldest = sorted[0]!;
    const newest = sorted.at(-1)!;
    apt([...from, "install", "-y", "--allow-downgrades", `tzdata=${oldest}`]);
    apt(["clean"]);
    const before = dpkgState(["tzdata"]).tzdata!;
    expect(before).toBe(`${oldest} install ok installed`);
    const zone = () => must(["sha256sum", "/usr/share/zoneinfo/Europe/Paris"]);
    const zoneBefore = zone();
    const store = join(sys.dir, "store");
    const manifest = join(sys.dir, "tzdata.yaml");
    writeFileSync(
      manifest,
      `apiVersion: rollpoint/v1
name: tzdata
rollbackPoint:
  packages: [tzdata]
steps:
  - id: upgrade
    apt: { upgrade: [tzdata] }
  - id: refuse
    check: { command: ["false"], once: true }
`,
    );
    const run = inContainer(["/usr/bin/node", CLI, "--store", store, "run", manifest], "host");
    expect(run.exitCode, run.stdout + run.stderr).toBe(1);
    expect(run.stdout).toContain(`Unpacking tzdata (${newest})`);
    expect(run.stdout).toContain("is as it was before the update: 1 package set");
    expect(dpkgState(["tzdata"]).tzdata).toBe(before);
    expect(zone()).toBe(zoneBefore);
    expect(must(["dpkg", "--audit"]).trim()).toBe("");
    expect(inContainer(["dpkg", "--verify", "tzdata"]).stdout.trim()).toBe("");
    // The old .deb was in no cache: the point kept it by downloading that exact version.
    const cli = (args: string[]) => must(["/usr/bin/node", CLI, "--store", store, ...args]);
    const [backup] = JSON.parse(cli(["--json", "backups", "list", "--type", "package"]))
      .backups as Array<{ backupId: string }>;
    expect(cli(["backups", "show", backup!.backupId])).toMatch(
      new RegExp(`package tzdata +${oldest.replace(/[.+]/g, "\\$&")} .*\\(\\.deb from download\\)`),
    );
  });
});
