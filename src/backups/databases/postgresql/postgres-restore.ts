import type pg from "pg";
import { describeError, GlobalRollbackError } from "../../../errors.js";
import type { BackupRow } from "../../../store/catalog.js";
import type { ObjectStore } from "../../../store/objects.js";
import { loadExeca } from "../../../util/lazy.js";
import type { Entry } from "../../files/entry.js";
import {
  applyDatabaseProperties,
  databaseProperties,
  fingerprintDifferences,
  type PgFingerprint,
  schemaAndRows,
} from "./fingerprint.js";
import { scratchNames } from "./postgres-backup.js";
import {
  childEnv,
  existing,
  ident,
  type PostgresTarget,
  passwordOf,
  terminateSessions,
  withClient,
} from "./postgres-connection.js";

/** What a PostgreSQL restore did, in words for the report. */
export type PostgresRestoreResult = {
  changed: boolean;
  detail: string;
  /** How long the database was unavailable (the swap), and how long dropping the old one took. */
  timings?: { swapMs: number; dropMs: number };
  /** Why the result could not be read back and compared, when it could not. */
  unproven?: string;
  /** The database the swap replaced, to be dropped now (internal to the restore). */
  retire?: string;
};

/**
 * Restore a PostgreSQL backup. The live database is never dropped before its replacement is
 * complete: `clone` and `dump` (when the role may create databases) build the replacement beside
 * it and swap names in one transaction; only then is the old one dropped. Every step is
 * idempotent by name (scratch names derive from the backup id), so an interrupted restore, run
 * again, finishes.
 */
export async function restorePostgres(
  objects: ObjectStore,
  row: BackupRow,
  entries: Entry[],
): Promise<PostgresRestoreResult> {
  const target = row.meta.target as PostgresTarget;
  const password = passwordOf(target);
  const names = scratchNames(row.id);
  let result: PostgresRestoreResult;
  try {
    result =
      row.meta.strategy === "clone"
        ? await withClient(target, password, (client) =>
            swapIn(client, target.database, names.snapshot, names.outgoing, "clone"),
          )
        : await restoreDump(target, password, objects.pathOf(entries[0]!.hash!), names);
  } catch (error) {
    if (error instanceof GlobalRollbackError) throw error;
    throw new GlobalRollbackError(
      "DATABASE_FAILED",
      `restore of ${row.source} from backup ${row.id} failed: ${describeError(error)}`,
      { cause: error, context: { backupId: row.id, database: target.database } },
    );
  }
  // The replaced database is dropped while the restored one is read back: both take about as
  // long (deleting its files; counting its rows), and neither needs the other.
  const { retire, ...done } = result;
  const dropStart = performance.now();
  const retired = retire
    ? withClient(target, password, (client) => dropDatabase(client, retire)).then(
        () => {
          if (done.timings) done.timings.dropMs = performance.now() - dropStart;
        },
        (error: unknown) => {
          throw new GlobalRollbackError(
            "DATABASE_FAILED",
            `${target.database} was swapped back, but the database it replaced, ${retire}, could not be dropped (drop it by hand, or restore again): ${describeError(error)}`,
            { cause: error, context: { backupId: row.id, database: target.database } },
          );
        },
      )
    : Promise.resolve();
  retired.catch(() => undefined);
  const recorded = row.meta.fingerprint as PgFingerprint | undefined;
  if (!recorded) {
    await retired;
    return {
      ...done,
      unproven: `${row.source}: the backup predates fingerprints, so the restored database was not compared with it`,
    };
  }
  const [now, read] = await Promise.all([
    // The database as a whole: neither a template copy nor a database built from a dump carries
    // its owner, comment, privileges, settings or connection limit.
    withClient(target, password, async (client) => {
      await applyDatabaseProperties(client, target.database, recorded.database);
      return databaseProperties(client, target.database);
    }),
    // The proof: read the database back and compare it with what the backup recorded.
    withClient(target, password, (client) => schemaAndRows(client), target.database),
    retired,
  ]);
  const found = fingerprintDifferences(recorded, { database: now, ...read });
  if (found.length) {
    throw new GlobalRollbackError(
      "DATABASE_FAILED",
      `restore of ${row.source} is not exact: read back, ${found.length} difference(s): ${found.slice(0, 10).join("; ")}`,
      { context: { backupId: row.id, database: target.database } },
    );
  }
  return {
    ...done,
    detail: `${done.detail}; read back: schema, database properties${recorded.rows ? " and row counts" : ""} as recorded`,
  };
}

/** Build a new database from the dump beside the live one, then swap it in. */
async function restoreDump(
  target: PostgresTarget,
  password: string | undefined,
  dump: string,
  names: ReturnType<typeof scratchNames>,
): Promise<PostgresRestoreResult> {
  return withClient(target, password, async (client) => {
    const present = await existing(client, [names.incoming, names.outgoing]);
    // A previous attempt got as far as the swap: only the drop of the old one is left.
    if (present.has(names.outgoing) && !present.has(names.incoming)) {
      return swapIn(client, target.database, names.incoming, names.outgoing, "dump");
    }
    if (present.has(names.incoming)) await dropDatabase(client, names.incoming);
    await createLike(client, target.database, names.incoming);
    try {
      await (await loadExeca())(
        "pg_restore",
        [
          "--no-password",
          "--exit-on-error",
          "--single-transaction",
          `--dbname=${names.incoming}`,
          dump,
        ],
        { env: childEnv(target, names.incoming, password), extendEnv: false },
      );
    } catch (error) {
      await dropDatabase(client, names.incoming).catch(() => undefined);
      throw error;
    }
    return swapIn(client, target.database, names.incoming, names.outgoing, "dump");
  });
}

/**
 * Put `replacement` in the place of `live`: end the sessions on both, then rename live → outgoing
 * and replacement → live in one transaction (both or neither); outgoing is left to the caller to
 * drop (`retire`). O(1) in the database's size. Safe to call again after any interruption.
 */
async function swapIn(
  client: pg.Client,
  live: string,
  replacement: string,
  outgoing: string,
  how: "clone" | "dump",
): Promise<PostgresRestoreResult> {
  const present = await existing(client, [live, replacement, outgoing]);
  if (!present.has(replacement)) {
    if (present.has(outgoing)) await dropDatabase(client, outgoing);
    if (how === "clone" && present.has(live)) {
      return {
        changed: false,
        detail: `the snapshot was already swapped in; ${live} is left as it is`,
      };
    }
    if (!present.has(live))
      throw new Error(`neither ${live} nor its replacement ${replacement} exists`);
    return { changed: present.has(outgoing), detail: `${live} was already restored` };
  }
  const swapStart = performance.now();
  for (let attempt = 1; ; attempt++) {
    await terminateSessions(client, [live, replacement]);
    try {
      await client.query("BEGIN");
      if (present.has(live))
        await client.query(`ALTER DATABASE ${ident(live)} RENAME TO ${ident(outgoing)}`);
      await client.query(`ALTER DATABASE ${ident(replacement)} RENAME TO ${ident(live)}`);
      await client.query("COMMIT");
      break;
    } catch (error) {
      await client.query("ROLLBACK").catch(() => undefined);
      if (attempt >= 5 || !/being accessed by other users/.test(describeError(error))) throw error;
    }
  }
  const swapMs = performance.now() - swapStart;
  return {
    changed: true,
    ...(present.has(live) ? { retire: outgoing } : {}),
    timings: { swapMs, dropMs: 0 },
    detail:
      how === "clone"
        ? `swapped the snapshot ${replacement} in for ${live} (two renames in one transaction)`
        : `restored into a new database, then swapped it in for ${live}; the old one was dropped`,
  };
}

async function createLike(client: pg.Client, model: string, name: string): Promise<void> {
  const { rows } = await client.query<{
    owner: string;
    encoding: string;
    collate: string;
    ctype: string;
  }>(
    `SELECT pg_get_userbyid(datdba) AS owner, pg_encoding_to_char(encoding) AS encoding,
            datcollate AS collate, datctype AS ctype
       FROM pg_database WHERE datname = $1`,
    [model],
  );
  const m = rows[0];
  const like = m
    ? ` OWNER ${ident(m.owner)} ENCODING '${m.encoding}' LC_COLLATE '${m.collate.replace(/'/g, "''")}' LC_CTYPE '${m.ctype.replace(/'/g, "''")}'`
    : "";
  await client.query(`CREATE DATABASE ${ident(name)} TEMPLATE template0${like}`);
}

export async function dropDatabase(client: pg.Client, name: string): Promise<void> {
  await client.query(`DROP DATABASE IF EXISTS ${ident(name)} WITH (FORCE)`);
}

/** Drop a clone backup's snapshot database (on commit or retention). */
export async function discardSnapshot(row: BackupRow): Promise<void> {
  if (row.meta.strategy !== "clone") return;
  const target = row.meta.target as PostgresTarget;
  await withClient(target, passwordOf(target), (client) =>
    dropDatabase(client, scratchNames(row.id).snapshot),
  );
}

/**
 * Before a restore touches anything (of this member or any other of the point): a clone whose
 * snapshot database is gone can still be "restored" only if the live database already is what
 * the backup recorded (an interrupted restore swapped the snapshot in, and `recover` runs it
 * again). Otherwise it fails here, VERIFY_FAILED, naming the snapshot (released when its run
 * committed, or used by an earlier rollback): not at the proof after a restore that could do
 * nothing, whose differences would read as the update's. The point's other members are still
 * restored, as for any member that fails verification (docs/decisions.md).
 */
export async function assertCloneRestorable(row: BackupRow): Promise<void> {
  const problem = await snapshotProblem(row);
  if (!problem) return;
  const target = row.meta.target as PostgresTarget;
  const recorded = row.meta.fingerprint as PgFingerprint | undefined;
  const password = passwordOf(target);
  const differences = recorded
    ? await withClient(target, password, async (client) => {
        const live = await existing(client, [target.database]);
        if (!live.has(target.database)) return [`${target.database} does not exist`];
        // Schema and rows only: the database's own properties are put back by the restore
        // itself, which an interrupted one may not have reached.
        const read = await withClient(
          target,
          password,
          (other) => schemaAndRows(other),
          target.database,
        );
        return fingerprintDifferences(recorded, { database: recorded.database, ...read });
      })
    : ["the backup predates fingerprints"];
  if (differences.length === 0) return;
  throw new GlobalRollbackError(
    "VERIFY_FAILED",
    `backup ${row.id} (${row.source}) cannot be restored: ${problem}, and the live database is not the one it recorded (${differences.slice(0, 3).join("; ")}); the database was left as it is`,
    { context: { backupId: row.id, database: target.database } },
  );
}

/**
 * A clone backup is only as good as its snapshot database: gone (used by a rollback, dropped at
 * commit or by hand), the backup can no longer bring anything back. For `verify`.
 */
export async function snapshotProblem(row: BackupRow): Promise<string | undefined> {
  if (row.meta.strategy !== "clone") return undefined;
  const target = row.meta.target as PostgresTarget;
  const { snapshot } = scratchNames(row.id);
  const present = await withClient(target, passwordOf(target), (client) =>
    existing(client, [snapshot]),
  );
  return present.has(snapshot)
    ? undefined
    : `its snapshot database ${snapshot} is gone (used by a rollback, or dropped when its run committed): this backup can no longer restore ${target.database}`;
}
