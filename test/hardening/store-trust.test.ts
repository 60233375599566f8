import {
  chmodSync,
  chownSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  symlinkSync,
  truncateSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { describe, expect, it } from "vitest";
import { backupsCreate, createBackup, rollpoint } from "../helpers/cli.js";
import { objectCount, storeFiles } from "../helpers/store.js";
import { isRoot, makeTree, tempDir, treeState } from "../helpers/tree.js";

/** A store with one backup in it, a victim directory beside it, and the protected app. */
async function storeWithBackup() {
  const dir = await tempDir();
  const store = join(dir, "store");
  const victim = join(dir, "victim");
  makeTree(victim, { "precious.txt": "do not delete\n", "sub/also.txt": "keep\n" });
  makeTree(join(dir, "app"), { "a.conf": "a\n" });
  await createBackup(store, join(dir, "app"));
  return { dir, store, victim, app: join(dir, "app"), victimBefore: treeState(victim) };
}

// A lock.json naming a holder that is dead: the next command runs crash cleanup.
function plantStaleLock(store: string) {
  writeFileSync(
    join(store, "lock.json"),
    JSON.stringify({ pid: 2 ** 22 - 3, command: "rollpoint run", startedAt: 0 }),
  );
}

const list = (store: string) => rollpoint(["--store", store, "backups", "list"]);

describe("the store trusts nothing it did not make", () => {
  it.runIf(isRoot)("a store owned by another user: exit 3, naming the owner", async () => {
    const s = await storeWithBackup();
    chownSync(s.store, 1234, 1234);
    const result = await list(s.store);
    expect(result.exitCode).toBe(3);
    expect(result.stderr).toContain("owned by uid 1234, not by you");
  });

  it("a world-writable store: exit 3", async () => {
    const s = await storeWithBackup();
    chmodSync(s.store, 0o777);
    const result = await list(s.store);
    expect(result.exitCode).toBe(3);
    expect(result.stderr).toContain("writable by group or others (mode 0777)");
  });

  it("a store below a directory others can write (no sticky bit): exit 3", async () => {
    const dir = await tempDir();
    const open = join(dir, "shared");
    mkdirSync(open);
    chmodSync(open, 0o777);
    const result = await list(join(open, "store"));
    expect(result.exitCode).toBe(3);
    expect(result.stderr).toContain(`${open} above it is writable by group or others`);
  });

  it("a store that is a symlink: exit 3", async () => {
    const s = await storeWithBackup();
    symlinkSync(s.store, join(s.dir, "store-link"));
    const result = await list(join(s.dir, "store-link"));
    expect(result.exitCode).toBe(3);
    expect(result.stderr).toContain("it is a symlink");
  });

  it("a planted tmp -> victim link and a stale lock.json: crash cleanup never deletes the victim's files", async () => {
    const s = await storeWithBackup();
    renameSync(join(s.store, "tmp"), join(s.dir, "tmp.moved"));
    symlinkSync(s.victim, join(s.store, "tmp"));
    plantStaleLock(s.store);
    const result = await backupsCreate(s.store, s.app);
    expect(result.exitCode).toBe(3);
    expect(result.stderr).toContain(`${join(s.store, "tmp")} is a symlink`);
    expect(treeState(s.victim)).toEqual(s.victimBefore);
  });

  it("a planted logs link: a run refuses before writing its log there", async () => {
    const s = await storeWithBackup();
    symlinkSync(s.victim, join(s.store, "logs"));
    const manifest = join(s.dir, "m.yaml");
    writeFileSync(
      manifest,
      `apiVersion: rollpoint/v1\nname: app\nrollbackPoint: { files: [${s.app}] }\nsteps:\n  - { id: a, run: ["true"] }\n`,
    );
    const result = await rollpoint(["--store", s.store, "run", manifest]);
    expect(result.exitCode).toBe(3);
    expect(treeState(s.victim)).toEqual(s.victimBefore);
  });

  it("only rollpoint's own temporary files are removed by crash cleanup", async () => {
    const s = await storeWithBackup();
    writeFileSync(join(s.store, "tmp", "notes.txt"), "mine\n");
    writeFileSync(join(s.store, "tmp", "object-999-1"), "torn\n");
    plantStaleLock(s.store);
    const result = await backupsCreate(s.store, s.app);
    expect(result.exitCode, result.stderr).toBe(0);
    // The torn object is gone (cleanup ran); the file that is not ours is still there.
    expect(readdirSync(join(s.store, "tmp"))).toEqual(["notes.txt"]);
  });
});

describe("a store inside a protected path, reached through a symlink", () => {
  it("run refuses in preflight (exit 4), the store keeps its objects, and backups create refuses too", async () => {
    const s = await storeWithBackup();
    // The store really lives inside the protected app; its name goes through a link.
    symlinkSync(s.app, join(s.dir, "app-link"));
    const store = join(s.dir, "app-link", ".rollpoint");
    const first = await rollpoint([
      "--store",
      store,
      "backups",
      "create",
      s.victim,
      "--module",
      "v",
    ]);
    expect(first.exitCode, first.stderr).toBe(0);
    const objects = objectCount(join(s.app, ".rollpoint"));
    const manifest = join(s.dir, "m.yaml");
    writeFileSync(
      manifest,
      `apiVersion: rollpoint/v1\nname: app\nrollbackPoint: { files: [${s.app}] }\nsteps:\n  - { id: a, run: ["false"] }\n`,
    );
    const run = await rollpoint(["--store", store, "run", manifest]);
    expect(run.exitCode).toBe(4);
    expect(run.stdout + run.stderr).toContain(
      `contains the store ${store} (really at ${join(s.app, ".rollpoint")})`,
    );
    expect(objectCount(join(s.app, ".rollpoint"))).toBe(objects);
    const create = await backupsCreate(store, s.app);
    expect(create.exitCode).toBe(3);
    expect(create.stderr).toContain("overlaps the store");
  });
});

describe("a damaged catalog is never silently recreated", () => {
  it("a 0-byte catalog.db beside objects: list, verify and prune refuse (exit 4) and no object is deleted", async () => {
    const s = await storeWithBackup();
    expect(objectCount(s.store)).toBeGreaterThan(0);
    // Packs and whole objects: without a catalog, only their files can be counted.
    const files = storeFiles(join(s.store, "objects"));
    truncateSync(join(s.store, "catalog.db"));
    for (const args of [
      ["backups", "list"],
      ["backups", "verify"],
      ["backups", "prune", "--keep", "0", "--max-age", "0d"],
    ]) {
      const result = await rollpoint(["--store", s.store, ...args]);
      expect(result.exitCode, args.join(" ")).toBe(4);
      expect(result.stderr).toContain("catalog missing or empty");
      expect(result.stderr).toContain(`objects present (${files.length} files under objects/)`);
    }
    expect(storeFiles(join(s.store, "objects"))).toEqual(files);
  });
});

describe("a catalog is not trusted to name paths", () => {
  it("a pack named ../../../victim/precious.txt: verify and restore refuse, prune deletes nothing outside the store", async () => {
    const s = await storeWithBackup();
    const id = JSON.parse(
      (await rollpoint(["--store", s.store, "--json", "backups", "list"])).stdout,
    ).backups[0].backupId as string;
    const db = new Database(join(s.store, "catalog.db"));
    const [pack] = db.prepare("SELECT name FROM packs").pluck().all() as string[];
    db.exec(`PRAGMA foreign_keys = OFF;
      UPDATE packs SET name = '../../../victim/precious.txt' WHERE name = '${pack}';
      UPDATE packed_objects SET pack = '../../../victim/precious.txt' WHERE pack = '${pack}';`);
    db.close();
    writeFileSync(join(s.app, "a.conf"), "changed\n");

    const verify = await rollpoint(["--store", s.store, "backups", "verify"]);
    expect(verify.exitCode).not.toBe(0);
    expect(verify.stdout + verify.stderr).toMatch(/missing/);
    const restore = await rollpoint(["--store", s.store, "backups", "restore", id]);
    expect(restore.exitCode).toBe(2);
    expect(readFileSync(join(s.app, "a.conf"), "utf8")).toBe("changed\n");

    const prune = await rollpoint([
      "--store",
      s.store,
      "backups",
      "prune",
      "--keep",
      "0",
      "--max-age",
      "0d",
    ]);
    expect(prune.exitCode, prune.stderr).toBe(0);
    expect(treeState(s.victim)).toEqual(s.victimBefore);
  });
});
