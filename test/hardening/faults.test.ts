import { execFileSync } from "node:child_process";
import { closeSync, openSync, readdirSync, writeFileSync, writeSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { execa } from "execa";
import { describe, expect, it } from "vitest";
import { GlobalRollback } from "../../src/index.js";
import { makeImmutable } from "../helpers/chattr.js";
import { backupsCreate, CLI, createBackup, rollpoint, runWithStdout } from "../helpers/cli.js";
import { makeTree, tempDir } from "../helpers/tree.js";

async function storeWithBackup() {
  const dir = await tempDir();
  const store = join(dir, "store");
  makeTree(join(dir, "app"), { "a.conf": "a\n" });
  return { dir, store, app: join(dir, "app"), id: await createBackup(store, join(dir, "app")) };
}

describe("faults in the store's small files", () => {
  it("a damaged lock.db: exit 4 saying it holds no data and what to do", async () => {
    const s = await storeWithBackup();
    writeFileSync(
      join(s.store, "lock.db"),
      "this is not a SQLite database, it is garbage ".repeat(100),
    );
    const result = await backupsCreate(s.store, s.app);
    expect(result.exitCode).toBe(4);
    expect(result.stderr).toContain("lock file");
    expect(result.stderr).toContain("it holds no data: remove it when no rollpoint is running");
    expect(result.stderr).not.toContain("unexpected error");
  });

  it("a catalog SQLite can open read-only only: exit 2 naming it, not an unexpected error, the backup kept", async () => {
    // The full fault run's shard 6: a persistent ENOSPC on openat made SQLite fall back to a
    // read-only catalog, and the prune's first write ended "unexpected error: SQLITE_READONLY".
    const s = await storeWithBackup();
    makeImmutable(join(s.store, "catalog.db"));
    const pruned = await rollpoint(["--store", s.store, "backups", "prune", "--keep-last", "0"]);
    expect(pruned.exitCode).toBe(2);
    expect(pruned.stderr).toContain(
      "the system refused a write of the store's catalog, which could be opened read-only only: SQLITE_READONLY",
    );
    expect(pruned.stderr).not.toContain("unexpected error");
    expect(pruned.stderr.trim().split("\n")).toHaveLength(1);
    execFileSync("chattr", ["-i", join(s.store, "catalog.db")]);
    const list = await rollpoint(["--store", s.store, "backups", "list"]);
    expect(list.stdout).toContain(s.id);
  });

  it("a damaged lock.json is taken as a dead holder: its leftovers are cleaned up", async () => {
    const s = await storeWithBackup();
    writeFileSync(join(s.store, "lock.json"), "{ torn");
    writeFileSync(join(s.store, "tmp", "object-12345-1"), "half an object");
    const result = await backupsCreate(s.store, s.app);
    expect(result.exitCode, result.stderr).toBe(0);
    expect(readdirSync(join(s.store, "tmp"))).toEqual([]);
  });

  it.runIf(process.getuid?.() === 0)(
    "an unwritable operations.log: backups and restores still succeed, with one warning",
    async () => {
      const s = await storeWithBackup();
      makeImmutable(join(s.store, "operations.log"));
      writeFileSync(join(s.app, "a.conf"), "changed\n");
      const create = await rollpoint([
        "--store",
        s.store,
        "--json",
        "backups",
        "create",
        s.app,
        "--module",
        "app",
      ]);
      expect(create.exitCode).toBe(0);
      expect(create.stderr).toContain("the audit log");
      expect(create.stderr).toContain("the operation itself is not affected");
      const restore = await rollpoint(["--store", s.store, "backups", "restore", s.id]);
      expect(restore.exitCode, restore.stderr).toBe(0);
      const list = await rollpoint(["--store", s.store, "--json", "backups", "list"]);
      expect(JSON.parse(list.stdout).backups).toHaveLength(2);
    },
  );
});

describe("SQLite backups leave nothing behind in the store", () => {
  it("a WAL-mode database: no -wal or -shm files in tmp/ after the backup, and the copy restores", async () => {
    const dir = await tempDir();
    const store = join(dir, "store");
    const path = join(dir, "app.db");
    const db = new Database(path);
    db.pragma("journal_mode = WAL");
    db.exec("CREATE TABLE t (x); INSERT INTO t VALUES (1), (2)");
    db.close();
    const rollback = new GlobalRollback({ backupDir: store });
    const info = await rollback.backupDatabase({ type: "sqlite", database: path }, "x", "app");
    await rollback.close();
    expect(readdirSync(join(store, "tmp"))).toEqual([]);
    const changed = new Database(path);
    changed.exec("DELETE FROM t");
    changed.close();
    const restore = await rollpoint(["--store", store, "backups", "restore", info.backupId]);
    expect(restore.exitCode, restore.stderr).toBe(0);
    const after = new Database(path, { readonly: true });
    expect(after.prepare("SELECT count(*) FROM t").pluck().get()).toBe(2);
    expect(after.pragma("journal_mode", { simple: true })).toBe("wal");
    after.close();
  });
});

describe("every command survives a closed stdout", () => {
  it("backups show, list, history and verify with stdout closed at once: no stack trace, the real exit code", async () => {
    const s = await storeWithBackup();
    for (const args of [
      ["backups", "show", s.id],
      ["backups", "list"],
      ["history"],
      ["backups", "verify"],
    ]) {
      const { exitCode: code, stderr } = await runWithStdout(["--store", s.store, ...args], {
        closeStdout: true,
      });
      expect(stderr, args.join(" ")).toBe("");
      expect(code, args.join(" ")).toBe(0);
    }
  });
});

describe("a damaged catalog", () => {
  it("a corrupt page is a store error (exit 4) that says what to do, never 'unexpected error'", async () => {
    const s = await storeWithBackup();
    const catalog = join(s.store, "catalog.db");
    const db = new Database(catalog);
    db.pragma("wal_checkpoint(TRUNCATE)");
    const pageSize = Number(db.pragma("page_size", { simple: true }));
    const pages = Number(db.pragma("page_count", { simple: true }));
    db.close();
    // Every page after the schema's overwritten, as a failing disk would leave them.
    const fd = openSync(catalog, "r+");
    writeSync(fd, Buffer.alloc(pageSize * (pages - 1), 0xa5), 0, pageSize * (pages - 1), pageSize);
    closeSync(fd);
    for (const args of [["backups", "list"], ["history"], ["backups", "verify"]]) {
      const result = await rollpoint(["--store", s.store, ...args]);
      expect(result.exitCode, `${args.join(" ")}: ${result.stderr}`).toBe(4);
      expect(result.stderr).toContain("the store's catalog is damaged (SQLITE_");
      expect(result.stderr).toContain("Copy the store aside");
      expect(result.stderr).not.toContain("unexpected error");
    }
  });
});

describe("an I/O error the system returns where no member names it", () => {
  const injected = (store: string, calls: string, when: string, ...argv: string[]) =>
    execa(
      "strace",
      [
        "-f",
        "-qq",
        "-o",
        "/dev/null",
        "-e",
        `trace=${calls}`,
        "-e",
        `inject=${calls}:error=EIO:when=${when}`,
      ].concat([process.execPath, CLI, "--store", store, ...argv]),
      { reject: false },
    );

  it("writing the lock's holder fails: exit 4, nothing was done, never 'unexpected error'", async () => {
    const s = await storeWithBackup();
    const result = await injected(
      s.store,
      "rename,renameat,renameat2",
      "1",
      "backups",
      "prune",
      "--keep-last",
      "1",
    );
    expect(result.exitCode, result.stderr).toBe(4);
    expect(result.stderr).toMatch(
      /^rollpoint: could not take the store's lock: writing .*lock\.json failed \(EIO.*\); nothing was done$/m,
    );
    expect(result.stderr).not.toContain("unexpected error");
    const list = await rollpoint(["--store", s.store, "--json", "backups", "list"]);
    expect(JSON.parse(list.stdout).backups).toHaveLength(1);
  });
});
