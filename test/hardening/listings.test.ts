import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { describe, expect, it } from "vitest";
import { decodeListing, encodeListing, framesOfEncoded } from "../../src/store/listing-codec.js";
import { createBackup, rollpoint } from "../helpers/cli.js";
import { makeTree, tempDir } from "../helpers/tree.js";

/**
 * Rewrite a backup's stored listing as a tampering hand would: its frames, and (when `change`
 * gives one) the SHA-256 it is stored under, so that what is tested is the entries' validation.
 */
function tamper(
  store: string,
  backupId: string,
  change: (frames: Buffer[]) => { frames: Buffer[]; sha?: string },
): void {
  withCatalog(store, (db) => {
    const sha = db
      .prepare("SELECT sha FROM listings WHERE backup_id = ?")
      .pluck()
      .get(backupId) as string;
    const frames = db
      .prepare("SELECT data FROM listing_frames WHERE sha = ? ORDER BY seq")
      .pluck()
      .all(sha) as Buffer[];
    const changed = change(frames);
    // Without a new name: stored under the old one, as a damaged disk would leave it.
    const newSha = changed.sha ?? sha;
    db.prepare("DELETE FROM listing_frames WHERE sha = ?").run(sha);
    const insert = db.prepare("INSERT INTO listing_frames (sha, seq, data) VALUES (?, ?, ?)");
    for (const [seq, frame] of changed.frames.entries()) insert.run(newSha, seq, frame);
    db.prepare("UPDATE listing_blobs SET sha = ? WHERE sha = ?").run(newSha, sha);
    db.prepare("UPDATE listings SET sha = ? WHERE sha = ?").run(newSha, sha);
  });
}

function withCatalog(store: string, use: (db: Database.Database) => void): void {
  const db = new Database(join(store, "catalog.db"));
  // A damaged disk or a tampering hand does not keep the catalog's foreign keys.
  db.pragma("foreign_keys = OFF");
  try {
    use(db);
  } finally {
    db.close();
  }
}

/** The listing re-encoded with its first file's path changed, and its new name. */
const withEntryPath = (rel: string) => (frames: Buffer[]) => {
  const entries = decodeListing({ frames });
  entries.find((e) => e.kind === "file")!.rel = rel;
  const encoded = encodeListing(entries);
  return { frames: framesOfEncoded(encoded), sha: encoded.sha };
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
    tamper(store, a, () => ({ frames: [Buffer.from("not deflate at all")] }));
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

describe("a restore never deletes on the word of a missing record", () => {
  const damages: Array<[string, (store: string, id: string) => void, string]> = [
    [
      "the listing's row gone",
      (store, id) =>
        withCatalog(store, (db) => db.prepare("DELETE FROM listings WHERE backup_id = ?").run(id)),
      "its catalog row is missing",
    ],
    [
      "the listing's blob gone",
      (store, id) =>
        withCatalog(store, (db) =>
          db
            .prepare(
              "DELETE FROM listing_blobs WHERE sha = (SELECT sha FROM listings WHERE backup_id = ?)",
            )
            .run(id),
        ),
      "is missing",
    ],
    [
      "the listing's frames gone",
      (store, id) =>
        withCatalog(store, (db) =>
          db
            .prepare(
              "DELETE FROM listing_frames WHERE sha = (SELECT sha FROM listings WHERE backup_id = ?)",
            )
            .run(id),
        ),
      "its frames are missing",
    ],
    [
      "the blob changed under its name",
      (store, id) =>
        tamper(store, id, (frames) => ({ frames: withEntryPath("renamed.conf")(frames).frames })),
      "its contents do not hash to",
    ],
  ];
  it.each(damages)(
    "%s: verify exits 2, restore refuses (exit 2) and the tree is untouched",
    async (_name, damage, why) => {
      const dir = await tempDir();
      const store = join(dir, "store");
      const app = join(dir, "srv/app");
      makeTree(app, { "a.conf": "a\n", "data/b.db": "b\n" });
      const id = await createBackup(store, app);
      damage(store, id);
      const verify = await rollpoint(["--store", store, "backups", "verify"]);
      expect(verify.exitCode).toBe(2);
      expect(verify.stdout).toContain(`✗ ${id}: the listing of backup ${id} is damaged: `);
      expect(verify.stdout).toContain(why);
      const restored = await rollpoint(["--store", store, "backups", "restore", id]);
      expect(restored.exitCode).toBe(2);
      expect(restored.stdout + restored.stderr).toContain(`the listing of backup ${id} is damaged`);
      expect(restored.stdout + restored.stderr).not.toContain("restored (");
      expect(readFileSync(join(app, "a.conf"), "utf8")).toBe("a\n");
      expect(readFileSync(join(app, "data/b.db"), "utf8")).toBe("b\n");
    },
  );
});
