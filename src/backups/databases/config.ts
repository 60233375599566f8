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

/**
 * A MariaDB (or MySQL) database. The password is never on a command line: from `passwordEnv`
 * it reaches the client as MYSQL_PWD; otherwise the client's option file (~/.my.cnf) applies.
 */
export interface MariadbDatabase {
  type: "mariadb" | "mysql";
  host?: string;
  port?: number | string;
  /** The server's Unix socket, instead of host and port. */
  socket?: string;
  user?: string;
  database: string;
  passwordEnv?: string;
  password?: string;
  name?: string;
}

export type DatabaseConfig = SqliteDatabase | PostgresDatabase | MariadbDatabase;

/**
 * Where a PostgreSQL database really is: the manifest's value, else libpq's environment
 * (PGHOST, PGPORT, PGUSER), else localhost:5432 as `postgres`; and its strategy (`dump`).
 * The one place these defaults live: plan, preflight, backup, restore and steps all use it.
 */
export function resolvePostgres(
  config: PostgresDatabase,
  env: NodeJS.ProcessEnv = process.env,
): PostgresDatabase & { host: string; port: number; user: string; strategy: "dump" | "clone" } {
  return {
    ...config,
    host: config.host ?? env.PGHOST ?? "localhost",
    port: Number(config.port ?? env.PGPORT ?? 5432),
    user: config.user ?? env.PGUSER ?? env.USER ?? "postgres",
    strategy: config.strategy ?? "dump",
  };
}
