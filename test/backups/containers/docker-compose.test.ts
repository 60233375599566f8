import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { rollpoint } from "../../helpers/cli.js";
import {
  answerOnceReady,
  cleanUp,
  cli,
  type Deployed,
  imageId,
  importImage,
  inspectContainer,
  serve,
  uniqueName,
  volumePath,
} from "../../helpers/containers.js";
import { startPausedAt } from "../../helpers/paused.js";
import { rsyncDifferences, tempDir } from "../../helpers/tree.js";
import { freePort } from "../../setup/ports.js";

// A compose project on the suite's own Docker Engine, updated as a self-hoster does it (a new
// image under the same tag, a changed environment, `up -d`, a service added, the app writing
// into its volume) and judged by docker inspect, the volume's files and the app's answer.

interface Shop extends Deployed {
  project: string;
  compose: string;
  manifest: string;
}

function composeFile(image: string, port: number, greeting: string, worker = false): string {
  const service = (name: string, p: number) => `  ${name}:
    image: ${image}:latest
    network_mode: host
    environment:
      GREETING: ${greeting}
    volumes:
      - data:/data
    command: ["/bin/sh", "-c", ${JSON.stringify(serve(p))}]
`;
  return `services:\n${service("web", port)}${worker ? service("worker", port + 1) : ""}volumes:\n  data: {}\n`;
}

async function shop(check: string): Promise<Shop> {
  const project = uniqueName("rpshop");
  const dir = join(await tempDir(), project);
  mkdirSync(dir);
  const image = uniqueName("rp-shop-");
  const port = await freePort();
  const v1 = importImage("docker", `${image}:v1`, "v1", port);
  const v2 = importImage("docker", `${image}:v2`, "v2", port);
  cli("docker", ["tag", `${image}:v1`, `${image}:latest`]);
  cleanUp("docker", "image", `${image}:latest`);
  const compose = join(dir, "compose.yaml");
  writeFileSync(compose, composeFile(image, port, "hello"));
  cli("docker-compose", ["up", "-d"], { cwd: dir });
  for (const c of [`${project}_web_1`, `${project}_worker_1`]) cleanUp("docker", "container", c);
  const volume = `${project}_data`;
  cleanUp("docker", "volume", volume);
  expect(await answerOnceReady(port, "v1")).toBe("v1");
  cli("docker", [
    "exec",
    `${project}_web_1`,
    "sh",
    "-c",
    "echo 'order 1' > /data/orders.txt; mkdir /data/cache; echo x > /data/cache/a",
  ]);
  const pristine = join(await tempDir(), "pristine");
  execFileSync("cp", ["-a", volumePath("docker", volume), pristine]);
  const store = join(await tempDir(), "store");
  const manifest = join(dir, "update.yaml");
  writeFileSync(join(dir, "compose.v2.yaml"), composeFile(image, port, "bonjour", true));
  writeFileSync(
    manifest,
    `apiVersion: rollpoint/v1
name: ${project}
rollbackPoint:
  containers:
    - name: shop
      engine: docker
      compose: ${compose}
steps:
  - id: pull-and-up
    shell: |
      cd ${dir}
      docker tag ${image}:v2 ${image}:latest
      cp compose.v2.yaml compose.yaml
      docker-compose up -d
      docker exec ${project}_web_1 sh -c "echo 'order 2' >> /data/orders.txt; rm -r /data/cache; echo new > /data/added"
  - id: health
    check: { http: "http://127.0.0.1:${port}/", status: 200, within: 5s }
  - id: version
    check: { command: [sh, -c, "wget -qO- http://127.0.0.1:${port}/ | grep -qx ${check}"], within: 2s }
`,
  );
  return { dir, project, compose, image, v1, v2, port, volume, pristine, store, manifest };
}

async function expectAsBefore(s: Shop, composeBefore: string): Promise<void> {
  const web = inspectContainer("docker", `${s.project}_web_1`)!;
  expect(web.Image).toBe(s.v1);
  expect(web.Config.Image).toBe(`${s.image}:latest`);
  expect(web.Config.Env).toContain("GREETING=hello");
  expect(web.State.Status).toBe("running");
  expect(inspectContainer("docker", `${s.project}_worker_1`)).toBeUndefined();
  expect(imageId("docker", `${s.image}:latest`)).toBe(s.v1);
  expect(readFileSync(s.compose, "utf8")).toBe(composeBefore);
  expect(await rsyncDifferences(s.pristine, volumePath("docker", s.volume))).toBe("");
  expect(await answerOnceReady(s.port, "v1")).toBe("v1");
}

describe("a docker compose project", () => {
  it("comes back whole when the update fails: image, environment, added service, volume, compose file", async () => {
    const s = await shop("v3");
    const before = readFileSync(s.compose, "utf8");
    const run = await rollpoint(["--store", s.store, "run", s.manifest]);
    expect(run.exitCode, run.stdout + run.stderr).toBe(1);
    expect(run.stdout).toContain(
      "rolled back: everything in the rollback point is as it was before the update: 1 container member",
    );
    await expectAsBefore(s, before);
    // What the point held, as `backups show` tells it.
    const list = await rollpoint([
      "--store",
      s.store,
      "--json",
      "backups",
      "list",
      "--type",
      "container",
    ]);
    const [backup] = JSON.parse(list.stdout).backups as Array<{ backupId: string }>;
    const shown = await rollpoint(["--store", s.store, "backups", "show", backup!.backupId]);
    expect(shown.stdout).toContain(`container ${s.project}_web_1`);
    expect(shown.stdout).toContain(`${s.image}:latest → ${s.v1.slice(7, 19)}`);
    expect(shown.stdout).toContain(`volume    ${s.volume}`);
  });

  it("is rolled back later, after a committed run, by `rollpoint rollback <run>`", async () => {
    const s = await shop("v2");
    const before = readFileSync(s.compose, "utf8");
    const run = await rollpoint(["--store", s.store, "--json", "run", s.manifest]);
    expect(run.exitCode, run.stdout + run.stderr).toBe(0);
    const runId = (JSON.parse(run.stdout) as { runId: string }).runId;
    expect(inspectContainer("docker", `${s.project}_web_1`)!.Image).toBe(s.v2);
    expect(inspectContainer("docker", `${s.project}_worker_1`)).toBeDefined();
    const back = await rollpoint(["--store", s.store, "rollback", runId]);
    expect(back.exitCode, back.stdout + back.stderr).toBe(0);
    await expectAsBefore(s, before);
  });

  it("is put back by `recover` after the runner is killed in the middle of the container restore", async () => {
    const s = await shop("v3");
    const before = readFileSync(s.compose, "utf8");
    const paused = await startPausedAt("containers:recreate", [
      "--store",
      s.store,
      "run",
      s.manifest,
    ]);
    paused.child.kill("SIGKILL");
    await paused.exited;
    // Killed with the volume restored and the tag moved back, the new container still there.
    expect(inspectContainer("docker", `${s.project}_worker_1`)).toBeDefined();
    const recovered = await rollpoint(["--store", s.store, "--json", "recover"]);
    expect(recovered.exitCode, recovered.stdout + recovered.stderr).toBe(0);
    expect(recovered.stdout).toContain("rolledBack");
    await expectAsBefore(s, before);
  });
});
