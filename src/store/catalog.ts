import Database from "better-sqlite3";
import { GlobalRollbackError } from "../errors.js";
import { pausePoint } from "../util/pause-point.js";
import { privateFile } from "./durable.js";
import type { Entry } from "./entry.js";
import {
  damagedListing,
  type EncodedListing,
  eachEntry,
  type FrameMemo,
  framesOfEncoded,
  hashesOfListing,
  LISTING_FORMAT,
  ListingEncoder,
  type ListingSource,
} from "./listing-codec.js";
import { PackIndex } from "./pack-index.js";
import { boundPageCaches } from "./page-cache.js";
import type { BackupRow, BackupStatus, BackupType, PointRow } from "./rows.js";
import { Runs } from "./runs.js";
import { MIGRATIONS } from "./schema.js";
import { StepProcesses } from "./step-processes.js";
import { Watches } from "./watches.js";

export type { BackupRow, BackupStatus, BackupType, PointRow };

/** A listing as stored: read one entry at a time, in the order it is stored in. */
export interface StoredListing {
  backupId: string;
  /** The SHA-256 it is stored under. */
  sha: string;
  /** listing-codec.ts: 4 is in walk order, older formats in string order. */
  format: number;
  /** When it was taken (for the stat shortcut's "racy" guard). */
  takenAtMs: number;
  /**
   * Its entries, checked; a damaged listing throws, at the latest at its end. With `memo`, the
   * frames read are remembered for a listing written alongside (FrameMemo).
   */
  entries(memo?: FrameMemo): Iterable<Entry>;
}

interface RawBackup {
  id: string;
  type: BackupType;
  module: string;
  description: string;
  created_at: number;
  status: BackupStatus;
  source: string;
  point_id: string | null;
  point_seq: number | null;
  meta: string;
}

function toBackup(raw: RawBackup): BackupRow {
  return {
    id: raw.id,
    type: raw.type,
    module: raw.module,
    description: raw.description,
    createdAt: raw.created_at,
    status: raw.status,
    source: raw.source,
    pointId: raw.point_id,
    pointSeq: raw.point_seq,
    meta: JSON.parse(raw.meta) as Record<string, unknown>,
  };
}

/** The SQLite catalog. Every method is one statement or one transaction, so each is atomic. */
export class Catalog {
  readonly db: Database.Database;
  /** The engine's runs. */
  readonly runs: Runs;
  /** Where the commands of runs keep their processes, while they may be alive. */
  readonly stepProcesses: StepProcesses;
  readonly watches: Watches;
  /** Which pack holds which small object. */
  readonly packs: PackIndex;

  constructor(path: string) {
    privateFile(path);
    this.db = new Database(path);
    this.db.pragma("journal_mode = WAL");
    // FULL: a backup marked complete survives a power cut, not only a crash of the process.
    this.db.pragma("synchronous = FULL");
    this.db.pragma("foreign_keys = ON");
    this.db.pragma("busy_timeout = 5000");
    boundPageCaches(this.db);
    this.migrate();
    this.runs = new Runs(this.db);
    this.stepProcesses = new StepProcesses(this.db);
    this.watches = new Watches(this.db);
    this.packs = new PackIndex(this.db);
  }

  private migrate(): void {
    const version = this.db.pragma("user_version", { simple: true }) as number;
    if (version > MIGRATIONS.length) {
      throw new GlobalRollbackError(
        "STORE_ERROR",
        `the catalog ${this.db.name} has schema version ${version}, newer than this rollpoint knows (${MIGRATIONS.length}): upgrade rollpoint`,
      );
    }
    if (version === MIGRATIONS.length) return;
    // Off while tables are rebuilt (SQLite's documented way: it cannot be changed inside a
    // transaction), and every reference checked before it is on again.
    this.db.pragma("foreign_keys = OFF");
    try {
      for (let step = version; step < MIGRATIONS.length; step++) {
        this.db.transaction(() => {
          this.db.exec(MIGRATIONS[step]!);
          pausePoint("catalog:migration");
          const broken = this.db.pragma("foreign_key_check") as unknown[];
          if (broken.length) {
            throw new GlobalRollbackError(
              "STORE_ERROR",
              `the catalog ${this.db.name} could not be brought to schema version ${step + 1}: ${broken.length} row(s) would lose what they refer to; nothing was changed`,
            );
          }
          this.db.pragma(`user_version = ${step + 1}`);
        })();
      }
    } finally {
      this.db.pragma("foreign_keys = ON");
    }
  }

  close(): void {
    this.db.close();
  }

  insertBackup(row: Omit<BackupRow, "status">): void {
    this.db
      .prepare(
        `INSERT INTO backups (id, type, module, description, created_at, status, source, point_id, point_seq, meta)
         VALUES (?, ?, ?, ?, ?, 'pending', ?, ?, ?, ?)`,
      )
      .run(
        row.id,
        row.type,
        row.module,
        row.description,
        row.createdAt,
        row.source,
        row.pointId,
        row.pointSeq,
        JSON.stringify(row.meta),
      );
  }

  /**
   * An encoder whose frames go into the catalog as they are made, under a name of the pending
   * backup's (`completeBackup` gives them the listing's): a million paths' listing is never
   * held, and what a crash leaves goes with the pending backup.
   */
  listingWriter(backupId: string): ListingEncoder {
    const insert = this.db.prepare(`INSERT INTO listing_frames (sha, seq, data) VALUES (?, ?, ?)`);
    let seq = 0;
    return new ListingEncoder((frame) => insert.run(stagedName(backupId), seq++, frame));
  }

  /**
   * Store the listing and mark the backup complete in one transaction: both or neither.
   * `listing` without data names one already stored (an unchanged tree's); a streamed one's
   * frames are already in the catalog, under the backup's staged name.
   */
  completeBackup(
    id: string,
    listing: EncodedListing | { sha: string },
    meta: Record<string, unknown>,
  ): void {
    const { sha } = listing;
    this.db.transaction(() => {
      const known = this.db.prepare(`SELECT 1 FROM listing_blobs WHERE sha = ?`).get(sha);
      if ("data" in listing && !known) {
        this.db
          .prepare(`INSERT INTO listing_blobs (sha, format, entries, data) VALUES (?, ?, ?, X'')`)
          .run(sha, LISTING_FORMAT, listing.entries);
        if (listing.streamed) {
          this.db
            .prepare(`UPDATE listing_frames SET sha = ? WHERE sha = ?`)
            .run(sha, stagedName(id));
        } else {
          const insert = this.db.prepare(
            `INSERT INTO listing_frames (sha, seq, data) VALUES (?, ?, ?)`,
          );
          for (const [seq, frame] of framesOfEncoded(listing).entries())
            insert.run(sha, seq, frame);
        }
      }
      // Staged frames of a listing stored already (equal listings, equal frames).
      this.db.prepare(`DELETE FROM listing_frames WHERE sha = ?`).run(stagedName(id));
      this.db.prepare(`INSERT INTO listings (backup_id, sha) VALUES (?, ?)`).run(id, sha);
      this.db
        .prepare(
          `UPDATE backups SET status = 'complete', meta = ? WHERE id = ? AND status = 'pending'`,
        )
        .run(JSON.stringify(meta), id);
    })();
  }

  /**
   * What a backup under way must leave for crash cleanup (the containers it holds paused, say),
   * written before it does so: a pending row only, so a complete backup's record never changes.
   */
  updatePendingMeta(id: string, meta: Record<string, unknown>): void {
    this.db
      .prepare(`UPDATE backups SET meta = ? WHERE id = ? AND status = 'pending'`)
      .run(JSON.stringify(meta), id);
  }

  getBackup(id: string): BackupRow | undefined {
    const raw = this.db.prepare(`SELECT * FROM backups WHERE id = ?`).get(id) as
      | RawBackup
      | undefined;
    return raw && toBackup(raw);
  }

  listBackups(filter: { module?: string; type?: BackupType } = {}): BackupRow[] {
    const rows = this.db
      .prepare(
        `SELECT * FROM backups
         WHERE status = 'complete'
           AND (@module IS NULL OR module = @module)
           AND (@type IS NULL OR type = @type)
         ORDER BY rowid DESC`,
      )
      .all({ module: filter.module ?? null, type: filter.type ?? null }) as RawBackup[];
    return rows.map(toBackup);
  }

  /**
   * A backup's listing. Every complete backup has one (a missing path is a listing of one
   * `absent` entry), so a missing row or blob, or a blob that does not hash to the name it is
   * stored under, is damage: an error, never an empty listing, which a restore would read as
   * "nothing was there" and delete the whole tree on its word.
   */
  entries(backupId: string): Entry[] {
    return [...this.eachEntry(backupId)];
  }

  /**
   * A backup's listing one entry at a time (see `entries` for what is damage). A damaged blob
   * may throw only at its end (listing-codec.ts): whoever changes anything on its word reads it
   * whole first.
   */
  *eachEntry(backupId: string, memo?: FrameMemo): Generator<Entry> {
    const row = this.db
      .prepare(
        `SELECT l.sha, b.format, b.entries, b.data FROM listings l LEFT JOIN listing_blobs b ON b.sha = l.sha WHERE l.backup_id = ?`,
      )
      .get(backupId) as
      | { sha: string; format: number; entries: number; data: Buffer | null }
      | undefined;
    const damaged = (why: string): never => {
      throw new GlobalRollbackError(
        "VERIFY_FAILED",
        `the listing of backup ${backupId} is damaged: ${why}; nothing was changed`,
        { context: { backupId } },
      );
    };
    if (!row) return damaged("its catalog row is missing");
    if (!row.data) return damaged(`its blob ${row.sha} is missing`);
    yield* eachEntry(
      this.sourceOf({ ...row, data: row.data }, backupId),
      backupId,
      row.sha,
      row.format,
      memo,
    );
  }

  /**
   * Where a stored listing's bytes are: its blob (formats 1 to 3), or its frames, read one row
   * at a time by number (no statement is left iterating: a restore reads the catalog meanwhile).
   * A format 4 listing with no frame is damage unless it has no entries (a service backup's).
   */
  private sourceOf(
    row: { sha: string; format: number; entries: number; data: Buffer },
    backupId: string,
  ): ListingSource {
    if (row.format < 4 || row.data.length > 0) return row.data;
    const frame = this.db.prepare(`SELECT data FROM listing_frames WHERE sha = ? AND seq = ?`);
    const { sha, entries } = row;
    return {
      frames: {
        *[Symbol.iterator]() {
          for (let seq = 0; ; seq++) {
            const data = frame.pluck().get(sha, seq) as Buffer | undefined;
            if (data === undefined) {
              if (seq === 0 && entries > 0) damagedListing(backupId, "its frames are missing");
              return;
            }
            yield data;
          }
        },
      },
    };
  }

  /** A backup's listing as stored (see `entries` for what is damage). */
  storedListing(backupId: string): StoredListing {
    const row = this.db
      .prepare(
        `SELECT b.created_at, l.sha, lb.format FROM backups b
           LEFT JOIN listings l ON l.backup_id = b.id LEFT JOIN listing_blobs lb ON lb.sha = l.sha
         WHERE b.id = ?`,
      )
      .get(backupId) as
      | { created_at: number; sha: string | null; format: number | null }
      | undefined;
    return {
      backupId,
      sha: row?.sha ?? "",
      // A missing row or blob is reported by `eachEntry` when the entries are read.
      format: row?.format ?? LISTING_FORMAT,
      takenAtMs: row?.created_at ?? 0,
      entries: (memo) => this.eachEntry(backupId, memo),
    };
  }

  /** The newest complete listing of `source`, for skipping the rehash of unchanged files. */
  latestListingOf(source: string): StoredListing | undefined {
    const row = this.db
      .prepare(
        `SELECT b.id, b.created_at, l.sha, lb.format, lb.entries, lb.data FROM backups b
           JOIN listings l ON l.backup_id = b.id JOIN listing_blobs lb ON lb.sha = l.sha
         WHERE b.type = 'file' AND b.source = ? AND b.status = 'complete'
         ORDER BY b.rowid DESC LIMIT 1`,
      )
      .get(source) as
      | {
          id: string;
          created_at: number;
          sha: string;
          format: number;
          entries: number;
          data: Buffer;
        }
      | undefined;
    return (
      row && {
        backupId: row.id,
        // Checked like any listing: a repeat backup reuses its hashes for unchanged files.
        entries: (memo) => eachEntry(this.sourceOf(row, row.id), row.id, row.sha, row.format, memo),
        takenAtMs: row.created_at,
        sha: row.sha,
        format: row.format,
      }
    );
  }

  /**
   * Every object hash a backup in the catalog (complete or not) references, gathered into a
   * temporary table rather than a Set: a million hashes are 100 MB as strings, and SQLite keeps
   * what does not fit its cache on disk. Valid until the next call.
   */
  referencedHashes(): ReferencedHashes {
    this.db.exec(`DROP TABLE IF EXISTS temp.referenced_hashes;
      CREATE TEMP TABLE referenced_hashes (hash BLOB PRIMARY KEY) WITHOUT ROWID;`);
    const insert = this.db.prepare(`INSERT OR IGNORE INTO temp.referenced_hashes VALUES (?)`);
    const blob = this.db.prepare(
      `SELECT sha, format, entries, data FROM listing_blobs WHERE sha = ?`,
    );
    // One listing at a time (a statement cannot run while another one's rows are being read).
    for (const sha of this.db.prepare(`SELECT sha FROM listing_blobs`).pluck().all() as string[]) {
      const row = blob.get(sha) as
        | { sha: string; format: number; entries: number; data: Buffer }
        | undefined;
      if (!row) continue;
      this.db.transaction(() => {
        for (const hash of hashesOfListing(
          this.sourceOf(row, `(listing ${sha})`),
          `(listing ${sha})`,
          row.format,
        ))
          insert.run(Buffer.from(hash, "hex"));
      })();
    }
    return new ReferencedHashes(this.db);
  }

  deleteBackup(id: string): void {
    this.db.transaction(() => {
      this.db.prepare(`DELETE FROM backups WHERE id = ?`).run(id);
      this.db.prepare(`DELETE FROM listing_frames WHERE sha = ?`).run(stagedName(id));
      this.dropUnusedListings();
    })();
  }

  private dropUnusedListings(): void {
    this.db.prepare(`DELETE FROM listing_blobs WHERE sha NOT IN (SELECT sha FROM listings)`).run();
    // A backup being taken keeps its staged frames (they go with it, see deleteBackup).
    this.db
      .prepare(
        `DELETE FROM listing_frames WHERE sha NOT IN (SELECT sha FROM listing_blobs)
           AND sha NOT IN (SELECT 'pending:' || id FROM backups WHERE status = 'pending')`,
      )
      .run();
  }

  pendingBackups(): BackupRow[] {
    return (
      this.db.prepare(`SELECT * FROM backups WHERE status = 'pending'`).all() as RawBackup[]
    ).map(toBackup);
  }

  insertPoint(row: Omit<PointRow, "status">): void {
    this.db
      .prepare(
        `INSERT INTO points (id, module, description, created_at, status) VALUES (?, ?, ?, ?, 'pending')`,
      )
      .run(row.id, row.module, row.description, row.createdAt);
  }

  completePoint(id: string): void {
    this.db.prepare(`UPDATE points SET status = 'complete' WHERE id = ?`).run(id);
  }

  getPoint(id: string): PointRow | undefined {
    const raw = this.db.prepare(`SELECT * FROM points WHERE id = ?`).get(id) as
      | {
          id: string;
          module: string;
          description: string;
          created_at: number;
          status: BackupStatus;
        }
      | undefined;
    return (
      raw && {
        id: raw.id,
        module: raw.module,
        description: raw.description,
        createdAt: raw.created_at,
        status: raw.status,
      }
    );
  }

  /**
   * A point's members, in the order taken. Rows of the point without a seq are parts of a member
   * (a container member's volumes), restored by that member: not listed here.
   */
  pointMembers(pointId: string): BackupRow[] {
    return (
      this.db
        .prepare(
          `SELECT * FROM backups WHERE point_id = ? AND point_seq IS NOT NULL ORDER BY point_seq`,
        )
        .all(pointId) as RawBackup[]
    ).map(toBackup);
  }

  /** Delete a point and its members together; a point is kept whole or removed whole. */
  deletePoint(pointId: string): void {
    this.db.transaction(() => {
      this.db.prepare(`DELETE FROM backups WHERE point_id = ?`).run(pointId);
      this.db.prepare(`DELETE FROM points WHERE id = ?`).run(pointId);
      this.dropUnusedListings();
    })();
  }

  pendingPoints(): string[] {
    return this.db
      .prepare(`SELECT id FROM points WHERE status = 'pending'`)
      .pluck()
      .all() as string[];
  }

  /** Rollback points that an unfinished run may still restore: retention must keep them. */
  pointsHeldByUnfinishedRuns(): Set<string> {
    const rows = this.db
      .prepare(`SELECT point_id FROM runs WHERE finished = 0 AND point_id IS NOT NULL`)
      .pluck()
      .all() as string[];
    return new Set(rows);
  }
}

/** The hashes referenced by the catalog's listings, as of `referencedHashes()`. */
export class ReferencedHashes {
  /** The table that holds them, 32-byte blobs, for a query that joins them. */
  readonly table = "temp.referenced_hashes";
  private readonly lookup: Database.Statement<[Buffer], number>;

  constructor(db: Database.Database) {
    this.lookup = db
      .prepare<[Buffer], number>(`SELECT 1 FROM temp.referenced_hashes WHERE hash = ?`)
      .pluck();
  }

  has(hash: string): boolean {
    return this.lookup.get(Buffer.from(hash, "hex")) !== undefined;
  }
}

/** The name a backup's listing frames are kept under until it is complete. */
function stagedName(backupId: string): string {
  return `pending:${backupId}`;
}
