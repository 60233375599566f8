import { readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";

/** How many content objects a store holds, counted on disk. */
export function objectCount(store: string): number {
  return readdirSync(join(store, "objects")).reduce(
    (n, shard) => n + readdirSync(join(store, "objects", shard)).length,
    0,
  );
}

/** One number from the store's catalog, read as a user with sqlite3 would. */
export function catalogCount(store: string, sql: string): number {
  const db = new Database(join(store, "catalog.db"), { readonly: true });
  try {
    return db.prepare(sql).pluck().get() as number;
  } finally {
    db.close();
  }
}

/** Every regular file in the store, to search them all for what must never be written there. */
export function storeFiles(store: string): string[] {
  return (readdirSync(store, { recursive: true }) as string[])
    .map((f) => join(store, f))
    .filter((f) => statSync(f).isFile());
}
