import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { execa } from "execa";
import { describe, expect, it } from "vitest";
import { CLI, createBackup } from "../helpers/cli.js";
import { makeTree, tempDir, treeState } from "../helpers/tree.js";

/**
 * strace(1) of the real CLI: which sync calls it makes and which programs it runs. A syncfs
 * (or `sync -f`, or sync) flushes every dirty page on the file system, including what a busy
 * database beside has written: a rollback point must cost what it writes. npm run bench
 * measures the effect (a backup beside a 2 GB writer); this checks the mechanism.
 */
async function traced(dir: string, args: string[]) {
  const log = join(dir, `strace-${Date.now()}.log`);
  const result = await execa(
    "strace",
    [
      "-f",
      "-qq",
      "-o",
      log,
      "-e",
      "trace=execve,sync,syncfs,fsync,fdatasync",
      process.execPath,
      CLI,
      ...args,
    ],
    { reject: false },
  );
  const lines = readFileSync(log, "utf8").split("\n");
  return {
    exitCode: result.exitCode,
    stdout: String(result.stdout),
    stderr: String(result.stderr),
    // Programs that ran: execve calls that succeeded (a PATH search tries several first).
    programs: lines
      .flatMap((l) => /execve\("([^"]+)".*\) = 0$/.exec(l)?.[1] ?? [])
      .filter((p) => p !== process.execPath),
    wholeFileSystem: lines.filter((l) => /\b(sync|syncfs)\(/.test(l)),
    fsyncs: lines.filter((l) => /\b(fsync|fdatasync)\(/.test(l)).length,
  };
}

describe("durability costs only what rollpoint wrote", () => {
  it("a backup of 400 files and a restore of three changed ones fsync their own files and never sync the file system", async () => {
    const dir = await tempDir();
    const store = join(dir, "store");
    const live = join(dir, "app");
    makeTree(
      live,
      Object.fromEntries(Array.from({ length: 400 }, (_, i) => [`d${i % 8}/f${i}`, `v1 ${i}\n`])),
    );
    writeFileSync(join(live, "large.bin"), Buffer.alloc(3 << 20, 7));

    const backup = await traced(dir, [
      "--store",
      store,
      "--json",
      "backups",
      "create",
      live,
      "--module",
      "app",
    ]);
    expect(backup.exitCode, backup.stderr).toBe(0);
    expect(backup.wholeFileSystem).toEqual([]);
    expect(backup.programs).not.toContain("/usr/bin/sync");
    expect(backup.programs).not.toContain("/bin/sync");
    // The packs, the large object, their directories and the catalog: a handful, not 400.
    expect(backup.fsyncs).toBeGreaterThan(2);
    expect(backup.fsyncs).toBeLessThan(100);

    const wanted = treeState(live);
    const id = (JSON.parse(backup.stdout) as { backup: { backupId: string } }).backup.backupId;
    for (const i of [3, 150, 399]) writeFileSync(join(live, `d${i % 8}/f${i}`), "changed\n");
    const restore = await traced(dir, ["--store", store, "backups", "restore", id]);
    expect(restore.exitCode, restore.stderr).toBe(0);
    expect(treeState(live)).toEqual(wanted);
    expect(restore.wholeFileSystem).toEqual([]);
    expect(restore.programs).not.toContain("/usr/bin/sync");
    // Three files and their three directories, at least; and not the tree.
    expect(restore.fsyncs).toBeGreaterThanOrEqual(6);
    expect(restore.fsyncs).toBeLessThan(100);
  });

  it("a restore that rewrites more than 2,048 paths syncs the file system once instead", async () => {
    const dir = await tempDir();
    const store = join(dir, "store");
    const live = join(dir, "app");
    const tree = (tag: string) =>
      Object.fromEntries(
        Array.from({ length: 2200 }, (_, i) => [`d${i % 20}/f${i}`, `${tag} ${i}\n`]),
      );
    makeTree(live, tree("v1"));
    const wanted = treeState(live);
    const id = await createBackup(store, live);
    makeTree(live, tree("v2"));
    const restore = await traced(dir, ["--store", store, "backups", "restore", id]);
    expect(restore.exitCode, restore.stderr).toBe(0);
    expect(treeState(live)).toEqual(wanted);
    // One `sync -f`, not 2,200 fsyncs.
    expect(restore.programs.filter((p) => p.endsWith("/sync"))).toHaveLength(1);
    expect(restore.wholeFileSystem).toHaveLength(1);
    expect(restore.fsyncs).toBeLessThan(100);
  });
});
