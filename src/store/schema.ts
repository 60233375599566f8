// The catalog's schema, versioned through PRAGMA user_version. A new version appends a step;
// steps never change once released, so any older store can be brought forward.
export const MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE backups (
    id          TEXT PRIMARY KEY,
    type        TEXT NOT NULL CHECK (type IN ('file', 'service', 'database')),
    module      TEXT NOT NULL,
    description TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    status      TEXT NOT NULL CHECK (status IN ('pending', 'complete')),
    source      TEXT NOT NULL,
    point_id    TEXT,
    point_seq   INTEGER,
    meta        TEXT NOT NULL DEFAULT '{}'
  );
  CREATE INDEX backups_by_module ON backups (module, created_at);
  CREATE INDEX backups_by_source ON backups (type, source, status, created_at);
  CREATE INDEX backups_by_point ON backups (point_id, point_seq);

  -- A file backup's listing: every path with its type, mode, owner, times and object hash,
  -- as one compressed blob (see listing-codec.ts), stored once by the SHA-256 of its JSON: a
  -- repeat backup of an unchanged tree adds a row here and no blob.
  CREATE TABLE listing_blobs (
    sha     TEXT PRIMARY KEY,
    format  INTEGER NOT NULL,
    entries INTEGER NOT NULL,
    data    BLOB NOT NULL
  );
  CREATE TABLE listings (
    backup_id TEXT PRIMARY KEY REFERENCES backups (id) ON DELETE CASCADE,
    sha       TEXT NOT NULL REFERENCES listing_blobs (sha)
  );
  CREATE INDEX listings_by_sha ON listings (sha);

  CREATE TABLE points (
    id          TEXT PRIMARY KEY,
    module      TEXT NOT NULL,
    description TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    status      TEXT NOT NULL CHECK (status IN ('pending', 'complete'))
  );

  -- Runs of the engine. A run whose state is not final keeps its rollback point alive.
  CREATE TABLE runs (
    id          TEXT PRIMARY KEY,
    module      TEXT NOT NULL,
    point_id    TEXT,
    state       TEXT NOT NULL,
    finished    INTEGER NOT NULL DEFAULT 0,
    started_at  INTEGER NOT NULL,
    finished_at INTEGER,
    snapshot    TEXT
  );
  `,
  `
  -- Version 2: what the engine needs to show a run and to recover it.
  ALTER TABLE runs ADD COLUMN manifest TEXT;
  ALTER TABLE runs ADD COLUMN manifest_path TEXT;
  ALTER TABLE runs ADD COLUMN events TEXT NOT NULL DEFAULT '[]';
  ALTER TABLE runs ADD COLUMN result TEXT;
  ALTER TABLE runs ADD COLUMN no_rollback INTEGER NOT NULL DEFAULT 0;
  CREATE INDEX runs_unfinished ON runs (finished, started_at);
  `,
  `
  -- Version 3: where each step's processes are, written before the step starts, so that a
  -- recover after the runner died can find and kill whatever the step left running.
  CREATE TABLE step_processes (
    id          INTEGER PRIMARY KEY,
    run_id      TEXT NOT NULL,
    label       TEXT NOT NULL,
    marker      TEXT NOT NULL,
    boot_id     TEXT NOT NULL,
    start_ticks INTEGER NOT NULL,
    cgroup      TEXT,
    pgid        INTEGER
  );
  CREATE INDEX step_processes_by_run ON step_processes (run_id);
  `,
  `
  -- Version 4: small objects live in pack files (objects/packs/*.pack). A pack is recorded only
  -- once it is written whole and fsynced; then the ranges of the objects it holds. A pack file
  -- without a row is the remains of a crash and is deleted; so is a pack none of whose objects
  -- is referenced any more. An older rollpoint refuses a catalog of this version.
  CREATE TABLE packs (
    name  TEXT PRIMARY KEY,
    bytes INTEGER NOT NULL
  );
  CREATE TABLE packed_objects (
    hash   TEXT PRIMARY KEY,
    pack   TEXT NOT NULL REFERENCES packs (name),
    offset INTEGER NOT NULL,
    length INTEGER NOT NULL
  );
  CREATE INDEX packed_objects_by_pack ON packed_objects (pack, offset);
  `,
  `
  -- Version 5: a backup's type is data, named by its member kind (backups/members.ts), not a
  -- list fixed in the schema: a new kind needs no migration. SQLite cannot drop a CHECK, so the
  -- table is rebuilt (foreign keys are off while migrations run: listings keep their rows), and
  -- each row keeps its rowid, which orders "newest" and "latest".
  CREATE TABLE backups_v5 (
    id          TEXT PRIMARY KEY,
    type        TEXT NOT NULL CHECK (length(type) > 0),
    module      TEXT NOT NULL,
    description TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    status      TEXT NOT NULL CHECK (status IN ('pending', 'complete')),
    source      TEXT NOT NULL,
    point_id    TEXT,
    point_seq   INTEGER,
    meta        TEXT NOT NULL DEFAULT '{}'
  );
  INSERT INTO backups_v5 (rowid, id, type, module, description, created_at, status, source, point_id, point_seq, meta)
    SELECT rowid, id, type, module, description, created_at, status, source, point_id, point_seq, meta FROM backups;
  DROP TABLE backups;
  ALTER TABLE backups_v5 RENAME TO backups;
  CREATE INDEX backups_by_module ON backups (module, created_at);
  CREATE INDEX backups_by_source ON backups (type, source, status, created_at);
  CREATE INDEX backups_by_point ON backups (point_id, point_seq);
  `,
  `
  -- Version 6: listings of format 4 (listing-codec.ts: one entry a line, in walk order, deflated
  -- in frames of about a megabyte of text), written and read a frame at a time: each frame is a
  -- row here, numbered from 0, under its listing's SHA-256 (its listing_blobs row has an empty
  -- blob), or under 'pending:<backup id>' while that backup is being taken. An older rollpoint,
  -- which would take such a listing for a damaged one, refuses the catalog instead.
  CREATE TABLE listing_frames (
    sha  TEXT NOT NULL,
    seq  INTEGER NOT NULL,
    data BLOB NOT NULL,
    PRIMARY KEY (sha, seq)
  ) WITHOUT ROWID;
  `,
  `
  -- Version 7: a committed run's watch (its checks go on after the commit, in a process of its
  -- own): where that process is, until when, and how the watch ended.
  CREATE TABLE IF NOT EXISTS watches (
    run_id      TEXT PRIMARY KEY,
    module      TEXT NOT NULL,
    started_at  INTEGER NOT NULL,
    ends_at     INTEGER NOT NULL,
    pid         INTEGER,
    unit        TEXT,
    state       TEXT NOT NULL CHECK (state IN ('watching', 'rollingBack', 'ended', 'stopped', 'superseded', 'rolledBack', 'rollbackFailed')),
    rollback_run TEXT,
    detail      TEXT
  );
  CREATE INDEX IF NOT EXISTS watches_by_module ON watches (module, state);
  `,
  `
  -- Version 8: a listing entry may be named by the sparse digest (extras "digest": "sparse",
  -- store/hash.ts) rather than SHA-256. No table changes: an older rollpoint would take those
  -- objects for damaged ones, and refuses the catalog instead.
  SELECT 1;
  `,
];
