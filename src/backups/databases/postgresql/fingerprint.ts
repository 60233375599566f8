import type pg from "pg";
import { type SchemaAndRows, schemaDifferences } from "../dump.js";
import { ident } from "./postgres-connection.js";

/** The database as a whole: what CREATE DATABASE ... TEMPLATE and pg_dump do not carry. */
export interface DatabaseProperties {
  owner: string;
  connectionLimit: number;
  /** `datacl` as text (`{=c/owner,app=CTc/owner}`), or null for the default privileges. */
  acl: string | null;
  comment: string | null;
  /** `ALTER DATABASE ... SET` and `ALTER ROLE ... IN DATABASE ... SET`: role ("" for all) → settings. */
  settings: Record<string, string[]>;
}

/**
 * A database read back: its properties, every schema object by name and definition summary, and
 * each table's row count. A restore is exact only when the fingerprint read after it equals the
 * one recorded with the backup.
 */
export interface PgFingerprint extends SchemaAndRows {
  database: DatabaseProperties;
}

/** The database-level properties of `name`, read through any connection to the server. */
export async function databaseProperties(
  client: pg.Client,
  name: string,
): Promise<DatabaseProperties> {
  const { rows } = await client.query<{
    owner: string;
    connlimit: number;
    acl: string | null;
    comment: string | null;
  }>(
    `SELECT pg_get_userbyid(datdba) AS owner, datconnlimit AS connlimit, datacl::text AS acl,
            shobj_description(oid, 'pg_database') AS comment
       FROM pg_database WHERE datname = $1`,
    [name],
  );
  const settings: Record<string, string[]> = {};
  const found = await client.query<{ role: string; setting: string }>(
    // In the order they were set: put back in that order, they read back the same.
    `SELECT COALESCE(r.rolname, '') AS role, c.setting
       FROM pg_db_role_setting s JOIN pg_database d ON d.oid = s.setdatabase
       LEFT JOIN pg_roles r ON r.oid = s.setrole,
       unnest(s.setconfig) WITH ORDINALITY AS c(setting, n)
      WHERE d.datname = $1 ORDER BY 1, c.n`,
    [name],
  );
  for (const { role, setting } of found.rows) settings[role] = [...(settings[role] ?? []), setting];
  const row = rows[0]!;
  return {
    owner: row.owner,
    connectionLimit: row.connlimit,
    acl: row.acl,
    comment: row.comment,
    settings,
  };
}

const SYSTEM = `('pg_catalog', 'information_schema')`;

// Marks a fingerprint that lists tables' and columns' privileges (relacl, attacl): one taken
// before has none, and its proof must not call every privilege present a difference.
const OBJECT_PRIVILEGES = "object privileges recorded";

/** Schema objects and row counts, through a connection to the database itself. */
export async function schemaAndRows(
  client: pg.Client,
): Promise<{ schema: string[]; rows: Record<string, number> }> {
  const { rows } = await client.query<{ line: string }>(
    `SELECT 'schema ' || nspname AS line FROM pg_namespace
      WHERE nspname NOT IN ${SYSTEM} AND nspname NOT LIKE 'pg\\_%'
     UNION ALL
     SELECT 'relation ' || n.nspname || '.' || c.relname || ' ' || c.relkind::text
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname NOT IN ${SYSTEM} AND n.nspname NOT LIKE 'pg\\_%'
     UNION ALL
     SELECT 'column ' || table_schema || '.' || table_name || '.' || column_name || ' ' ||
            data_type || ' ' || is_nullable || ' ' || COALESCE(column_default, '')
       FROM information_schema.columns WHERE table_schema NOT IN ${SYSTEM}
     UNION ALL
     SELECT 'function ' || n.nspname || '.' || p.proname || '(' ||
            pg_get_function_identity_arguments(p.oid) || ')'
       FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
      WHERE n.nspname NOT IN ${SYSTEM} AND n.nspname NOT LIKE 'pg\\_%'
     UNION ALL
     SELECT 'trigger ' || tgrelid::regclass::text || '.' || tgname FROM pg_trigger WHERE NOT tgisinternal
     UNION ALL
     SELECT 'extension ' || extname FROM pg_extension
     UNION ALL
     SELECT '${OBJECT_PRIVILEGES}'
     UNION ALL
     SELECT 'acl ' || n.nspname || '.' || c.relname || ' ' || c.relacl::text
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE c.relacl IS NOT NULL AND n.nspname NOT IN ${SYSTEM} AND n.nspname NOT LIKE 'pg\\_%'
     UNION ALL
     SELECT 'acl ' || n.nspname || '.' || c.relname || '.' || a.attname || ' ' || a.attacl::text
       FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
       JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE a.attacl IS NOT NULL AND NOT a.attisdropped
        AND n.nspname NOT IN ${SYSTEM} AND n.nspname NOT LIKE 'pg\\_%'`,
  );
  // An object's privileges as granted to whom, not by whom (normalAcl): who grants them back
  // depends on who runs the restore.
  const schema = rows
    .map((r) =>
      r.line.startsWith("acl ")
        ? `${r.line.slice(0, r.line.lastIndexOf(" {"))} ${normalAcl(r.line.slice(r.line.lastIndexOf(" {") + 1))}`
        : r.line,
    )
    .sort();
  const tables = (
    await client.query<{ name: string }>(
      `SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname) AS name
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ${SYSTEM} AND n.nspname NOT LIKE 'pg\\_%'`,
    )
  ).rows.map((r) => r.name);
  const counts: Record<string, number> = {};
  if (tables.length) {
    const result = await client.query<{ t: string; n: string }>(
      tables
        .map((t) => `SELECT ${literal(t)} AS t, count(*)::text AS n FROM ${t}`)
        .join(" UNION ALL "),
    );
    for (const { t, n } of result.rows) counts[t] = Number(n);
  }
  return { schema, rows: counts };
}

function literal(text: string): string {
  return `'${text.replace(/'/g, "''")}'`;
}

/** What differs between a fingerprint recorded and one read back, a line each. */
export function fingerprintDifferences(recorded: PgFingerprint, now: PgFingerprint): string[] {
  const out: string[] = [];
  const a = recorded.database;
  const b = now.database;
  if (a.owner !== b.owner) out.push(`owner ${b.owner}, ${a.owner} at backup time`);
  if (a.connectionLimit !== b.connectionLimit)
    out.push(`connection limit ${b.connectionLimit}, ${a.connectionLimit} at backup time`);
  if (normalAcl(a.acl) !== normalAcl(b.acl))
    out.push(`privileges ${b.acl ?? "(default)"}, ${a.acl ?? "(default)"} at backup time`);
  if (a.comment !== b.comment)
    out.push(`comment ${JSON.stringify(b.comment)}, ${JSON.stringify(a.comment)} at backup time`);
  if (JSON.stringify(a.settings) !== JSON.stringify(b.settings))
    out.push(
      `settings ${JSON.stringify(b.settings)}, ${JSON.stringify(a.settings)} at backup time`,
    );
  const unrecorded = !recorded.schema.includes(OBJECT_PRIVILEGES);
  out.push(
    ...schemaDifferences(
      recorded,
      unrecorded
        ? {
            ...now,
            schema: now.schema.filter((l) => l !== OBJECT_PRIVILEGES && !l.startsWith("acl ")),
          }
        : now,
    ),
  );
  return out;
}

// Who granted a privilege depends on who runs the GRANT; what is granted to whom is what counts.
function normalAcl(acl: string | null): string {
  if (acl === null) return "";
  return acl
    .replace(/^\{|\}$/g, "")
    .split(",")
    .map((item) => item.replace(/\/.*$/, ""))
    .sort()
    .join(",");
}

// Settings whose value is a list: each element is quoted on its own (as pg_dump does).
const LIST_SETTINGS = new Set([
  "search_path",
  "temp_tablespaces",
  "session_preload_libraries",
  "local_preload_libraries",
]);

/**
 * Give database `name` the recorded properties: owner, connection limit, comment, privileges
 * (from the recorded ACL) and settings. Idempotent: run after every restore, since neither a
 * template copy nor a new database built from a dump carries them.
 */
export async function applyDatabaseProperties(
  client: pg.Client,
  name: string,
  props: DatabaseProperties,
): Promise<void> {
  const db = ident(name);
  await client.query(`ALTER DATABASE ${db} OWNER TO ${ident(props.owner)}`);
  await client.query(`ALTER DATABASE ${db} CONNECTION LIMIT ${Number(props.connectionLimit)}`);
  await client.query(
    `COMMENT ON DATABASE ${db} IS ${props.comment === null ? "NULL" : literal(props.comment)}`,
  );
  if (props.acl !== null) {
    await client.query(`REVOKE ALL ON DATABASE ${db} FROM PUBLIC`);
    await client.query(`REVOKE ALL ON DATABASE ${db} FROM ${ident(props.owner)}`);
    for (const item of props.acl
      .replace(/^\{|\}$/g, "")
      .split(",")
      .filter(Boolean)) {
      const [grantee = "", rest = ""] = item.split("=");
      const privs = rest.replace(/\/.*$/, "");
      const names = [...privs.matchAll(/([CcT])(\*?)/g)];
      const to = grantee === "" ? "PUBLIC" : ident(grantee.replace(/^"|"$/g, ""));
      for (const [, letter, star] of names) {
        const privilege = letter === "C" ? "CREATE" : letter === "c" ? "CONNECT" : "TEMPORARY";
        await client.query(
          `GRANT ${privilege} ON DATABASE ${db} TO ${to}${star ? " WITH GRANT OPTION" : ""}`,
        );
      }
    }
  }
  const current = await databaseProperties(client, name);
  for (const role of Object.keys(current.settings))
    await client.query(
      role === ""
        ? `ALTER DATABASE ${db} RESET ALL`
        : `ALTER ROLE ${ident(role)} IN DATABASE ${db} RESET ALL`,
    );
  for (const [role, settings] of Object.entries(props.settings)) {
    for (const setting of settings) {
      const eq = setting.indexOf("=");
      const key = setting.slice(0, eq);
      const value = setting.slice(eq + 1);
      const values = LIST_SETTINGS.has(key)
        ? value.split(/,\s*/).map(literal).join(", ")
        : literal(value);
      const target = role === "" ? `DATABASE ${db}` : `ROLE ${ident(role)} IN DATABASE ${db}`;
      // A setting's name is a dotted identifier (`work_mem`, `app.tenant`), never user text.
      if (!/^[A-Za-z_][A-Za-z0-9_.]*$/.test(key)) throw new Error(`unexpected setting name ${key}`);
      await client.query(`ALTER ${target} SET ${key} TO ${values}`);
    }
  }
}
