// The public face of PostgreSQL's preflight: its declarations name no pg types, so that a
// library user's type check needs none (the implementation is loaded when called).
import type { PostgresDatabase } from "../backups/databases/config.js";

/** What preflight found. */
export interface PostgresPreflight {
  serverVersion: number;
  pgDumpVersion: number;
  pgRestoreVersion: number;
  canCreateDatabases: boolean;
  sizeBytes: number;
}

/**
 * Everything a backup and its restore will need, checked before either is attempted: the server
 * answers, pg_dump and pg_restore exist and are not older than the server, and for `clone` the
 * role may create databases on a server of version 15 or newer.
 */
export async function preflightPostgres(config: PostgresDatabase): Promise<PostgresPreflight> {
  const { preflightPostgres: run } = await import(
    "../backups/databases/postgresql/postgres-backup.js"
  );
  return run(config);
}
