import type Database from "better-sqlite3";
import type { ReferencedHashes } from "./catalog.js";
import type { PackedAt, SealedPack } from "./packs.js";

/** A pack with the bytes its referenced objects still use. */
export interface PackUse {
  name: string;
  bytes: number;
  live: number;
}

/**
 * The catalog's index of packed objects: which pack holds which object, at which range. Rows are
 * written only for packs already fsynced (see packs.ts), in one transaction per batch.
 */
export class PackIndex {
  private readonly findStatement: Database.Statement<[string], PackedAt>;

  constructor(private readonly db: Database.Database) {
    this.findStatement = db.prepare(
      `SELECT pack, offset, length FROM packed_objects WHERE hash = ?`,
    );
  }

  /** The catalog file, for the object writer threads' own read-only lookups. */
  get catalogPath(): string {
    return this.db.name;
  }

  find(hash: string): PackedAt | undefined {
    return this.findStatement.get(hash);
  }

  /** Record sealed packs and the objects in them; an object already recorded keeps its place. */
  record(packs: readonly SealedPack[], objects: Iterable<[string, PackedAt]>): void {
    const insertPack = this.db.prepare(`INSERT INTO packs (name, bytes) VALUES (?, ?)`);
    const insertObject = this.db.prepare(
      `INSERT OR IGNORE INTO packed_objects (hash, pack, offset, length) VALUES (?, ?, ?, ?)`,
    );
    this.db.transaction(() => {
      for (const pack of packs) insertPack.run(pack.name, pack.bytes);
      for (const [hash, at] of objects) insertObject.run(hash, at.pack, at.offset, at.length);
    })();
  }

  /** Forget every packed object not in `keep`; returns how many were forgotten. */
  forgetUnreferenced(keep: ReferencedHashes): number {
    return this.db
      .prepare(
        `DELETE FROM packed_objects WHERE unhex(hash) NOT IN (SELECT hash FROM ${keep.table})`,
      )
      .run().changes;
  }

  /** Every recorded pack with the bytes still in use. */
  uses(): PackUse[] {
    return this.db
      .prepare(
        `SELECT p.name, p.bytes, COALESCE(SUM(o.length), 0) AS live
           FROM packs p LEFT JOIN packed_objects o ON o.pack = p.name GROUP BY p.name`,
      )
      .all() as PackUse[];
  }

  /** The objects a pack holds, in file order. */
  objectsIn(pack: string): Array<{ hash: string } & PackedAt> {
    return this.db
      .prepare(
        `SELECT hash, pack, offset, length FROM packed_objects WHERE pack = ? ORDER BY offset`,
      )
      .all(pack) as Array<{ hash: string } & PackedAt>;
  }

  /**
   * Point objects at their copies in new (sealed) packs and forget the old packs, in one
   * transaction: a crash before it leaves the new packs unrecorded, after it the old ones.
   */
  move(
    from: readonly string[],
    to: readonly SealedPack[],
    objects: Iterable<[string, PackedAt]>,
  ): void {
    const insertPack = this.db.prepare(`INSERT INTO packs (name, bytes) VALUES (?, ?)`);
    const update = this.db.prepare(
      `UPDATE packed_objects SET pack = ?, offset = ?, length = ? WHERE hash = ?`,
    );
    const dropPack = this.db.prepare(`DELETE FROM packs WHERE name = ?`);
    this.db.transaction(() => {
      for (const pack of to) insertPack.run(pack.name, pack.bytes);
      for (const [hash, at] of objects) update.run(at.pack, at.offset, at.length, hash);
      for (const name of from) dropPack.run(name);
    })();
  }

  /** Forget a pack none of whose objects is recorded any more. */
  dropEmpty(name: string): void {
    this.db
      .prepare(
        `DELETE FROM packs WHERE name = ? AND NOT EXISTS (SELECT 1 FROM packed_objects WHERE pack = ?)`,
      )
      .run(name, name);
  }
}
