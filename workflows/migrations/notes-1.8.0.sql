-- Run by the `migrate` step of notes-sqlite.yaml, in one transaction.
ALTER TABLE notes ADD COLUMN pinned INTEGER NOT NULL DEFAULT 0;
CREATE INDEX notes_pinned ON notes (pinned);
