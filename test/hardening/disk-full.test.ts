import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, rmSync, statfsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { rollpoint } from "../helpers/cli.js";
import { loopFileSystem } from "../helpers/loop-fs.js";
import { runKilledWhen, runParkedAt } from "../helpers/paused.js";
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
    const run = await runParkedAt(
      "backup:object#1",
      { store, manifest, dir },
      { ROLLPOINT_DEBUG: "1" },
    );
    const fs = statfsSync(mnt);
    const filler = join(mnt, "filler");
    execFileSync("fallocate", ["-l", String(fs.bavail * fs.bsize - 256 * 1024), filler]);
    const { code, out } = await run.release();
    expect(code, out).toBe(4);
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

  it("filled by a step, then the runner SIGKILLed: recover on the still-full disk rolls back and records it", async () => {
    const mnt = await loopFileSystem("ext4", 32);
    const store = join(mnt, "store");
    const filler = join(mnt, "filler");
    const { app, dir, manifest } = await appUpdate(
      { "a.conf": "a=1\n" },
      (app, dir) => `steps:
  - id: edit
    shell: echo a=2 > ${app}/a.conf
  - id: fill
    shell: ${fillTo0(mnt, filler)}; touch ${dir}/waiting; sleep 120
`,
    );
    const before = treeState(app);
    await runKilledWhen(["--store", store, "run", manifest], "the step that filled the disk", () =>
      existsSync(join(dir, "waiting")),
    );
    expect(isFull(mnt)).toBe(true);
    const recovered = await rollpoint(["--store", store, "--json", "recover"]);
    expect(recovered.exitCode, recovered.stdout + recovered.stderr).toBe(0);
    expect(recovered.stderr).not.toContain("unexpected error");
    expect(JSON.parse(recovered.stdout).recovered[0].outcome).toBe("rolledBack");
    expect(treeState(app)).toEqual(before);
    // Recorded while the disk was still full: the next recover has nothing to do.
    const again = await rollpoint(["--store", store, "recover"]);
    expect(again.stdout.trim(), again.stderr).toBe("no interrupted run");
    execFileSync("rm", [filler]);
  });

  it("full when `rollpoint rollback` of a committed run starts: the run is reverted and recorded", async () => {
    const mnt = await loopFileSystem("ext4", 32);
    const store = join(mnt, "store");
    const filler = join(mnt, "filler");
    const { app, manifest } = await appUpdate(
      { "a.conf": "a=1\n" },
      (app) => `steps:
  - id: edit
    shell: echo a=2 > ${app}/a.conf
`,
    );
    const before = treeState(app);
    const run = await rollpoint(["--store", store, "--json", "run", manifest]);
    expect(run.exitCode, run.stderr).toBe(0);
    const runId = JSON.parse(run.stdout).runId as string;
    execFileSync("sh", ["-c", fillTo0(mnt, filler)]);
    expect(isFull(mnt)).toBe(true);
    const reverted = await rollpoint(["--store", store, "--json", "rollback", runId]);
    expect(reverted.exitCode, reverted.stdout + reverted.stderr).toBe(0);
    expect(JSON.parse(reverted.stdout).outcome).toBe("rolledBack");
    expect(treeState(app)).toEqual(before);
    const history = await rollpoint(["--store", store, "--json", "history"]);
    const runs = JSON.parse(history.stdout).runs as {
      id: string;
      state: string;
      finished: boolean;
    }[];
    expect(runs.find((r) => r.id === JSON.parse(reverted.stdout).runId)).toMatchObject({
      state: "rolledBack",
      finished: true,
    });
    execFileSync("rm", [filler]);
  });
});

/** A shell command that leaves no free block on `mnt` (root writes into the reserved ones too). */
function fillTo0(mnt: string, filler: string): string {
  return `(fallocate -l $(( $(stat -f -c '%f * %S' ${mnt}) )) ${filler}; head -c 64M /dev/zero >> ${filler}) 2>/dev/null || true`;
}

// ext4 keeps a few clusters back even from root, so "full" is: a write of 64 kB fails.
function isFull(mnt: string): boolean {
  const probe = join(mnt, "probe");
  try {
    writeFileSync(probe, Buffer.alloc(64 * 1024));
    return false;
  } catch (error) {
    return (error as { code?: string }).code === "ENOSPC";
  } finally {
    rmSync(probe, { force: true });
  }
}
