import { closeSync, openSync, readSync, writeFileSync, writeSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { GlobalRollback } from "../../src/index.js";
import { rollpoint } from "../helpers/cli.js";
import { locateObject } from "../helpers/store.js";
import { makeTree, tempDir, treeState } from "../helpers/tree.js";

function flipOneByte(path: string, offset = 0): void {
  const fd = openSync(path, "r+");
  const byte = Buffer.alloc(1);
  readSync(fd, byte, 0, 1, offset);
  byte[0] = byte[0]! ^ 0x01;
  writeSync(fd, byte, 0, 1, offset);
  closeSync(fd);
}

describe("a damaged store is caught before it touches the live system", () => {
  it("refuses to restore from an object damaged by one byte, and leaves the live tree alone", async () => {
    const dir = await tempDir();
    const store = join(dir, "store");
    const live = join(dir, "app");
    makeTree(live, { "config.conf": "port=8080\n", "data/rows.csv": "1,2,3\n" });
    const rollback = new GlobalRollback({ backupDir: store });
    const info = await rollback.backupFile(live, "pre", "app");
    const entry = (await rollback.getListing(info.backupId)).find((e) => e.rel === "config.conf")!;
    const at = locateObject(store, entry.hash!);
    flipOneByte(at.path, at.offset);

    writeFileSync(join(live, "config.conf"), "port=9090\n");
    writeFileSync(join(live, "data/rows.csv"), "changed\n");
    writeFileSync(join(live, "added"), "new\n");
    const modified = treeState(live);

    const error = await rollback.restoreBackup(info.backupId).catch((e: unknown) => e);
    expect(error).toMatchObject({
      code: "VERIFY_FAILED",
      context: { path: join(live, "config.conf") },
    });
    expect(String((error as Error).message)).toContain("SHA-256 mismatch");
    expect(treeState(live)).toEqual(modified);

    const cli = await rollpoint(["--store", store, "backups", "restore", info.backupId]);
    expect(cli.exitCode).toBe(2);
    expect(cli.stderr).toContain(join(live, "config.conf"));
    expect(treeState(live)).toEqual(modified);

    const verify = await rollpoint(["--store", store, "backups", "verify"]);
    expect(verify.exitCode).toBe(2);
    expect(verify.stdout).toContain(`✗ ${info.backupId}: ${join(live, "config.conf")}`);
    const json = await rollpoint(["--store", store, "--json", "backups", "verify", info.backupId]);
    expect(json.exitCode).toBe(2);
    expect(JSON.parse(json.stdout)).toMatchObject({
      ok: false,
      reports: [
        {
          backupId: info.backupId,
          problems: [{ path: join(live, "config.conf"), problem: "mismatch" }],
        },
      ],
    });
    await rollback.close();
  });

  it("verify passes on a healthy store", async () => {
    const dir = await tempDir();
    const store = join(dir, "store");
    makeTree(join(dir, "app"), { a: "a", b: "b" });
    await rollpoint(["--store", store, "backups", "create", join(dir, "app"), "--module", "app"]);
    const verify = await rollpoint(["--store", store, "backups", "verify"]);
    expect(verify.exitCode).toBe(0);
    expect(verify.stdout).toMatch(/✓ f-\S+: 2 objects ok/);
  });
});
