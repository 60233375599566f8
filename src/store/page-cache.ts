// better-sqlite3 builds SQLite with a 16 MB page cache per connection and per schema (its
// SQLITE_DEFAULT_CACHE_SIZE=-16000): the catalog's main schema, the temporary schema that stages a
// backup's packed objects and GC's referenced hashes, and (before the pooled reads) each writer
// thread's read-only connection filled theirs during a first backup of 200,000 files (29 MB of
// its 164 MB peak).
// SQLite's own default of 2 MB each is what the catalog is given: what it reads and writes is
// streamed in order (listing frames) or looked up once per object, and the kernel's page cache
// holds the file either way.

/** Bound the page caches of one connection. */
export function boundPageCaches(db: { pragma(source: string): unknown }): void {
  for (const pragma of ["main.cache_size = -2048", "temp.cache_size = -2048"]) db.pragma(pragma);
}
