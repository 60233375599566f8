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

  CREATE TABLE entries (
    backup_id TEXT NOT NULL REFERENCES backups (id) ON DELETE CASCADE,
    rel       TEXT NOT NULL,
    kind      TEXT NOT NULL,
    mode      INTEGER NOT NULL,
    uid       INTEGER NOT NULL,
    gid       INTEGER NOT NULL,
    size      INTEGER NOT NULL,
    mtime_ns  INTEGER NOT NULL,
    ctime_ns  INTEGER NOT NULL,
    ino       INTEGER NOT NULL,
    dev       INTEGER NOT NULL,
    rdev      INTEGER NOT NULL,
    hash      TEXT,
    target    TEXT,
    PRIMARY KEY (backup_id, rel)
  ) WITHOUT ROWID;
  CREATE INDEX entries_by_hash ON entries (hash) WHERE hash IS NOT NULL;

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
];
