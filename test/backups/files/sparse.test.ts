import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { execa } from "execa";
import { describe, expect, it } from "vitest";
import { CLI, createBackup, rollpoint } from "../../helpers/cli.js";
import { tempDir } from "../../helpers/tree.js";
import { appUpdate } from "../../helpers/update.js";

const MiB = 1 << 20;
const allocated = (path: string) => statSync(path).blocks * 512;
const sha = (path: string) => createHash("sha256").update(readFileSync(path)).digest("hex");

describe("sparse files", () => {
  it("are stored and restored with their holes, as du sees them, with the same bytes", async () => {
    const dir = await tempDir();
    const app = join(dir, "app");
    const store = join(dir, "store");
    await execa("mkdir", ["-p", app]);
    const big = join(app, "disk.img");
    const small = join(app, "small.db");
    // 64 MiB with 4 MiB of data at 10 MiB; 512 KiB with 8 KiB of data at its start.
    await execa("truncate", ["-s", "64M", big]);
    await execa("dd", [
      "if=/dev/urandom",
      `of=${big}`,
      "bs=1M",
      "count=4",
      "seek=10",
      "conv=notrunc",
      "status=none",
    ]);
    await execa("truncate", ["-s", "512K", small]);
    await execa("dd", [
      "if=/dev/urandom",
      `of=${small}`,
      "bs=8K",
      "count=1",
      "conv=notrunc",
      "status=none",
    ]);
    const before = { big: sha(big), small: sha(small) };
    expect(allocated(big)).toBeLessThan(5 * MiB);

    const backupId = await createBackup(store, app);
    const shown = await rollpoint(["--store", store, "backups", "show", backupId]);
    expect(shown.stdout).toContain("  2 files (67.6 MB), 1 directory, 0 symlinks, 0 other");
    // The store holds the data, not the holes.
    const du = await execa("du", ["-s", "--block-size=1", join(store, "objects")]);
    expect(Number(du.stdout.split("\t")[0])).toBeLessThan(6 * MiB);

    // The damage: both filled in by a copy that knows nothing of holes, and the big one written into.
    for (const path of [big, small]) {
      await execa("cp", ["--sparse=never", path, `${path}.dense`]);
      await execa("mv", [`${path}.dense`, path]);
    }
    await execa("dd", [
      "if=/dev/urandom",
      `of=${big}`,
      "bs=1M",
      "count=1",
      "seek=40",
      "conv=notrunc",
      "status=none",
    ]);
    expect(allocated(big)).toBeGreaterThanOrEqual(64 * MiB);

    const restored = await rollpoint(["--store", store, "backups", "restore", backupId]);
    expect(restored.exitCode, restored.stdout + restored.stderr).toBe(0);
    expect(sha(big)).toBe(before.big);
    expect(sha(small)).toBe(before.small);
    expect(statSync(big).size).toBe(64 * MiB);
    expect(allocated(big)).toBeLessThan(5 * MiB);
    expect(allocated(small)).toBeLessThan(64 * 1024);
    // Nothing left to do the second time.
    const again = await rollpoint(["--store", store, "--json", "backups", "restore", backupId]);
    expect(JSON.parse(again.stdout).operations[0].outcome).toBe("unchanged");
  });
});

describe("a sparse file in plan's estimate", () => {
  it("a 1 TB file with one block of data: plan counts its blocks, not its length, and does not refuse", async () => {
    const { manifest, store, app } = await appUpdate(
      { "small.conf": "x\n" },
      () => 'steps:\n  - { id: a, run: ["true"] }\n',
    );
    execFileSync("truncate", ["-s", "1T", join(app, "huge.img")]);
    execFileSync("dd", [
      "if=/dev/urandom",
      `of=${join(app, "huge.img")}`,
      "bs=4096",
      "count=1",
      "conv=notrunc",
      "status=none",
    ]);
    const plan = await rollpoint(["--store", store, "plan", manifest]);
    expect(plan.exitCode, plan.stdout + plan.stderr).toBe(0);
    expect(plan.stdout).toMatch(/the rollback point needs about \d+(\.\d+)? (B|KB|MB) in blocks/);
  });
});

describe("a large sparse file", () => {
  it("costs its data, not its length: the backup reads only the data; a failed update's rollback puts back its bytes (cmp) and its holes", async () => {
    const { manifest, store, app, dir } = await appUpdate(
      { "app.conf": "x=1\n" },
      (app) =>
        `steps:\n  - { id: damage, shell: "dd if=/dev/urandom of=${app}/disk.img bs=1M count=1 seek=700 conv=notrunc status=none && exit 1" }\n`,
    );
    const img = join(app, "disk.img");
    const dd = (...args: string[]) =>
      execa("dd", [`of=${img}`, "conv=notrunc", "status=none", ...args]);
    await execa("truncate", ["-s", "1G", img]);
    await dd("if=/dev/urandom", "bs=1M", "count=1");
    // Data that starts and ends inside a block, zeros written (allocated, not a hole), the last block.
    await dd("if=/dev/urandom", "bs=1", "count=8192", "seek=300000123");
    await dd("if=/dev/zero", "bs=1M", "count=2", "seek=500");
    await dd("if=/dev/urandom", "bs=4096", "count=1", "seek=262143");
    const pristine = join(dir, "pristine.img");
    await execa("cp", ["--sparse=always", img, pristine]);

    // What the backup reads, counted by strace: the data (and Node's own modules), not 1 GiB.
    const trace = join(dir, "trace");
    const created = await execa(
      "strace",
      [
        "-f",
        "-qq",
        "-e",
        "trace=read,pread64",
        "-e",
        "signal=none",
        "-o",
        trace,
        process.execPath,
        CLI,
      ].concat(["--store", store, "backups", "create", app, "--module", "app"]),
      { reject: false },
    );
    expect(created.exitCode, created.stderr).toBe(0);
    const bytesRead = readFileSync(trace, "utf8")
      .split("\n")
      .reduce((sum, line) => sum + Number(/= (\d+)$/.exec(line)?.[1] ?? 0), 0);
    expect(bytesRead).toBeLessThan(64 * MiB);

    const run = await rollpoint(["--store", store, "run", manifest]);
    expect(run.exitCode, run.stdout + run.stderr).toBe(1);
    expect(run.stdout).toContain("everything in the rollback point is as it was");
    const same = await execa("cmp", [img, pristine], { reject: false });
    expect(same.exitCode, same.stdout).toBe(0);
    expect(allocated(img)).toBeLessThan(8 * MiB);
    const verified = await rollpoint(["--store", store, "backups", "verify"]);
    expect(verified.exitCode, verified.stdout + verified.stderr).toBe(0);
  });
});
