import type { PutResult } from "../../store/objects.js";
import { type Entry, entryFromFields } from "../files/entry.js";

// What the database kinds that dump into the store share: the dump's listing entry, and the
// comparison of a schema-and-rows fingerprint recorded with a backup against one read back.

/** The one entry of a database dump's listing: a private file holding the dump object. */
export function dumpEntry(put: PutResult): Entry {
  const now = BigInt(Date.now()) * 1_000_000n;
  const entry = entryFromFields("", "file", {
    mode: 0o600,
    uid: 0,
    gid: 0,
    size: put.size,
    mtimeNs: now,
    ctimeNs: now,
    ino: 0n,
    dev: 0n,
    rdev: 0,
  });
  return { ...entry, hash: put.hash };
}

/** Schema lines and row counts, as a database kind's fingerprint holds them. */
export interface SchemaAndRows {
  schema: string[];
  /** Absent when rows changed while the backup was taken: then only the schema is compared. */
  rows?: Record<string, number>;
}

/** What differs between the schema and rows recorded and those read back, a line each. */
export function schemaDifferences(recorded: SchemaAndRows, now: SchemaAndRows): string[] {
  const out: string[] = [];
  const had = new Set(recorded.schema);
  const has = new Set(now.schema);
  for (const line of recorded.schema) if (!has.has(line)) out.push(`missing: ${line}`);
  for (const line of now.schema) if (!had.has(line)) out.push(`not in the backup: ${line}`);
  for (const [table, count] of Object.entries(recorded.rows ?? {})) {
    const live = now.rows?.[table];
    if (live !== undefined && live !== count)
      out.push(`table ${table}: ${live} rows, ${count} at backup time`);
  }
  return out;
}
