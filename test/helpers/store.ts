import { createHash } from "node:crypto";
import { existsSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { deflateRawSync } from "node:zlib";
import Database from "better-sqlite3";
import { decodeListing, tupleOf } from "../../src/store/listing-codec.js";

/**
 * How many content objects a store holds: files stored whole, counted on disk, and objects in
 * pack files, counted in the catalog.
 */
export function objectCount(store: string): number {
  const whole = readdirSync(join(store, "objects"))
    .filter((shard) => /^[0-9a-f]{2}$/.test(shard))
    .reduce((n, shard) => n + readdirSync(join(store, "objects", shard)).length, 0);
  return whole + catalogCount(store, "SELECT COUNT(*) FROM packed_objects");
}

/** The pack files on disk, by name. */
export function packFiles(store: string): string[] {
  return readdirSync(join(store, "objects", "packs")).sort();
}

/** Where an object's bytes are on disk: its own file, or a range of a pack file. */
export function locateObject(
  store: string,
  hash: string,
): { path: string; offset: number; length?: number } {
  const whole = join(store, "objects", hash.slice(0, 2), hash);
  if (existsSync(whole)) return { path: whole, offset: 0 };
  const db = new Database(join(store, "catalog.db"), { readonly: true });
  try {
    const row = db
      .prepare("SELECT pack, offset, length FROM packed_objects WHERE hash = ?")
      .get(hash) as { pack: string; offset: number; length: number } | undefined;
    if (!row) throw new Error(`object ${hash} is not in ${store}`);
    return {
      path: join(store, "objects", "packs", row.pack),
      offset: row.offset,
      length: row.length,
    };
  } finally {
    db.close();
  }
}

/** One number from the store's catalog, read as a user with sqlite3 would. */
export function catalogCount(store: string, sql: string): number {
  const db = new Database(join(store, "catalog.db"), { readonly: true });
  try {
    return db.prepare(sql).pluck().get() as number;
  } finally {
    db.close();
  }
}

/** Every regular file in the store, to search them all for what must never be written there. */
export function storeFiles(store: string): string[] {
  return (readdirSync(store, { recursive: true }) as string[])
    .map((f) => join(store, f))
    .filter((f) => statSync(f).isFile());
}

/**
 * Rewrite an open catalog's listings as a rollpoint before format 4 stored them (one JSON array
 * of tuples, paths sorted as strings, deflated whole, in listing_blobs.data) and drop the table
 * of frames: the catalog as schema version 5 left it (the caller sets user_version).
 */
export function asFormat3Listings(db: Database.Database): void {
  // A listing's rows change their names: its foreign keys hold again at the end.
  db.pragma("foreign_keys = OFF");
  const rows = db.prepare("SELECT sha FROM listing_blobs").pluck().all() as string[];
  const frame = db.prepare("SELECT data FROM listing_frames WHERE sha = ? ORDER BY seq").pluck();
  for (const sha of rows) {
    const frames = frame.all(sha) as Buffer[];
    const tuples = decodeListing({ frames }, "test", sha, 4)
      .sort((a, b) => (a.rel < b.rel ? -1 : a.rel > b.rel ? 1 : 0))
      // Format 3's tuples are format 4's.
      .map(tupleOf);
    const json = Buffer.from(JSON.stringify(tuples));
    const old = createHash("sha256").update(json).digest("hex");
    db.prepare("UPDATE listing_blobs SET sha = ?, format = 3, data = ? WHERE sha = ?").run(
      old,
      deflateRawSync(json),
      sha,
    );
    db.prepare("UPDATE listings SET sha = ? WHERE sha = ?").run(old, sha);
  }
  db.exec("DROP TABLE listing_frames");
}
