import type pg from "pg";
import { GlobalRollbackError } from "../../../errors.js";
import { loadPg } from "../../../util/lazy.js";
import { type PostgresDatabase, resolvePostgres } from "../config.js";

/** Where a PostgreSQL backup connects, as the catalog may keep it: no password, ever. */
export interface PostgresTarget {
  host: string;
  port: number;
  user: string;
  database: string;
  passwordEnv?: string;
}

export function targetOf(config: PostgresDatabase): PostgresTarget {
  const { host, port, user } = resolvePostgres(config);
  return {
    host,
    port,
    user,
    database: config.database,
    ...(config.passwordEnv ? { passwordEnv: config.passwordEnv } : {}),
  };
}

// Inline passwords seen in this process, by server and user: the catalog never keeps one, yet a
// rollback (or the drop of a clone snapshot at commit) in the same run must connect as the
// backup did. A later `recover` has only passwordEnv, PGPASSWORD or ~/.pgpass.
const inlinePasswords = new Map<string, string>();

/**
 * The password from `passwordEnv` or the inline value (remembered for this process's later
 * connections to the same server as the same user); `undefined` lets libpq and node-postgres find
 * one in PGPASSWORD, PGPASSFILE or ~/.pgpass. A named variable that is unset is an error.
 */
export function passwordOf(target: PostgresTarget, inline?: string): string | undefined {
  const key = `${target.user}@${target.host}:${target.port}`;
  if (inline !== undefined) inlinePasswords.set(key, inline);
  inline ??= inlinePasswords.get(key);
  if (target.passwordEnv) {
    const value = process.env[target.passwordEnv];
    if (value === undefined) {
      throw new GlobalRollbackError(
        "PREFLIGHT_FAILED",
        `the password of ${target.user}@${target.host}/${target.database} should be in $${target.passwordEnv}, which is not set`,
        { context: { database: target.database } },
      );
    }
    return value;
  }
  return inline;
}

/** The environment for pg_dump and pg_restore: the password travels here, never in argv. */
export function childEnv(
  target: PostgresTarget,
  database: string,
  password?: string,
): NodeJS.ProcessEnv {
  return {
    ...process.env,
    PGHOST: target.host,
    PGPORT: String(target.port),
    PGUSER: target.user,
    PGDATABASE: database,
    ...(password === undefined ? {} : { PGPASSWORD: password }),
  };
}

/** Run `fn` with a connection to `database` (the maintenance database `postgres` by default). */
/** Where the password `passwordOf` gives comes from, for a message that says what is missing. */
export function passwordSourceOf(target: PostgresTarget): string {
  if (target.passwordEnv) return `password from $${target.passwordEnv}`;
  if (inlinePasswords.has(`${target.user}@${target.host}:${target.port}`))
    return "the manifest's inline password, as this process read it";
  if (process.env.PGPASSWORD !== undefined) return "password from $PGPASSWORD";
  return "no password in this process: an inline password is never kept in the catalog, so a later process needs passwordEnv, $PGPASSWORD or ~/.pgpass ($PGPASSFILE)";
}

export async function withClient<T>(
  target: PostgresTarget,
  password: string | undefined,
  fn: (client: pg.Client) => Promise<T>,
  database = "postgres",
): Promise<T> {
  const { Client } = await loadPg();
  const client = new Client({
    host: target.host,
    port: target.port,
    user: target.user,
    database,
    ...(password === undefined ? {} : { password }),
    connectionTimeoutMillis: 10_000,
  });
  try {
    await client.connect();
  } catch (error) {
    // A refused authentication (no password for SCRAM) leaves the socket open until the
    // server's authentication_timeout (60 s): close it, or the process waits that long to exit.
    await client.end().catch(() => undefined);
    throw error;
  }
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/** A SQL identifier, quoted. */
export function ident(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/** End every other session on these databases: a rename, a template copy or a drop needs it. */
export async function terminateSessions(
  client: pg.Client,
  databases: readonly string[],
): Promise<number> {
  const result = await client.query(
    `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = ANY($1) AND pid <> pg_backend_pid()`,
    [databases],
  );
  return result.rowCount ?? 0;
}

/** Database names that exist, of those asked. */
export async function existing(client: pg.Client, names: readonly string[]): Promise<Set<string>> {
  const result = await client.query<{ datname: string }>(
    `SELECT datname FROM pg_database WHERE datname = ANY($1)`,
    [names],
  );
  return new Set(result.rows.map((r) => r.datname));
}
