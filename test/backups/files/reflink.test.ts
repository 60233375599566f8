import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { closeSync, openSync, statfsSync, writeSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { GlobalRollback } from "../../../src/index.js";
import { loopFileSystem } from "../../helpers/loop-fs.js";
import { makeTree, treeState } from "../../helpers/tree.js";

function freeBytes(path: string): number {
  execFileSync("sync", ["-f", path]);
  const stats = statfsSync(path);
  return stats.bavail * stats.bsize;
}

const MiB = 1 << 20;

describe.runIf(process.getuid?.() === 0)("on a copy-on-write file system (btrfs)", () => {
  it("a large file is stored and restored as a reflink: the disk's free space barely moves, the bytes come back exact", async () => {
    const mnt = await loopFileSystem("btrfs", 512);
    const live = join(mnt, "app");
    makeTree(live, { "etc/app.conf": "port=8080\n", "data/big.bin": randomBytes(96 * MiB) });
    const before = treeState(live);
    const rollback = new GlobalRollback({ backupDir: join(mnt, "store") });

    const free = freeBytes(mnt);
    const info = await rollback.backupFile(live, "pre", "app");
    expect(info.metadata.stats).toMatchObject({ newObjects: 2 });
    // A copy would take 96 MiB; a reflink takes metadata.
    expect(free - freeBytes(mnt)).toBeLessThan(8 * MiB);

    // The update rewrites 1 MiB inside the large file.
    const fd = openSync(join(live, "data/big.bin"), "r+");
    writeSync(fd, randomBytes(MiB), 0, MiB, 40 * MiB);
    closeSync(fd);
    const changed = freeBytes(mnt);
    const result = await rollback.restoreBackupDetailed(info.backupId);
    expect(result.outcome, JSON.stringify(result.error)).toBe("restored");
    expect(treeState(live)).toEqual(before);
    // The restored file shares the object's extents; the update's copy-on-write 1 MiB is freed.
    expect(changed - freeBytes(mnt)).toBeLessThan(8 * MiB);
    await rollback.close();
  });
});
