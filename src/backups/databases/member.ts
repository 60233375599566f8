// The databases member kind: each database dispatches further to its engine's kind (kind.ts).

import type { WrittenDatabase } from "../../manifest/types.js";
import type { MemberEntries, MemberKind } from "../member-kind.js";
import type { DatabaseConfig } from "./config.js";
import { databaseKind } from "./kind.js";
import { databaseRules } from "./rules.js";

export const databaseMembers: MemberKind<MemberEntries["databases"], WrittenDatabase> = {
  type: "database",
  phase: "data",
  noun: ["database", "databases"],
  rules: { code: "DATABASE_CONFIG", check: databaseRules },
  // Each target as the clients resolve it (PGHOST..., MYSQL_HOST...), once: plan shows it.
  resolve: (entries, env) =>
    entries.map(
      (d) =>
        ({ ...d, ...databaseKind(d.type).resolve(d as DatabaseConfig, env) }) as DatabaseConfig,
    ),
  planLines: (databases) =>
    databases.map((d) => {
      const kind = databaseKind(d.type);
      const resolved = kind.resolve(d, {});
      const strategy = "strategy" in resolved && resolved.strategy ? ` (${resolved.strategy})` : "";
      return `database ${d.name}: ${kind.describe(resolved)}${strategy}`;
    }),
  // Evidence is kept in the store like any backup: a dump, never a clone.
  forEvidence: (databases) =>
    databases.map((d) => (d.type === "postgresql" ? { ...d, strategy: "dump" as const } : d)),
  restoreConsumesExternal: true,
  members: (databases) =>
    databases.map((d) => {
      const kind = databaseKind(d.type);
      return { key: `db-${d.name}`, target: kind.describe(kind.resolve(d, {})) };
    }),
  async preflight(databases) {
    let newBytes = 0;
    const checks = [];
    for (const db of databases) {
      const { newBytes: bytes, ...check } = await databaseKind(db.type).preflight(db);
      checks.push(check);
      newBytes += bytes;
    }
    return { checks, newBytes, newFiles: databases.length };
  },
  async take(databases, { store, label }) {
    for (const d of databases) await databaseKind(d.type).backup(store, d, label());
  },
  prepareRestore: (store, row) => databaseKind(row.meta.engine).prepareRestore(store, row),
  async preview(_store, row) {
    const kind = databaseKind(row.meta.engine);
    const problem = await kind.checkExternal(row);
    if (problem) return [`cannot be restored: ${problem}`];
    return [
      `${row.source}: would be replaced by the copy of ${new Date(row.createdAt).toISOString()} (${kind.describeBackup(row.meta)[0]?.trim() ?? "its backup"})`,
    ];
  },
  describeBackup: (meta) => databaseKind(meta.engine).describeBackup(meta),
  discardExternal: (row) => databaseKind(row.meta.engine).discardExternal(row),
  // A committed update no longer needs a clone's snapshot on the server; a dump stays in the store.
  afterCommit: (row) => databaseKind(row.meta.engine).discardExternal(row),
  checkExternal: (row) => databaseKind(row.meta.engine).checkExternal(row),
};
