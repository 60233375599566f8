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

  find(hash: string): PackedAt | undefined {
    return this.findStatement.get(hash);
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

  /**
   * Packed by this process and not recorded yet (the packs are not fsynced): where each object
   * went, kept in a temporary table rather than in memory (a first backup of a million small
   * files packs a million objects).
   */
  stage(hash: string, at: PackedAt): void {
    this.staging().insert.run(Buffer.from(hash, "hex"), at.pack, at.offset, at.length);
  }

  /** Where a staged object is, if it is one. */
  staged(hash: string): PackedAt | undefined {
    if (!this.stagingStatements) return undefined;
    return this.stagingStatements.find.get(Buffer.from(hash, "hex"));
  }

  /** Record sealed packs and every staged object, in one transaction, and forget the staging. */
  recordStaged(packs: readonly SealedPack[]): void {
    const insertPack = this.db.prepare(`INSERT INTO packs (name, bytes) VALUES (?, ?)`);
    this.db.transaction(() => {
      for (const pack of packs) insertPack.run(pack.name, pack.bytes);
      if (this.stagingStatements)
        this.db
          .prepare(
            `INSERT OR IGNORE INTO packed_objects (hash, pack, offset, length)
               SELECT lower(hex(hash)), pack, offset, length FROM temp.staged_objects`,
          )
          .run();
    })();
    this.dropStaged();
  }

  /** Forget what was staged (a failed backup: its packs are garbage). */
  dropStaged(): void {
    if (!this.stagingStatements) return;
    this.db.exec(`DROP TABLE temp.staged_objects`);
    this.stagingStatements = undefined;
  }

  private stagingStatements:
    | {
        insert: Database.Statement<[Buffer, string, number, number]>;
        find: Database.Statement<[Buffer], PackedAt>;
      }
    | undefined;

  private staging() {
    if (!this.stagingStatements) {
      this.db.exec(`CREATE TEMP TABLE IF NOT EXISTS staged_objects (
        hash BLOB PRIMARY KEY, pack TEXT NOT NULL, offset INTEGER NOT NULL, length INTEGER NOT NULL
      ) WITHOUT ROWID`);
      this.stagingStatements = {
        insert: this.db.prepare(
          `INSERT OR IGNORE INTO temp.staged_objects (hash, pack, offset, length) VALUES (?, ?, ?, ?)`,
        ),
        find: this.db.prepare(
          `SELECT pack, offset, length FROM temp.staged_objects WHERE hash = ?`,
        ),
      };
    }
    return this.stagingStatements;
  }
}
