import { lstatSync } from "node:fs";
import { resolve } from "node:path";
import Database from "better-sqlite3";
import { GlobalRollbackError } from "../../../errors.js";
import { bytes } from "../../../util/bytes.js";
import { canonicalParent, parentOf, restoreTarget } from "../../files/parents.js";
import { hashOfPath } from "../../files/steady-read.js";
import { operation, verifiedEntries } from "../../operation.js";
import { recordBackup } from "../../record.js";
import type { SqliteDatabase } from "../config.js";
import type { DatabaseKind } from "../kind.js";
import { backupSqlite, restoreSqlite } from "./sqlite.js";

/** SQLite: the online backup API into the store; the file put back atomically. */
export const sqliteKind: DatabaseKind<SqliteDatabase> = {
  resolve: (config) => config,
  describe: (config) => resolve(config.database),

  async preflight(config) {
    const stats = lstatSync(config.database, { throwIfNoEntry: false });
    return {
      ok: true,
      subject: config.database,
      detail: stats
        ? `SQLite database, ${bytes(stats.size)}`
        : "does not exist yet: will be recorded as absent",
      newBytes: stats?.size ?? 0,
    };
  },

  backup(store, config, label) {
    const path = resolve(config.database);
    return recordBackup(
      store,
      { type: "database", source: path, meta: { engine: "sqlite" } },
      label,
      async () => {
        const entry = await backupSqlite(store.objects, path);
        return {
          entries: [entry],
          meta: {
            engine: "sqlite",
            absent: entry.kind === "absent",
            parent: canonicalParent(path),
          },
        };
      },
    );
  },

  async prepareRestore(store, row) {
    const entries = await verifiedEntries(store, row);
    return {
      row,
      apply: async () => {
        const entry = entries[0]!;
        const path = restoreTarget(row.source, parentOf(row), {
          backupId: row.id,
          create: entry.kind !== "absent",
        });
        await restoreSqlite(store.objects, path, entry);
        // The proof: the file read back is the backup's copy, byte for byte (or is gone).
        const now = hashOfPath(path);
        if (now !== entry.hash) {
          throw new GlobalRollbackError(
            "RESTORE_FAILED",
            `restore of SQLite database ${path} is not exact: read back, ${now === null ? "it is missing" : now === "other" ? "it is not a regular file" : entry.hash === null ? "it exists but did not at backup time" : "its contents differ from the backup"}`,
            { context: { backupId: row.id, path } },
          );
        }
        return operation(row, {
          detail:
            entry.kind === "absent"
              ? "removed: it did not exist at backup time"
              : "database file replaced atomically",
        });
      },
    };
  },

  async runSql(config, text) {
    const conn = new Database(config.database);
    try {
      conn.exec("BEGIN IMMEDIATE");
      try {
        conn.exec(text);
        conn.exec("COMMIT");
      } catch (error) {
        conn.exec("ROLLBACK");
        throw error;
      }
    } finally {
      conn.close();
    }
  },

  describeBackup: (meta) => [
    `sqlite  ${meta.absent ? "absent at backup time" : "online backup, integrity-checked"}`,
  ],

  discardExternal: async () => {},
  checkExternal: async () => undefined,
};
