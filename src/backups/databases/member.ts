// The databases member kind: each database dispatches further to its engine's kind (kind.ts).

import type { MemberEntries, MemberKind } from "../member-kind.js";
import { databaseKind } from "./kind.js";

export const databaseMembers: MemberKind<MemberEntries["databases"]> = {
  type: "database",
  phase: "data",
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
