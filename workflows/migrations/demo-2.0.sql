-- Run by the `migrate` step of demo.yaml, in one transaction.
ALTER TABLE notes ADD COLUMN archived INTEGER NOT NULL DEFAULT 0;
DELETE FROM notes WHERE id % 2 = 0;
