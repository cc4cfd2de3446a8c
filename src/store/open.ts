import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import Database from "better-sqlite3";
import { migrate } from "./migrations.js";

/** Opens (creating if needed) the store at `path`, or an in-memory one for ":memory:", at the newest schema. */
export function openStore(path: string): Database.Database {
  if (path !== ":memory:" && path !== "") mkdirSync(dirname(path), { recursive: true });
  const db = new Database(path);
  try {
    // WAL lets the CLI and API read while the agent writes.
    db.pragma("journal_mode = WAL");
    // With WAL, NORMAL survives a crash of the process (the OS still has the writes); only a power
    // loss can drop the last commits, and those events are re-read from their checkpointed source.
    db.pragma("synchronous = NORMAL");
    // Another process (the CLI, a second agent) may hold the write lock briefly.
    db.pragma("busy_timeout = 5000");
    db.pragma("foreign_keys = ON");
    migrate(db);
  } catch (err) {
    db.close();
    throw err;
  }
  return db;
}
