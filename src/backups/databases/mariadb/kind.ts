import { describeError, GlobalRollbackError } from "../../../errors.js";
import type { Jail } from "../../../processes/containment.js";
import { bytes } from "../../../util/bytes.js";
import { operation, verifiedEntries } from "../../operation.js";
import { recordBackup } from "../../record.js";
import type { MariadbDatabase } from "../config.js";
import { dumpEntry, type SchemaAndRows, schemaDifferences } from "../dump.js";
import type { DatabaseKind } from "../kind.js";
import { reachable } from "../unreachable.js";
import {
  describeMariadb,
  ident,
  type MariadbTarget,
  mariadbTarget,
  query,
  runTool,
  spawnTool,
} from "./client.js";

/**
 * What a database is, read back: its character set and collation, every table, view, column,
 * index, routine, trigger and event by name and definition summary, the database-level grants
 * (`grant 'user'@'host' PRIVILEGE`, as far as the connecting role may see them), and each
 * table's row count. A restore is called exact only when the fingerprint read after it equals
 * the one taken with the backup.
 */
type Fingerprint = SchemaAndRows;

// Marks a fingerprint that lists grants: one taken before grants were recorded has none, and
// its restore must not call every grant present a difference.
const GRANTS_RECORDED = "grants recorded";
// The same for grants on the database's tables and columns (mysql.tables_priv, columns_priv):
// they too survive DROP DATABASE, even for a table the rollback removed.
const OBJECT_GRANTS_RECORDED = "object grants recorded";

const SCHEMA_QUERY = `
SELECT CONCAT('database ', DEFAULT_CHARACTER_SET_NAME, ' ', DEFAULT_COLLATION_NAME)
  FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = DATABASE()
UNION ALL SELECT CONCAT(LOWER(TABLE_TYPE), ' ', TABLE_NAME, ' ', IFNULL(ENGINE, ''))
  FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE()
UNION ALL SELECT CONCAT('column ', TABLE_NAME, '.', COLUMN_NAME, ' ', COLUMN_TYPE, ' ', IS_NULLABLE,
    ' ', IFNULL(COLUMN_DEFAULT, 'NULL'))
  FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE()
UNION ALL SELECT CONCAT('index ', TABLE_NAME, '.', INDEX_NAME, '.', SEQ_IN_INDEX, ' ', COLUMN_NAME)
  FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE()
UNION ALL SELECT CONCAT(LOWER(ROUTINE_TYPE), ' ', ROUTINE_NAME)
  FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = DATABASE()
UNION ALL SELECT CONCAT('trigger ', TRIGGER_NAME, ' ', EVENT_MANIPULATION, ' ', EVENT_OBJECT_TABLE)
  FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = DATABASE()
UNION ALL SELECT CONCAT('event ', EVENT_NAME, ' ', STATUS)
  FROM information_schema.EVENTS WHERE EVENT_SCHEMA = DATABASE()
UNION ALL SELECT '${GRANTS_RECORDED}'
UNION ALL SELECT CONCAT('grant ', GRANTEE, ' ', PRIVILEGE_TYPE, IF(IS_GRANTABLE = 'YES', ' WITH GRANT OPTION', ''))
  FROM information_schema.SCHEMA_PRIVILEGES
  WHERE TABLE_SCHEMA IN (DATABASE(), REPLACE(REPLACE(DATABASE(), '_', '\\\\_'), '%', '\\\\%'))
UNION ALL SELECT '${OBJECT_GRANTS_RECORDED}'
UNION ALL SELECT CONCAT('table grant ', GRANTEE, ' ', PRIVILEGE_TYPE, ' ON ', TABLE_NAME, IF(IS_GRANTABLE = 'YES', ' WITH GRANT OPTION', ''))
  FROM information_schema.TABLE_PRIVILEGES WHERE TABLE_SCHEMA = DATABASE()
UNION ALL SELECT CONCAT('column grant ', GRANTEE, ' ', PRIVILEGE_TYPE, ' (', COLUMN_NAME, ') ON ', TABLE_NAME, IF(IS_GRANTABLE = 'YES', ' WITH GRANT OPTION', ''))
  FROM information_schema.COLUMN_PRIVILEGES WHERE TABLE_SCHEMA = DATABASE()`;

async function fingerprint(target: MariadbTarget, password?: string): Promise<Fingerprint> {
  const options = { database: target.database, ...(password === undefined ? {} : { password }) };
  const schema = (await query(target, SCHEMA_QUERY, options)).map((r) => r.join("\t")).sort();
  const tables = schema
    .filter((line) => line.startsWith("base table "))
    .map((line) => line.split(" ")[2]!);
  const rows: Record<string, number> = {};
  if (tables.length) {
    const counts = await query(
      target,
      tables.map((t) => `SELECT ${quote(t)}, COUNT(*) FROM ${ident(t)}`).join(" UNION ALL "),
      options,
    );
    for (const [table, count] of counts) rows[table!] = Number(count);
  }
  return { schema, rows };
}

function quote(text: string): string {
  return `'${text.replace(/\\/g, "\\\\").replace(/'/g, "''")}'`;
}

/**
 * MariaDB and MySQL: `mariadb-dump` in one transaction, with routines, triggers and events, into
 * the store; a restore drops the database, creates it again with its character set and
 * collation, loads the dump (so tables created after the backup are gone), and proves itself
 * against the fingerprint taken with the backup.
 */
export const mariadbKind: DatabaseKind<MariadbDatabase> = {
  resolve: (config, env) => {
    const t = mariadbTarget(config, env);
    return {
      ...config,
      ...(t.socket ? { socket: t.socket } : { host: t.host, port: t.port }),
      user: t.user,
    };
  },
  describe: (config) => describeMariadb(mariadbTarget(config)),

  async preflight(config) {
    const target = mariadbTarget(config);
    const subject = `mariadb ${config.name ?? config.database} (${config.database})`;
    try {
      const [[version, size] = []] = await query(
        target,
        "SELECT VERSION(), COALESCE(SUM(DATA_LENGTH + INDEX_LENGTH), 0) FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE()",
        { database: config.database, ...passwordOption(config) },
      );
      const dump = (await runTool("mariadb-dump", target, ["--version"])).trim();
      const refused = await restoreRefusal(target, config);
      if (refused) return { ok: false, subject, detail: refused, newBytes: 0 };
      return {
        ok: true,
        subject,
        detail: `MariaDB ${version}, ${bytes(Number(size))}; ${dump}`,
        newBytes: Number(size),
      };
    } catch (error) {
      return { ok: false, subject, detail: describeError(error), newBytes: 0 };
    }
  },

  backup(store, config, label) {
    const target = mariadbTarget(config);
    return recordBackup(
      store,
      { type: "database", source: describeMariadb(target), meta: { engine: "mariadb" } },
      label,
      async () => {
        const password = config.password;
        const before = await fingerprint(target, password);
        const temp = store.objects.tempPath();
        await runTool(
          "mariadb-dump",
          target,
          [
            "--single-transaction",
            "--routines",
            "--triggers",
            "--events",
            "--hex-blob",
            "--skip-dump-date",
            "--no-create-db",
            "--",
            target.database,
          ],
          { stdoutFile: temp, ...(password === undefined ? {} : { password }) },
        );
        const after = await fingerprint(target, password);
        // Rows written while the dump ran make the counts uncertain: then only the schema is
        // compared after a restore (the dump itself is one consistent transaction).
        const stable = JSON.stringify(before) === JSON.stringify(after);
        const recorded: Fingerprint = stable ? after : { schema: after.schema };
        const [[version] = []] = await query(target, "SELECT VERSION()", passwordOption(config));
        const put = await store.objects.adoptTempFile(temp);
        return {
          entries: [dumpEntry(put)],
          meta: { engine: "mariadb", target, serverVersion: version, fingerprint: recorded },
        };
      },
    );
  },

  async prepareRestore(store, row) {
    const entries = await verifiedEntries(store, row);
    const target = row.meta.target as MariadbTarget;
    const recorded = row.meta.fingerprint as Fingerprint;
    await reachable(
      describeMariadb(target),
      target.passwordEnv
        ? `password from $${target.passwordEnv}`
        : "password from the client's option file, or none",
      () => query(target, "SELECT 1"),
    );
    return {
      row,
      apply: async () => {
        const charset = recorded.schema.find((l) => l.startsWith("database "))?.split(" ");
        // DROP DATABASE waits for every open transaction on it (an application's session, a
        // dead runner's client): those sessions are ended first, as the PostgreSQL kind ends
        // its, and the wait for what is left is bounded, with a message, never silent.
        const ended = await endOtherSessions(target);
        try {
          await query(
            target,
            `SET SESSION lock_wait_timeout = ${LOCK_WAIT_S}; DROP DATABASE IF EXISTS ${ident(target.database)}; CREATE DATABASE ${ident(target.database)}${charset ? ` CHARACTER SET ${charset[1]} COLLATE ${charset[2]}` : ""}`,
          );
        } catch (error) {
          if (!/lock wait timeout/i.test(describeError(error))) throw error;
          throw new GlobalRollbackError(
            "DATABASE_FAILED",
            `restore of ${row.source} waited ${LOCK_WAIT_S} s for a session that holds the database and could not be ended (${describeError(error)}); nothing was changed: end it (SHOW PROCESSLIST, KILL), then run the restore again`,
            { cause: error, context: { backupId: row.id, database: target.database } },
          );
        }
        await runTool("mariadb", target, ["--", target.database], {
          stdin: { file: store.objects.pathOf(entries[0]!.hash!) },
        });
        // Grants live outside the database (mysql.db) and survive DROP DATABASE: an update's
        // GRANT would outlive the rollback. Put back exactly the recorded ones.
        const grants = await returnGrants(target, recorded);
        // The proof: read the database back and compare it with what the backup recorded.
        const now = await fingerprint(target);
        const found = schemaDifferences(recorded, {
          ...now,
          schema: now.schema.filter((l) => !unrecordedGrantLine(l, recorded)),
        });
        if (found.length) {
          throw new GlobalRollbackError(
            "DATABASE_FAILED",
            `restore of ${row.source} is not exact: read back, ${found.length} difference(s): ${found.slice(0, 10).join("; ")}`,
            { context: { backupId: row.id, database: target.database } },
          );
        }
        return operation(row, {
          detail: `${ended ? `ended ${ended} other session(s) on the database; ` : ""}dropped, created again and loaded from mariadb-dump${grants ? `; ${grants}` : ""}; read back: ${recorded.schema.filter((l) => l.startsWith("base table ")).length} tables as recorded${recorded.rows ? ", row counts equal" : " (row counts not compared: rows changed during the backup)"}`,
        });
      },
    };
  },

  async runSql(config, text, ctx) {
    const target = mariadbTarget(config);
    // The statements run on the server: the client prints its connection id first, so that an
    // abort can KILL QUERY there; the rollback waits (ctx.hold) until the client has ended.
    const script = `SELECT CONNECTION_ID();\nSTART TRANSACTION;\n${text}\n;\nCOMMIT;\n`;
    await ctx.hold(
      runToolStreaming(
        target,
        ["-N", "-B", "--", config.database],
        script,
        config.password,
        ctx.signal,
        ctx.jail(),
      ),
    );
  },

  describeBackup: (meta) => [
    `mariadb dump: mariadb-dump --single-transaction --routines --triggers --events in the store (server ${String(meta.serverVersion)})`,
  ],

  discardExternal: async () => {},
  checkExternal: async () => undefined,
};

// What loading mariadb-dump's output into a database dropped and created again takes, on the
// database or globally (a grant on a pattern such as `app\_%` counts where it matches).
const RESTORE_PRIVILEGES = [
  "SELECT",
  "INSERT",
  "CREATE",
  "DROP",
  "ALTER",
  "INDEX",
  "LOCK TABLES",
  "CREATE VIEW",
  "SHOW VIEW",
  "TRIGGER",
  "CREATE ROUTINE",
  "ALTER ROUTINE",
  "EVENT",
];

const PRIVILEGES_QUERY = `
SELECT DISTINCT PRIVILEGE_TYPE FROM information_schema.USER_PRIVILEGES
 WHERE GRANTEE IN (@me, @role)
UNION SELECT DISTINCT PRIVILEGE_TYPE FROM information_schema.SCHEMA_PRIVILEGES
 WHERE GRANTEE IN (@me, @role) AND DATABASE() LIKE TABLE_SCHEMA`;

// Views, routines, triggers and events keep their DEFINER; the dump recreates them with it, and
// naming another account as definer takes SET USER (or SUPER).
const FOREIGN_DEFINERS = `
SELECT CONCAT('view ', TABLE_NAME, ' (definer ', DEFINER, ')') FROM information_schema.VIEWS
 WHERE TABLE_SCHEMA = DATABASE() AND DEFINER <> CURRENT_USER()
UNION ALL SELECT CONCAT(LOWER(ROUTINE_TYPE), ' ', ROUTINE_NAME, ' (definer ', DEFINER, ')')
  FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = DATABASE() AND DEFINER <> CURRENT_USER()
UNION ALL SELECT CONCAT('trigger ', TRIGGER_NAME, ' (definer ', DEFINER, ')')
  FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = DATABASE() AND DEFINER <> CURRENT_USER()
UNION ALL SELECT CONCAT('event ', EVENT_NAME, ' (definer ', DEFINER, ')')
  FROM information_schema.EVENTS WHERE EVENT_SCHEMA = DATABASE() AND DEFINER <> CURRENT_USER()`;

/**
 * Why the connecting account could not restore the database exactly, if it could not: a restore
 * drops the database, creates it again and loads the dump, so a missing privilege there would
 * leave it dropped or half loaded. Refused at preflight instead, before anything changes.
 */
async function restoreRefusal(
  target: MariadbTarget,
  config: MariadbDatabase,
): Promise<string | undefined> {
  const options = { database: config.database, ...passwordOption(config) };
  // GRANTEE is written 'user'@'host'; CURRENT_USER() is user@host (the account matched).
  const me = `SET @me = CONCAT("'", SUBSTRING_INDEX(CURRENT_USER(), '@', 1), "'@'", SUBSTRING_INDEX(CURRENT_USER(), '@', -1), "'"), @role = CONCAT("'", IFNULL(CURRENT_ROLE(), ''), "'");`;
  const held = new Set((await query(target, me + PRIVILEGES_QUERY, options)).map((r) => r[0]!));
  const who = `${target.user} on ${describeMariadb(target)}`;
  const missing = RESTORE_PRIVILEGES.filter((p) => !held.has(p));
  if (missing.length) {
    return `${who} lacks ${missing.join(", ")}: a restore drops the database, creates it again and loads the dump, which takes all of ${RESTORE_PRIVILEGES.join(", ")}; GRANT ALL ON ${ident(config.database)}.* TO the account (nothing was changed)`;
  }
  if (held.has("SUPER") || held.has("SET USER")) return undefined;
  const foreign = (await query(target, FOREIGN_DEFINERS, options)).map((r) => r[0]!);
  if (foreign.length) {
    return `${who} cannot recreate ${foreign.length} object(s) defined by another account: ${foreign.slice(0, 5).join(", ")}${foreign.length > 5 ? ", …" : ""}; restoring them takes SET USER (or SUPER), or connect as their definer (nothing was changed)`;
  }
  return undefined;
}

/** A grant line of a kind the backup's fingerprint did not record (an older rollpoint's). */
function unrecordedGrantLine(line: string, recorded: Fingerprint): boolean {
  if (
    !recorded.schema.includes(GRANTS_RECORDED) &&
    (line === GRANTS_RECORDED || line.startsWith("grant "))
  )
    return true;
  return (
    !recorded.schema.includes(OBJECT_GRANTS_RECORDED) &&
    (line === OBJECT_GRANTS_RECORDED || isObjectGrant(line))
  );
}

function isObjectGrant(line: string): boolean {
  return line.startsWith("table grant ") || line.startsWith("column grant ");
}

/**
 * Revoke the privileges on the database, its tables and its columns that the backup did not
 * record, and grant the ones it did (for a level the backup's fingerprint did not record, an
 * older rollpoint's: nothing of that level is touched). Says what it changed.
 */
async function returnGrants(target: MariadbTarget, recorded: Fingerprint): Promise<string> {
  const levels = (line: string) =>
    (recorded.schema.includes(GRANTS_RECORDED) && line.startsWith("grant ")) ||
    (recorded.schema.includes(OBJECT_GRANTS_RECORDED) && isObjectGrant(line));
  const want = new Set(recorded.schema.filter(levels));
  const have = new Set((await fingerprint(target)).schema.filter(levels));
  const db = ident(target.database);
  // "[table |column ]grant 'u'@'h' PRIVILEGE[ (column)][ ON table][ WITH GRANT OPTION]": the
  // grantee is quoted as SQL already; a table or column name is backquoted here.
  const parse = (line: string) => {
    const grantable = line.endsWith(" WITH GRANT OPTION");
    const rest = line
      .slice(line.indexOf("grant ") + "grant ".length)
      .replace(/ WITH GRANT OPTION$/, "");
    const at = rest.indexOf("' ", rest.indexOf("'@'") + 3);
    const grantee = rest.slice(0, at + 1);
    let privilege = rest.slice(at + 2);
    let on = `${db}.*`;
    const onAt = privilege.lastIndexOf(" ON ");
    if (isObjectGrant(line) && onAt >= 0) {
      on = `${db}.${ident(privilege.slice(onAt + 4))}`;
      privilege = privilege.slice(0, onAt);
      const column = /^(.*) \((.*)\)$/.exec(privilege);
      if (column) privilege = `${column[1]} (${ident(column[2]!)})`;
    }
    return { grantee, on, privilege, grantable };
  };
  // Grouped per grantee and object: one REVOKE and one GRANT each.
  const group = (lines: string[]) => {
    const byTarget = new Map<
      string,
      { grantee: string; on: string; privileges: string[]; grantable: boolean }
    >();
    for (const line of lines) {
      const { grantee, on, privilege, grantable } = parse(line);
      const key = `${grantee} ${on}`;
      const entry = byTarget.get(key) ?? { grantee, on, privileges: [], grantable: false };
      entry.privileges.push(privilege);
      entry.grantable ||= grantable;
      byTarget.set(key, entry);
    }
    return [...byTarget.values()];
  };
  const statements: string[] = [];
  for (const { grantee, on, privileges, grantable } of group([...have].filter((l) => !want.has(l))))
    statements.push(
      `REVOKE ${[...privileges, ...(grantable ? ["GRANT OPTION"] : [])].join(", ")} ON ${on} FROM ${grantee}`,
    );
  for (const { grantee, on, privileges, grantable } of group([...want].filter((l) => !have.has(l))))
    statements.push(
      `GRANT ${privileges.join(", ")} ON ${on} TO ${grantee}${grantable ? " WITH GRANT OPTION" : ""}`,
    );
  if (statements.length) await query(target, statements.join(";\n"));
  if (!statements.length) return "";
  const objects = statements.some((st) => !st.includes(` ON ${db}.* `));
  return `${objects ? "grants on the database, its tables and columns" : "database-level grants"} put back (${statements.length} GRANT/REVOKE statement(s))`;
}

/** How long a restore waits for a metadata lock it could not free by ending sessions. */
const LOCK_WAIT_S = 30;

/**
 * End every other session whose database is this one (KILL CONNECTION: its open transaction is
 * rolled back and its locks go); returns how many. Sessions the account cannot see or end are
 * left to the bounded wait of the DROP that follows.
 */
async function endOtherSessions(target: MariadbTarget): Promise<number> {
  const sessions = await query(
    target,
    `SELECT ID FROM information_schema.PROCESSLIST WHERE DB = ${quote(target.database)} AND ID <> CONNECTION_ID()`,
  );
  let ended = 0;
  for (const [id] of sessions) {
    await query(target, `KILL CONNECTION ${Number(id)}`).then(
      () => ended++,
      () => undefined,
    );
  }
  return ended;
}

function passwordOption(config: MariadbDatabase): { password?: string } {
  return config.password === undefined ? {} : { password: config.password };
}

/**
 * `mariadb` reading a script on stdin, in the step's jail; on abort, the running statement is
 * killed on the server, and the client with its jail once it ends (or at once, by `release`).
 */
async function runToolStreaming(
  target: MariadbTarget,
  args: string[],
  script: string,
  password: string | undefined,
  signal: AbortSignal,
  jail: Jail,
): Promise<void> {
  let connectionId: string | undefined;
  const onAbort = () => {
    if (connectionId)
      void query(
        target,
        `KILL QUERY ${Number(connectionId)}`,
        password === undefined ? {} : { password },
      ).catch(() => undefined);
  };
  signal.addEventListener("abort", onAbort, { once: true });
  try {
    await new Promise<void>((resolve, reject) => {
      const child = spawnTool("mariadb", target, args, password, ["pipe", "pipe"], jail);
      let err = "";
      let first = "";
      child.stdout?.on("data", (c: Buffer) => {
        if (connectionId === undefined) {
          first += c.toString();
          const newline = first.indexOf("\n");
          if (newline >= 0) {
            connectionId = first.slice(0, newline).trim();
            if (signal.aborted) onAbort();
          }
        }
      });
      child.stderr?.on("data", (c: Buffer) => {
        err += c.toString();
      });
      child.once("error", reject);
      child.once("close", (code) =>
        code === 0 ? resolve() : reject(new Error(err.trim() || `mariadb exited with ${code}`)),
      );
      child.stdin?.on("error", () => undefined);
      child.stdin?.end(script);
    });
  } finally {
    signal.removeEventListener("abort", onAbort);
    await jail.release();
  }
}
