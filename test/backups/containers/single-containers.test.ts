import { execFileSync, spawnSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { rollpoint } from "../../helpers/cli.js";
import {
  answerOnceReady,
  cleanUp,
  cli,
  type Deployed,
  type EngineName,
  imageId,
  importImage,
  inspectContainer,
  uniqueName,
  volumePath,
} from "../../helpers/containers.js";
import { killHard, startPausedAt } from "../../helpers/paused.js";
import { rsyncDifferences, tempDir } from "../../helpers/tree.js";
import { freePort } from "../../setup/ports.js";

// Single containers by name, on the suite's own Podman and Docker Engine: each case is judged by
// `inspect`, the volume's files (rsync against a copy) and the container's answer.

interface App extends Deployed {
  engine: EngineName;
  name: string;
}

async function app(engine: EngineName): Promise<App> {
  const name = uniqueName("rp-app-");
  const image = uniqueName("rp-img-");
  const port = await freePort();
  const v1 = importImage(engine, `${image}:v1`, "v1", port);
  const v2 = importImage(engine, `${image}:v2`, "v2", port);
  const volume = `${name}-data`;
  cleanUp(engine, "container", name);
  cleanUp(engine, "volume", volume);
  cli(engine, [
    "run",
    "-d",
    "--name",
    name,
    "--network",
    "host",
    "-v",
    `${volume}:/data`,
    "-e",
    "MODE=old",
    "--label",
    "tier=web",
    `${image}:v1`,
  ]);
  cli(engine, [
    "exec",
    name,
    "sh",
    "-c",
    "echo 'row 1' > /data/table; mkdir /data/sub; echo s > /data/sub/f",
  ]);
  await answered(port, "v1");
  const pristine = join(await tempDir(), "pristine");
  execFileSync("cp", ["-a", volumePath(engine, volume), pristine]);
  return {
    engine,
    name,
    image,
    v1,
    v2,
    port,
    volume,
    pristine,
    store: join(await tempDir(), "store"),
    dir: await tempDir(),
  };
}

async function answered(port: number, body: string): Promise<void> {
  expect(await answerOnceReady(port, body)).toBe(body);
}

function manifest(a: App, extra: string, update: string, check = "v3"): string {
  const file = join(a.dir, "update.yaml");
  writeFileSync(
    file,
    `apiVersion: rollpoint/v1
name: ${a.name}
rollbackPoint:
  containers:
    - name: app
      engine: ${a.engine}
      containers: [${a.name}]
${extra}
steps:
  - id: update
    shell: |
${update
  .trim()
  .split("\n")
  .map((l) => `      ${l}`)
  .join("\n")}
  - id: version
    check: { command: [sh, -c, "wget -qO- http://127.0.0.1:${a.port}/ | grep -qx ${check}"], within: 2s }
`,
  );
  return file;
}

// The update as an operator would type it: replace the container with one of the new image and
// a new environment, and let it write into its volume.
const replace = (a: App) => `
${a.engine} rm -f ${a.name}
${a.engine} run -d --name ${a.name} --network host -v ${a.volume}:/data -e MODE=new ${a.image}:v2
${a.engine} exec ${a.name} sh -c "echo 'row 2' >> /data/table; rm -r /data/sub; echo x > /data/new"
`;

async function expectAsBefore(a: App): Promise<void> {
  const c = inspectContainer(a.engine, a.name)!;
  expect(c.Image.replace(/^(sha256:)?/, "sha256:")).toBe(a.v1);
  expect(c.Config.Env).toContain("MODE=old");
  expect(c.Config.Env).not.toContain("MODE=new");
  expect(c.Config.Labels?.tier).toBe("web");
  expect(c.State.Status).toBe("running");
  expect(await rsyncDifferences(a.pristine, volumePath(a.engine, a.volume))).toBe("");
  await answered(a.port, "v1");
}

describe("single containers", () => {
  it("on Podman, replaced by the update, are created again from their record (volumes read stopped)", async () => {
    const a = await app("podman");
    const run = await rollpoint([
      "--store",
      a.store,
      "run",
      manifest(a, "      consistent: stop", replace(a)),
    ]);
    expect(run.exitCode, run.stdout + run.stderr).toBe(1);
    expect(run.stdout).toContain("is as it was before the update: 1 container member");
    await expectAsBefore(a);
  });

  // Podman's containers are children of its monitor (conmon), which `podman run -d` leaves in
  // the step's cgroup and process tree: the step's containment killed it at the step's end, so
  // a committed update's new container was found exited (or, its process alive, stuck in
  // "stopping" at the next stop). Both containment modes.
  for (const containment of ["cgroup", "pgroup"] as const) {
    it(`on Podman, a container the update starts is still running after the commit, and rolls back later (${containment})`, async () => {
      const a = await app("podman");
      const straggler = `${3000 + Math.floor(Math.random() * 6000)}`;
      const env = { ...process.env, ROLLPOINT_CONTAINMENT: containment };
      const file = manifest(a, "", `${replace(a)}\nsleep ${straggler} &`, "v2");
      const run = await rollpoint(["--store", a.store, "run", file], { env });
      expect(run.exitCode, run.stdout + run.stderr).toBe(0);
      const c = inspectContainer("podman", a.name)!;
      expect(c.State.Status).toBe("running");
      expect(c.Image.replace(/^(sha256:)?/, "sha256:")).toBe(a.v2);
      await answered(a.port, "v2");
      // The rest of the step is still contained.
      expect(spawnSync("pgrep", ["-f", `sleep ${straggler}`]).status).toBe(1);
      const runId = /^run (r-\S+)/m.exec(run.stdout)![1]!;
      const back = await rollpoint(["--store", a.store, "rollback", runId], { env });
      expect(back.exitCode, back.stdout + back.stderr).toBe(0);
      await expectAsBefore(a);
    });
  }

  it("on Docker, come back with saveImages after the update deleted their image", async () => {
    const a = await app("docker");
    const update = `${replace(a)}\ndocker rmi -f ${a.v1}\n`;
    const run = await rollpoint([
      "--store",
      a.store,
      "run",
      manifest(a, "      saveImages: true", update),
    ]);
    expect(run.exitCode, run.stdout + run.stderr).toBe(1);
    await expectAsBefore(a);
    expect(imageId("docker", `${a.image}:v1`)).toBe(a.v1);
    // Pruning the point releases rollpoint's own reference to the image.
    const keeps = () =>
      cli("docker", ["images", "--format", "{{.Repository}}:{{.Tag}}"])
        .split("\n")
        .filter((r) => r.startsWith("rollpoint-keep:") && r.includes(a.v1.slice(7, 19)));
    expect(keeps().length).toBe(1);
    const pruned = await rollpoint(["--store", a.store, "backups", "prune", "--keep-last", "0"]);
    expect(pruned.exitCode, pruned.stdout + pruned.stderr).toBe(0);
    expect(keeps()).toEqual([]);
  });

  it("report a volume that something outside the member kept writing to, never 'as it was'", async () => {
    const a = await app("docker");
    const writer = uniqueName("rp-writer-");
    cleanUp("docker", "container", writer);
    const update = `${replace(a)}\ndocker run -d --name ${writer} --network none -v ${a.volume}:/data ${a.image}:v1 sh -c 'i=0; while :; do i=$((i+1)); echo $i > /data/busy; done'\n`;
    const run = await rollpoint(["--store", a.store, "run", manifest(a, "", update)]);
    expect(run.exitCode, run.stdout + run.stderr).toBe(2);
    expect(run.stdout).not.toContain("as it was");
    expect(run.stdout).toMatch(/busy/);
    expect(run.stdout).toContain(`volume ${a.volume}`);
  });

  it("killed while the point is taken, leave no reference of rollpoint's and no paused container", async () => {
    const a = await app("docker");
    const file = manifest(a, "", "true");
    // The volume's backup is the first to reach before-sync, the container member the second:
    // its images are tagged by then, and its row is not complete.
    const paused = await startPausedAt("backup:before-sync#2", ["--store", a.store, "run", file]);
    const keeps = () =>
      cli("docker", ["images", "--format", "{{.Repository}}:{{.Tag}}"])
        .split("\n")
        .filter((r) => r.startsWith("rollpoint-keep:") && r.includes(a.v1.slice(7, 19)));
    expect(keeps().length).toBe(1);
    paused.child.kill("SIGKILL");
    await paused.exited;
    const recovered = await rollpoint(["--store", a.store, "recover"]);
    expect(recovered.exitCode, recovered.stdout + recovered.stderr).toBe(0);
    expect(keeps()).toEqual([]);
    expect(inspectContainer("docker", a.name)!.State.Status).toBe("running");
    expect(imageId("docker", `${a.image}:v1`)).toBe(a.v1);
  });

  // The first before-sync is the volume's file backup: the member's containers are held (paused,
  // or stopped) to read it, and the runner dies there. The point was never taken: recover must
  // put the service back as it was, not leave it paused while saying "nothing was changed".
  for (const [engine, consistent, held] of [
    ["docker", "pause", "paused"],
    ["podman", "stop", "exited"],
  ] as const) {
    it(`on ${engine}, killed while the volumes are read (${consistent}), run again after recover`, async () => {
      const a = await app(engine);
      const file = manifest(a, `      consistent: ${consistent}`, "true");
      await killHard(
        await startPausedAt("backup:before-sync#1", ["--store", a.store, "run", file]),
      );
      expect(inspectContainer(engine, a.name)!.State.Status).toBe(held);
      const recovered = await rollpoint(["--store", a.store, "--json", "recover"]);
      expect(recovered.exitCode, recovered.stdout + recovered.stderr).toBe(0);
      expect(JSON.parse(recovered.stdout).recovered[0].outcome).toBe("notStarted");
      expect(inspectContainer(engine, a.name)!.State.Status).toBe("running");
      await answered(a.port, "v1");
      expect(await rsyncDifferences(a.pristine, volumePath(engine, a.volume))).toBe("");
    });
  }

  it("killed while the volumes are read, and the engine unreachable at recover: exit 2 naming what to type", async () => {
    const a = await app("docker");
    const file = manifest(a, "", "true");
    await killHard(await startPausedAt("backup:before-sync#1", ["--store", a.store, "run", file]));
    const recovered = await rollpoint(["--store", a.store, "recover"], {
      env: { ...process.env, DOCKER_HOST: `unix://${join(a.dir, "no-daemon.sock")}` },
    });
    try {
      expect(recovered.exitCode, recovered.stdout + recovered.stderr).toBe(2);
      const out = recovered.stdout + recovered.stderr;
      expect(out).not.toContain("nothing was changed");
      expect(out).toContain(`docker unpause ${a.name}`);
      expect(out).toContain("the run had no rollback point yet");
      expect(inspectContainer("docker", a.name)!.State.Status).toBe("paused");
    } finally {
      cli("docker", ["unpause", a.name]);
    }
    // The run is closed: the store is usable, nothing else is left of the dead point, and
    // `rollback` of the run refuses (there is no point to restore) instead of claiming one.
    const again = await rollpoint(["--store", a.store, "recover"]);
    expect(again.exitCode, again.stdout + again.stderr).toBe(0);
    const runId = /^(r-\S+)/.exec(recovered.stdout)![1]!;
    const rollback = await rollpoint(["--store", a.store, "rollback", runId]);
    expect(rollback.exitCode, rollback.stdout + rollback.stderr).toBe(3);
    expect(rollback.stderr).toContain("never had a rollback point");
  });

  it("on a host without the engine, fail preflight naming the package", async () => {
    const a = { dir: await tempDir(), name: "gone", engine: "podman" as const, port: 1 } as App;
    const file = manifest(a, "", "true");
    const plan = await rollpoint(["--store", join(a.dir, "store"), "plan", file], {
      env: { ...process.env, PATH: "/nonexistent" },
    });
    expect(plan.exitCode, plan.stdout + plan.stderr).toBe(4);
    expect(plan.stdout).toContain("podman is not installed: install the package podman");
  });
});
