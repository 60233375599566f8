import { describeError } from "../../../errors.js";
import { bytes } from "../../../util/bytes.js";
import { operation, verifiedEntries } from "../../operation.js";
import { recordBackup } from "../../record.js";
import { type PostgresDatabase, resolvePostgres } from "../config.js";
import type { DatabaseKind } from "../kind.js";
import { reachable } from "../unreachable.js";
import { backupPostgres, describePostgres, preflightPostgres } from "./postgres-backup.js";
import {
  type PostgresTarget,
  passwordOf,
  passwordSourceOf,
  targetOf,
  withClient,
} from "./postgres-connection.js";
import {
  assertCloneRestorable,
  discardSnapshot,
  restorePostgres,
  snapshotProblem,
} from "./postgres-restore.js";

/** PostgreSQL: pg_dump into the store, or a clone on the server; restores swap databases. */
export const postgresqlKind: DatabaseKind<PostgresDatabase> = {
  resolve: (config, env) => resolvePostgres(config, env),
  describe: describePostgres,

  async preflight(config) {
    const subject = `postgresql ${config.name ?? config.database} (${config.database})`;
    try {
      const found = await preflightPostgres(config);
      const { strategy } = resolvePostgres(config);
      return {
        ok: true,
        subject,
        detail: `PostgreSQL ${found.serverVersion}, ${bytes(found.sizeBytes)}; pg_dump ${found.pgDumpVersion}, pg_restore ${found.pgRestoreVersion}; strategy ${strategy}${strategy === "clone" ? `: other sessions on ${config.database} will be ended when the rollback point is taken` : ""}`,
        newBytes: strategy === "dump" ? found.sizeBytes : 0,
      };
    } catch (error) {
      return { ok: false, subject, detail: describeError(error), newBytes: 0 };
    }
  },

  backup(store, config, label) {
    // Where and how, from the start: a runner killed while the clone is being made leaves a
    // pending row that crash cleanup uses to find and drop the half-made snapshot database.
    const pending = {
      engine: "postgresql",
      strategy: resolvePostgres(config).strategy,
      target: targetOf(config),
    };
    return recordBackup(
      store,
      { type: "database", source: describePostgres(config), meta: pending },
      label,
      (id) => backupPostgres(store, config, id),
    );
  },

  async prepareRestore(store, row) {
    const entries = await verifiedEntries(store, row);
    const target = row.meta.target as PostgresTarget;
    await reachable(
      `${target.user}@${target.host}:${target.port}/${target.database}`,
      passwordSourceOf(target),
      async () => withClient(target, passwordOf(target), (client) => client.query("SELECT 1")),
    );
    if (row.meta.strategy === "clone") await assertCloneRestorable(row);
    return {
      row,
      apply: async () => {
        const result = await restorePostgres(store.objects, row, entries);
        const t = result.timings;
        return operation(row, {
          outcome: result.changed ? "restored" : "unchanged",
          detail: t
            ? `${result.detail} (unavailable for ${t.swapMs.toFixed(0)} ms; old copy dropped in ${t.dropMs.toFixed(0)} ms)`
            : result.detail,
          ...(t ? { timings: t } : {}),
          ...(result.unproven ? { unproven: result.unproven } : {}),
        });
      },
    };
  },

  async runSql(config, text, ctx) {
    const target = targetOf(config);
    const password = passwordOf(target, config.password);
    // The statement runs on the server, not in a process of ours: when the run is aborted it is
    // cancelled there, and the rollback waits (ctx.hold) until its transaction is gone.
    const work = withClient(
      target,
      password,
      async (client) => {
        const backend = (await client.query<{ pid: number }>("SELECT pg_backend_pid() AS pid"))
          .rows[0]!.pid;
        const cancel = () =>
          void withClient(target, password, (other) =>
            other.query("SELECT pg_cancel_backend($1)", [backend]),
          ).catch(() => undefined);
        ctx.signal.addEventListener("abort", cancel, { once: true });
        try {
          await client.query("BEGIN");
          // Aborted before the statement was sent: the cancel above found nothing to cancel.
          if (ctx.signal.aborted) throw new Error("interrupted before it started");
          await client.query(text);
          await client.query("COMMIT");
        } catch (error) {
          await client.query("ROLLBACK").catch(() => undefined);
          throw error;
        } finally {
          ctx.signal.removeEventListener("abort", cancel);
        }
      },
      target.database,
    );
    await ctx.hold(work);
  },

  describeBackup: (meta) => [
    meta.strategy === "clone"
      ? `postgresql clone: snapshot database ${String(meta.snapshotDatabase)} on the server (PostgreSQL ${String(meta.serverVersion)})`
      : `postgresql dump: pg_dump --format=custom in the store (PostgreSQL ${String(meta.serverVersion)})`,
  ],

  discardExternal: discardSnapshot,
  checkExternal: snapshotProblem,
};
