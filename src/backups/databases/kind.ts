import { GlobalRollbackError } from "../../errors.js";
import type { Jail } from "../../processes/containment.js";
import type { BackupRow } from "../../store/catalog.js";
import type { Store } from "../../store/store.js";
import type { BackupLabel } from "../record.js";
import type { PreparedRestore } from "../restore.js";
import type { DatabaseConfig } from "./config.js";
import { mariadbKind } from "./mariadb/kind.js";
import { postgresqlKind } from "./postgresql/kind.js";
import { sqliteKind } from "./sqlite/kind.js";

/** What a database kind's preflight found. */
export interface DatabasePreflight {
  ok: boolean;
  subject: string;
  detail: string;
  /** Bytes its backup adds to the store (a dump's size; 0 for a clone). */
  newBytes: number;
}

/** What a `sql` step needs from the run, for a kind whose statements run elsewhere. */
export interface SqlContext {
  signal: AbortSignal;
  /** Work the rollback must wait for before it restores (see Containment.hold). */
  hold<T>(work: Promise<T>): Promise<T>;
  /**
   * A jail for a client process the kind starts (the `mariadb` client): recorded before it is
   * spawned, so that `recover` kills it when the runner died, like any step's process.
   */
  jail(): Jail;
}

/**
 * Everything rollpoint does with one kind of database, behind one interface. A kind is a folder
 * (`sqlite/`, `postgresql/`) and a line in DATABASE_KINDS; the mapped type below makes a type
 * added to DatabaseConfig without its kind a compile error, and nothing else dispatches on it.
 */
export interface DatabaseKind<C extends DatabaseConfig> {
  /**
   * The configuration with every default filled in, from the manifest, then the environment the
   * clients read (PGHOST...), then built-in defaults: what plan prints and run uses.
   */
  resolve(config: C, env: NodeJS.ProcessEnv): C;
  /** The target as the catalog and people name it: a path, or engine://user@host:port/db. */
  describe(config: C): string;
  /** Can its rollback point be taken, and what will it cost? Reads only. */
  preflight(config: C): Promise<DatabasePreflight>;
  backup(store: Store, config: C, label: BackupLabel): Promise<BackupRow>;
  /** Verify what a restore of `row` will read (throws VERIFY_FAILED), and say how to apply it. */
  prepareRestore(store: Store, row: BackupRow): Promise<PreparedRestore>;
  /** Run a `sql` step's text in one transaction; throws with the database's message. */
  runSql(config: C, text: string, ctx: SqlContext): Promise<void>;
  /** Lines for `backups show` from a backup's metadata. */
  describeBackup(meta: Record<string, unknown>): string[];
  /** Drop what a backup keeps outside the store (a clone's snapshot database), if anything. */
  discardExternal(row: BackupRow): Promise<void>;
  /** What is wrong with the backup's part outside the store (a snapshot gone), if anything. */
  checkExternal(row: BackupRow): Promise<string | undefined>;
}

/** The configuration whose `type` admits T (MariadbDatabase for both "mariadb" and "mysql"). */
type ConfigOf<T> = DatabaseConfig extends infer C
  ? C extends { type: infer U }
    ? T extends U
      ? C
      : never
    : never
  : never;

type Kinds = { [T in DatabaseConfig["type"]]: DatabaseKind<ConfigOf<T>> };

export const DATABASE_KINDS: Kinds = {
  sqlite: sqliteKind,
  postgresql: postgresqlKind,
  mariadb: mariadbKind,
  // Another name for the same kind: MySQL servers speak the same protocol and tools.
  mysql: mariadbKind,
};

/** The kind of a database configuration, or of a stored backup (`meta.engine`). */
export function databaseKind(type: unknown): DatabaseKind<DatabaseConfig> {
  // Each kind takes its own configuration; callers hand it the configuration of its type.
  const kind = (
    DATABASE_KINDS as unknown as Record<string, DatabaseKind<DatabaseConfig> | undefined>
  )[String(type)];
  if (!kind) {
    throw new GlobalRollbackError(
      "INVALID_ARGUMENT",
      `unknown database type ${JSON.stringify(type)}: expected ${Object.keys(DATABASE_KINDS).join(" or ")}`,
    );
  }
  return kind;
}
