import { spawnSync } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { execa } from "execa";
import { describe, expect, it } from "vitest";
import { rollpoint } from "../helpers/cli.js";
import { startHolder } from "../helpers/lock.js";
import { makeTree, tempDir, treeState } from "../helpers/tree.js";

const PLAYBOOK = join(process.cwd(), "contrib/ansible/rollout.yml");

/**
 * Four hosts for Ansible, each a root, a store and variables of its own on this machine
 * (connection local), and an update that fails its health check where `healthy` is not "yes".
 */
async function fleet(unhealthy: string[], undoFails: string[] = [], rollbackPoint = true) {
  const dir = await tempDir();
  const hosts = ["host1", "host2", "host3", "host4"];
  for (const host of hosts) {
    makeTree(join(dir, host), {
      "app/VERSION": "1.0\n",
      "app/app.conf": "workers=2\n",
      "app/bin/app": { content: "#!/bin/sh\necho 1.0\n", mode: 0o755 },
    });
  }
  const manifest = join(dir, "webapp.yaml");
  writeFileSync(
    manifest,
    `apiVersion: rollpoint/v1
name: webapp
vars: { root: /srv/webapp, healthy: "yes", undo: ok }
${rollbackPoint ? 'rollbackPoint:\n  files: ["${vars.root}/app"]\n' : ""}steps:
  - id: deploy
    shell: |
      echo 2.0 > \${vars.root}/app/VERSION
      echo workers=4 > \${vars.root}/app/app.conf
      rm \${vars.root}/app/bin/app
    undo: [test, "\${vars.undo}", "=", "ok"]
  - id: health
    check: { command: [test, "\${vars.healthy}", "=", "yes"], within: 1s, interval: 200ms }
`,
  );
  const inventory = join(dir, "inventory.json");
  writeFileSync(
    inventory,
    JSON.stringify({
      all: {
        vars: {
          ansible_connection: "local",
          ansible_python_interpreter: "/usr/bin/python3",
          rollpoint_command: ["node", join(process.cwd(), "dist/cli/main.js")],
          rollpoint_manifest: manifest,
        },
        hosts: Object.fromEntries(
          hosts.map((host) => [
            host,
            {
              rollpoint_store: join(dir, host, "store"),
              rollpoint_manifest_dest: join(dir, host, "webapp.yaml"),
              rollpoint_vars: {
                root: join(dir, host),
                healthy: unhealthy.includes(host) ? "no" : "yes",
                undo: undoFails.includes(host) ? "fails" : "ok",
              },
            },
          ]),
        ),
      },
    }),
  );
  const play = (...args: string[]) => {
    if (spawnSync("ansible-playbook", ["--version"]).error) {
      throw new Error("ansible-playbook is missing (Debian package ansible-core)");
    }
    return execa(
      "ansible-playbook",
      [
        "-i",
        inventory,
        PLAYBOOK,
        "-e",
        JSON.stringify({ rollpoint_serial: 1, rollpoint_summary_dir: join(dir, "summary") }),
        ...args,
      ],
      { reject: false, env: { ANSIBLE_NOCOLOR: "1", ANSIBLE_FORCE_COLOR: "0" }, all: true },
    );
  };
  const history = async (host: string) => {
    const result = await rollpoint(["--store", join(dir, host, "store"), "--json", "history"]);
    return JSON.parse(result.stdout).runs as { state: string; module: string }[];
  };
  return { dir, hosts, play, history, app: (host: string) => join(dir, host, "app") };
}

// ansible-playbook starts Python for every task on every host: a play of four hosts took 30 s on
// a quiet but slow machine and over 60 s with both cores busy. The timeout only guards a hang.
describe("contrib/ansible, with a real ansible-playbook", { timeout: 300_000 }, () => {
  it("rolls out host by host and stops at the first host that rolled back: 1–2 committed, 3 as it was, 4 untouched", async () => {
    const f = await fleet(["host3"]);
    const before = Object.fromEntries(f.hosts.map((h) => [h, treeState(f.app(h))]));
    const result = await f.play();
    expect(result.exitCode, result.all).not.toBe(0);

    for (const host of ["host1", "host2"]) {
      expect(readFileSync(join(f.app(host), "VERSION"), "utf8")).toBe("2.0\n");
      expect((await f.history(host)).map((r) => r.state)).toEqual(["committed"]);
    }
    expect(treeState(f.app("host3"))).toEqual(before.host3);
    expect((await f.history("host3")).map((r) => r.state)).toEqual(["rolledBack"]);
    expect(treeState(f.app("host4"))).toEqual(before.host4);
    expect(existsSync(join(f.dir, "host4", "store"))).toBe(false);
    expect(existsSync(join(f.dir, "host4", "webapp.yaml"))).toBe(false);

    // What the operator reads: who failed and how, and every host's outcome at the end.
    expect(result.all).toContain(
      "host3: the update failed; rolled back: everything in the rollback point is as it was before the update",
    );
    expect(result.all).toMatch(/host1: committed run r-\S+/);
    expect(result.all).toMatch(/host2: committed run r-\S+/);
    expect(result.all).toMatch(/host3: rolledBack run r-\S+/);
    expect(result.all).toContain("host4: not touched");
    expect(result.all).toMatch(/^host1\s+: ok=\d+\s+changed=\d+\s+unreachable=0\s+failed=0\s/m);
    expect(result.all).toMatch(/^host3\s+: ok=\d+\s+changed=\d+\s+unreachable=0\s+failed=1\s/m);
    expect(result.all).not.toMatch(/^host4\s+:/m);
  });

  it("--check runs rollpoint plan on every host and changes nothing", async () => {
    const f = await fleet([]);
    const before = Object.fromEntries(f.hosts.map((h) => [h, treeState(f.app(h))]));
    const result = await f.play("--check");
    expect(result.exitCode, result.all).toBe(0);
    expect(result.all).toContain("host4: plan ok, 2 steps");
    for (const host of f.hosts) {
      expect(treeState(f.app(host))).toEqual(before[host]);
      expect(existsSync(join(f.dir, host, "store", "catalog.db"))).toBe(false);
    }
  });

  it("says which host needs manual intervention (exit 2) and which was locked (exit 5)", async () => {
    const broken = await fleet(["host1"], ["host1"]);
    const result = await broken.play();
    expect(result.exitCode, result.all).not.toBe(0);
    expect(result.all).toMatch(/manual intervention on host1: rollbackFailed \(run r-\S+\)/);
    expect(result.all).toContain("host2: not touched");

    const locked = await fleet([]);
    const holder = await startHolder(join(locked.dir, "host1", "store"));
    try {
      const second = await locked.play();
      expect(second.exitCode, second.all).not.toBe(0);
      expect(second.all).toContain(
        `host1: not started, locked: store ${join(locked.dir, "host1", "store")} is locked by pid ${holder.pid}`,
      );
      expect(readFileSync(join(locked.app("host1"), "VERSION"), "utf8")).toBe("1.0\n");
    } finally {
      holder.child.kill("SIGKILL");
      await holder.exited;
    }
  });

  it("a rollback that read nothing back never says 'everything is as it was'", async () => {
    const f = await fleet(["host1"], [], false);
    const result = await f.play();
    expect(result.exitCode, result.all).not.toBe(0);
    expect(result.all).toContain(
      "host1: the update failed; rolled back: the undos ran; no rollback point protected anything, so nothing could be read back and compared",
    );
    expect(result.all).not.toContain("as it was before the update");
  });
});
