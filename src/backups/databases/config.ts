/** A SQLite database file. */
export interface SqliteDatabase {
  type: "sqlite";
  /** The database file's path. */
  database: string;
  /** The name steps use to refer to it; defaults to the file's name. */
  name?: string;
}

/** A PostgreSQL database. The password is never stored: only where to find it. */
export interface PostgresDatabase {
  type: "postgresql";
  host?: string;
  port?: number | string;
  user?: string;
  database: string;
  /** The name of an environment variable holding the password (preferred). */
  passwordEnv?: string;
  /** An inline password: works, but is warned about; prefer passwordEnv or ~/.pgpass. */
  password?: string;
  /** `dump` (pg_dump into the store; portable) or `clone` (CREATE DATABASE ... TEMPLATE; O(1) rollback). */
  strategy?: "dump" | "clone";
  name?: string;
}

export type DatabaseConfig = SqliteDatabase | PostgresDatabase;
