import { execFileSync, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { statfsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { CLI, rollpoint } from "../helpers/cli.js";
import { loopFileSystem } from "../helpers/loop-fs.js";
import { objectCount } from "../helpers/store.js";
import { makeTree, tempDir, treeState } from "../helpers/tree.js";
import { appUpdate } from "../helpers/update.js";

describe.runIf(process.getuid?.() === 0)("a store whose disk fills up", () => {
  it("during the rollback point: exit 4, nothing of the point left, verify 0, and the next run works", async () => {
    const mnt = await loopFileSystem("ext4", 32);
    const store = join(mnt, "store");
    const dir = await tempDir();
    const app = join(dir, "app");
    const spec: Record<string, Buffer> = {};
    for (let i = 0; i < 200; i++) spec[`d${i % 10}/f${i}.bin`] = randomBytes(16 * 1024);
    makeTree(app, spec);
    const before = treeState(app);
    const manifest = join(dir, "m.yaml");
    writeFileSync(
      manifest,
      `apiVersion: rollpoint/v1\nname: app\nrollbackPoint: { files: [${app}] }\nsteps:\n  - { id: touch, run: [touch, ${app}/touched] }\n`,
    );
    // Preflight passes (there is room); then, while the run is parked after the rollback point's
    // first object, the disk is filled to within 256 kB, and the point runs out of space.
    const go = join(dir, "go");
    const child = spawn(process.execPath, [CLI, "--store", store, "run", manifest], {
      env: {
        ...process.env,
        ROLLPOINT_DEBUG: "1",
        ROLLPOINT_PAUSE_AT: "backup:object#1",
        ROLLPOINT_PAUSE_UNTIL: go,
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    const paused = new Promise<void>((resolve) => {
      const seen = (c: Buffer) => {
        out += c.toString();
        if (out.includes("paused at")) resolve();
      };
      child.stdout.on("data", seen);
      child.stderr.on("data", seen);
    });
    const exited = new Promise<number | null>((resolve) => child.once("exit", resolve));
    await paused;
    const fs = statfsSync(mnt);
    const filler = join(mnt, "filler");
    execFileSync("fallocate", ["-l", String(fs.bavail * fs.bsize - 256 * 1024), filler]);
    writeFileSync(go, "");
    expect(await exited, out).toBe(4);
    expect(out).toContain("no space left on device");
    expect(out).toContain("not started: nothing was changed");
    expect(treeState(app)).toEqual(before);
    // Nothing of the failed point is left, and the store is consistent and usable.
    expect(objectCount(store)).toBe(0);
    const verify = await rollpoint(["--store", store, "backups", "verify"]);
    expect(verify.exitCode, verify.stdout + verify.stderr).toBe(0);
    const list = await rollpoint(["--store", store, "backups", "list"]);
    expect(list.stdout).toBe("no backups");
    execFileSync("rm", [filler]);
    const again = await rollpoint(["--store", store, "run", manifest]);
    expect(again.exitCode, again.stdout + again.stderr).toBe(0);
  });

  it("filled by a step: the rollback still runs and is recorded (the store's reserve)", async () => {
    const mnt = await loopFileSystem("ext4", 32);
    const store = join(mnt, "store");
    const filler = join(mnt, "filler");
    const { app, manifest } = await appUpdate(
      { "a.conf": "a=1\n" },
      (app) => `steps:
  - id: edit
    shell: echo a=2 > ${app}/a.conf
  - id: fill
    shell: fallocate -l $(( $(stat -f -c '%f * %S' ${mnt}) )) ${filler} || head -c 64M /dev/zero > ${filler} || true
  - id: fail
    run: ["false"]
`,
    );
    const before = treeState(app);
    const result = await rollpoint(["--store", store, "--json", "run", manifest]);
    expect(result.exitCode, result.stderr).toBe(1);
    expect(JSON.parse(result.stdout).outcome).toBe("rolledBack");
    expect(treeState(app)).toEqual(before);
    execFileSync("rm", [filler]);
    const history = await rollpoint(["--store", store, "--json", "history"]);
    expect(history.stdout).toContain('"rolledBack"');
    const again = await rollpoint(["--store", store, "recover"]);
    expect(again.stdout.trim()).toBe("no interrupted run");
  });
});
