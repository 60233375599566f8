import { describeError, GlobalRollbackError } from "../../../errors.js";
import type { PostgresPreflight } from "../../../library/postgres-preflight.js";
import type { Store } from "../../../store/store.js";
import { loadExeca } from "../../../util/lazy.js";
import type { Taken } from "../../record.js";
import { type PostgresDatabase, resolvePostgres } from "../config.js";
import { dumpEntry } from "../dump.js";
import { databaseProperties, type PgFingerprint, schemaAndRows } from "./fingerprint.js";
import {
  childEnv,
  ident,
  type PostgresTarget,
  passwordOf,
  targetOf,
  terminateSessions,
  withClient,
} from "./postgres-connection.js";

/** How a PostgreSQL backup is named in listings and logs: never with its password. */
export function describePostgres(config: PostgresDatabase): string {
  const t = targetOf(config);
  return `postgresql://${t.user}@${t.host}:${t.port}/${t.database}`;
}

/** The extra databases a backup's restore and clone strategy use, derived from its id. */
export function scratchNames(backupId: string): {
  snapshot: string;
  incoming: string;
  outgoing: string;
} {
  const tag = backupId.slice(-16);
  return { snapshot: `rp_snap_${tag}`, incoming: `rp_new_${tag}`, outgoing: `rp_old_${tag}` };
}

async function clientMajor(tool: string): Promise<number> {
  try {
    const { stdout } = await (await loadExeca())(tool, ["--version"]);
    const match = /(\d+)(?:\.\d+)?/.exec(stdout);
    return Number(match?.[1] ?? 0);
  } catch (error) {
    throw new GlobalRollbackError(
      "PREFLIGHT_FAILED",
      `${tool} is not installed or does not run (${describeError(error)}); Debian: apt-get install postgresql-client`,
    );
  }
}

export type { PostgresPreflight };

// Owners, other than the connecting role, of the database's own objects (schemas, relations,
// functions, types; not the catalogs, not the public schema, whose owner pg_dump does not set).
// Membership is not enough: ALTER ... OWNER TO needs the new owner to have CREATE on the schema
// in the new database, which its privileges (restored last) do not give yet. Empty for a
// superuser.
const FOREIGN_OWNERS = `
WITH owned AS (
  SELECT c.relowner AS owner, n.nspname || '.' || c.relname AS name
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
   WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
  UNION ALL SELECT p.proowner, n.nspname || '.' || p.proname
    FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
  UNION ALL SELECT t.typowner, n.nspname || '.' || t.typname
    FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
   WHERE t.typtype IN ('c', 'd', 'e', 'r', 'm') AND t.typrelid = 0
  UNION ALL SELECT n.nspowner, n.nspname FROM pg_namespace n
   WHERE n.nspname <> 'public'
)
SELECT pg_get_userbyid(owner) AS owner,
       array_to_string((array_agg(name ORDER BY name))[1:3], ', ')
         || CASE WHEN count(*) > 3 THEN ', and ' || (count(*) - 3) || ' more' ELSE '' END AS objects
  FROM owned
 WHERE name !~ '^(pg_catalog|information_schema|pg_toast|pg_temp_[0-9]+|pg_toast_temp_[0-9]+)([.]|$)'
   AND owner <> (SELECT oid FROM pg_roles WHERE rolname = current_user)
   AND NOT (SELECT rolsuper FROM pg_roles WHERE rolname = current_user)
 GROUP BY owner ORDER BY 1`;

/** The checks behind the public preflightPostgres (library/postgres-preflight.ts). */
export async function preflightPostgres(config: PostgresDatabase): Promise<PostgresPreflight> {
  const target = targetOf(config);
  const password = passwordOf(target, config.password);
  const where = describePostgres(config);
  let server: { version: number; createdb: boolean; size: number };
  let foreignOwners: string[];
  try {
    server = await withClient(target, password, async (client) => {
      const { rows } = await client.query<{ v: string; c: boolean; s: string | null }>(
        `SELECT current_setting('server_version_num') AS v,
                (SELECT rolcreatedb OR rolsuper FROM pg_roles WHERE rolname = current_user) AS c,
                (SELECT pg_database_size(datname)::text FROM pg_database WHERE datname = $1) AS s`,
        [target.database],
      );
      const row = rows[0]!;
      if (row.s === null) throw new Error(`database ${target.database} does not exist`);
      return { version: Math.floor(Number(row.v) / 10000), createdb: row.c, size: Number(row.s) };
    });
    // In the database itself: its objects are not visible from another.
    const { rows } = await withClient(
      target,
      password,
      (client) => client.query<{ owner: string; objects: string }>(FOREIGN_OWNERS),
      target.database,
    );
    foreignOwners = rows.map((r) => `${r.owner} (${r.objects})`);
  } catch (error) {
    if (error instanceof GlobalRollbackError) throw error;
    throw new GlobalRollbackError("PREFLIGHT_FAILED", `${where}: ${describeError(error)}`, {
      cause: error,
      context: { database: target.database },
    });
  }
  const [pgDumpVersion, pgRestoreVersion] = await Promise.all([
    clientMajor("pg_dump"),
    clientMajor("pg_restore"),
  ]);
  for (const [tool, version] of [
    ["pg_dump", pgDumpVersion],
    ["pg_restore", pgRestoreVersion],
  ] as const) {
    if (version < server.version) {
      throw new GlobalRollbackError(
        "PREFLIGHT_FAILED",
        `${tool} ${version} is older than the server (${server.version}) at ${where}: install postgresql-client-${server.version}`,
        { context: { database: target.database } },
      );
    }
  }
  if (!server.createdb) {
    // A restore builds a new database beside the live one and swaps it in: the only way to
    // bring the database back whole (objects created after the backup gone, its properties
    // back). In place, pg_restore --clean leaves what the update created and fails on what
    // depends on it: better to refuse now than to report a partial restore later.
    throw new GlobalRollbackError(
      "PREFLIGHT_FAILED",
      `${target.user} at ${where} may not create databases, so a rollback could not bring ${target.database} back whole (objects the update creates would stay): ALTER ROLE ${target.user} CREATEDB, or use a role that has it`,
      { context: { database: target.database } },
    );
  }
  if (foreignOwners.length && resolvePostgres(config).strategy === "dump") {
    // The restore loads the dump as this role in one transaction: an ALTER ... OWNER TO another
    // role fails, and with it the whole restore, at rollback time. Say so now.
    throw new GlobalRollbackError(
      "PREFLIGHT_FAILED",
      `${target.user} at ${where} does not own every object in ${target.database}: ${foreignOwners.join(", ")}; a restore as ${target.user} could not give them back their owners. Connect as a superuser, or ALTER ... OWNER TO ${target.user}`,
      { context: { database: target.database } },
    );
  }
  if (resolvePostgres(config).strategy === "clone") {
    if (server.version < 15) {
      throw new GlobalRollbackError(
        "PREFLIGHT_FAILED",
        `strategy clone needs PostgreSQL 15 or newer (CREATE DATABASE ... STRATEGY FILE_COPY); ${where} is ${server.version}: use strategy dump`,
        { context: { database: target.database } },
      );
    }
  }
  return {
    serverVersion: server.version,
    pgDumpVersion,
    pgRestoreVersion,
    canCreateDatabases: server.createdb,
    sizeBytes: server.size,
  };
}

/** Take a PostgreSQL backup with the configured strategy. */
export async function backupPostgres(
  store: Store,
  config: PostgresDatabase,
  backupId: string,
): Promise<Taken> {
  const preflight = await preflightPostgres(config);
  const target = targetOf(config);
  const password = passwordOf(target, config.password);
  const { strategy } = resolvePostgres(config);
  const meta = { engine: "postgresql", strategy, target, serverVersion: preflight.serverVersion };
  const read = (database: string) =>
    withClient(target, password, (client) => schemaAndRows(client), database);
  const properties = () =>
    withClient(target, password, (client) => databaseProperties(client, target.database));
  if (strategy === "clone") {
    const { snapshot } = scratchNames(backupId);
    const database = await properties();
    await cloneDatabase(target, password, target.database, snapshot);
    // The snapshot is the backup: its contents are exactly what a restore brings back.
    const fingerprint: PgFingerprint = { database, ...(await read(snapshot)) };
    return {
      entries: [],
      meta: { ...meta, snapshotDatabase: snapshot, fingerprint },
    };
  }
  // The fingerprint is read in the very snapshot pg_dump dumps (exported, then imported with
  // --snapshot), while pg_dump runs: its row counts are those of the dump even while others
  // write, and counting costs no time of its own on a machine with a second core.
  const temp = store.objects.tempPath();
  const fingerprint = await withClient(
    target,
    password,
    async (client): Promise<PgFingerprint> => {
      await client.query("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
      const { rows } = await client.query<{ id: string }>("SELECT pg_export_snapshot() AS id");
      const dump = (await loadExeca())(
        "pg_dump",
        [
          "--format=custom",
          "--compress=1",
          "--no-password",
          `--snapshot=${rows[0]!.id}`,
          `--file=${temp}`,
        ],
        { env: childEnv(target, target.database, password), extendEnv: false },
      );
      // Settled below; until then a failure must not count as unhandled.
      dump.catch(() => undefined);
      try {
        const read = {
          database: await databaseProperties(client, target.database),
          ...(await schemaAndRows(client)),
        };
        await dump;
        return read;
      } finally {
        // The snapshot must live until pg_dump has taken it; it has, once pg_dump has ended.
        await dump.catch(() => undefined);
        await client.query("COMMIT");
      }
    },
    target.database,
  );
  const put = await store.objects.adoptTempFile(temp);
  return {
    entries: [dumpEntry(put)],
    meta: { ...meta, fingerprint },
  };
}

/**
 * `CREATE DATABASE copy TEMPLATE source STRATEGY FILE_COPY`: the template must have no other
 * sessions, so they are ended first (plan announces it); one that reconnects in between is
 * ended again, a few times.
 */
export async function cloneDatabase(
  target: PostgresTarget,
  password: string | undefined,
  source: string,
  copy: string,
): Promise<void> {
  await withClient(target, password, async (client) => {
    for (let attempt = 1; ; attempt++) {
      await terminateSessions(client, [source]);
      try {
        await client.query(
          `CREATE DATABASE ${ident(copy)} TEMPLATE ${ident(source)} STRATEGY FILE_COPY`,
        );
        return;
      } catch (error) {
        if (attempt >= 5 || !/being accessed by other users/.test(describeError(error)))
          throw error;
      }
    }
  });
}
