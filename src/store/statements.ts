import type Database from "better-sqlite3";

// Preparing a statement parses and plans the SQL; on the ingest path that would cost more than the
// insert itself, so each database keeps its statements for its lifetime. Keyed by the SQL text so
// every repository can share this one cache; a WeakMap lets a closed database be collected.
const caches = new WeakMap<Database.Database, Map<string, Database.Statement<unknown[], unknown>>>();

export function prepared<P extends unknown[] = unknown[], R = unknown>(db: Database.Database, sql: string): Database.Statement<P, R> {
  let cache = caches.get(db);
  if (cache === undefined) {
    cache = new Map();
    caches.set(db, cache);
  }
  let stmt = cache.get(sql);
  if (stmt === undefined) {
    stmt = db.prepare(sql);
    cache.set(sql, stmt);
  }
  return stmt as unknown as Database.Statement<P, R>;
}
