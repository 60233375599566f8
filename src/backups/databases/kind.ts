import { resolve } from "node:path";
import { GlobalRollbackError } from "../../errors.js";
import type { BackupRow } from "../../store/catalog.js";
import type { Store } from "../../store/store.js";
import { canonicalParent } from "../files/parents.js";
import { type BackupLabel, recordBackup } from "../record.js";
import { backupSqlite } from "./sqlite/sqlite.js";
import type { DatabaseConfig } from "./config.js";
import { backupPostgres, describePostgres } from "./postgresql/postgres-backup.js";

/** Back up one database, SQLite or PostgreSQL, as its configuration says. */
export async function backupDatabase(
  store: Store,
  config: DatabaseConfig,
  label: BackupLabel,
): Promise<BackupRow> {
  switch (config.type) {
    case "sqlite": {
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
            wroteObjects: entry.hash !== null,
          };
        },
      );
    }
    case "postgresql":
      return recordBackup(
        store,
        { type: "database", source: describePostgres(config), meta: { engine: "postgresql" } },
        label,
        (id) => backupPostgres(store, config, id),
      );
    default:
      throw new GlobalRollbackError(
        "INVALID_ARGUMENT",
        `unknown database type ${JSON.stringify((config as { type?: unknown }).type)}: expected sqlite or postgresql`,
      );
  }
}
