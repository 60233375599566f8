import { existsSync } from "node:fs";
import { join } from "node:path";
import { deflateRawSync, inflateRawSync } from "node:zlib";
import Database from "better-sqlite3";
import { describe, expect, it } from "vitest";
import { createBackup, rollpoint } from "../helpers/cli.js";
import { makeTree, tempDir } from "../helpers/tree.js";

/** Rewrite a backup's stored listing as a damaged disk or a tampering hand would. */
function tamper(store: string, backupId: string, change: (blob: Buffer) => Buffer): void {
  const db = new Database(join(store, "catalog.db"));
  try {
    const { sha, data } = db
      .prepare(
        "SELECT b.sha, b.data FROM listings l JOIN listing_blobs b ON b.sha = l.sha WHERE l.backup_id = ?",
      )
      .get(backupId) as { sha: string; data: Buffer };
    db.prepare("UPDATE listing_blobs SET data = ? WHERE sha = ?").run(change(data), sha);
  } finally {
    db.close();
  }
}

const withEntryPath = (rel: string) => (blob: Buffer) => {
  const tuples = JSON.parse(inflateRawSync(blob).toString("utf8")) as unknown[][];
  const file = tuples.find((t) => t[1] === "file")!;
  file[0] = rel;
  return deflateRawSync(JSON.stringify(tuples));
};

describe("listings are validated on read", () => {
  it("an entry with ../ is refused (exit 2, naming the backup) and nothing is written outside the root", async () => {
    const dir = await tempDir();
    const store = join(dir, "store");
    makeTree(join(dir, "srv/app"), { "a.conf": "a\n" });
    const id = await createBackup(store, join(dir, "srv/app"));
    tamper(store, id, withEntryPath("../../escaped.txt"));
    const restored = await rollpoint(["--store", store, "backups", "restore", id]);
    expect(restored.exitCode).toBe(2);
    expect(restored.stdout + restored.stderr).toContain(
      `the listing of backup ${id} is damaged: the path "../../escaped.txt" is not a plain relative path`,
    );
    expect(existsSync(join(dir, "escaped.txt"))).toBe(false);
  });

  it("verify reports every damaged backup, then exits 2", async () => {
    const dir = await tempDir();
    const store = join(dir, "store");
    makeTree(join(dir, "a"), { "x.conf": "x\n" });
    makeTree(join(dir, "b"), { "y.conf": "y\n" });
    makeTree(join(dir, "c"), { "z.conf": "z\n" });
    const a = await createBackup(store, join(dir, "a"));
    const b = await createBackup(store, join(dir, "b"));
    const c = await createBackup(store, join(dir, "c"));
    tamper(store, a, () => Buffer.from("not deflate at all"));
    tamper(store, b, withEntryPath("/etc/shadow"));
    const verify = await rollpoint(["--store", store, "backups", "verify"]);
    expect(verify.exitCode).toBe(2);
    expect(verify.stdout).toContain(`✗ ${a}: the listing of backup ${a} is damaged`);
    expect(verify.stdout).toContain(
      `✗ ${b}: the listing of backup ${b} is damaged: the path "/etc/shadow"`,
    );
    expect(verify.stdout).toContain(`✓ ${c}: 1 objects ok`);
    // And prune, which must account for every object, refuses rather than guess.
    const prune = await rollpoint(["--store", store, "backups", "prune"]);
    expect(prune.exitCode).toBe(2);
    expect(prune.stderr).toContain("is damaged");
  });
});
