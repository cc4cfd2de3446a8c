// Where hv keeps its state and how its store is opened: the one place the path STATE/hv.db is made.

import { mkdirSync } from "node:fs";
import { homedir } from "node:os";
import { dirname, join } from "node:path";
import Database from "better-sqlite3";
import { migrate } from "./migrations.js";

/** $HV_STATE_DIR, else /var/lib/hv as root, else $XDG_STATE_HOME/hv (~/.local/state/hv). */
export function defaultStateDir(): string {
  if (process.env.HV_STATE_DIR) return process.env.HV_STATE_DIR;
  if (process.getuid?.() === 0) return "/var/lib/hv";
  return join(process.env.XDG_STATE_HOME ?? join(homedir(), ".local", "state"), "hv");
}

/** The state directory a command uses: the one it was given, else the config's, else the default. */
export function stateDirOf(given: string | undefined, config?: { stateDir?: string }): string {
  return given ?? config?.stateDir ?? defaultStateDir();
}

/** The store file of a state directory. */
export function storePath(stateDir: string): string {
  return join(stateDir, "hv.db");
}

/** Opens (creating if needed) the store of a state directory. */
export function openStateStore(stateDir: string): Database.Database {
  return openStore(storePath(stateDir));
}

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
