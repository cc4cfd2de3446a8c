import type Database from "better-sqlite3";
import type { Checkpoint } from "../events/collector.js";
import { prepared } from "./statements.js";

interface CheckpointRow {
  source: string;
  inode: string;
  offset: number;
}

/** The position a source may resume from, or undefined if it has never stored anything. */
export function getCheckpoint(db: Database.Database, source: string): Checkpoint | undefined {
  const row = prepared<[string], CheckpointRow>(db, `SELECT source, inode, "offset" FROM checkpoints WHERE source = ?`).get(source);
  return row === undefined ? undefined : { source: row.source, inode: row.inode, offset: row.offset };
}

export function setCheckpoint(db: Database.Database, cp: Checkpoint, nowMs: number = Date.now()): void {
  prepared<[string, string, number, number]>(
    db,
    `INSERT INTO checkpoints (source, inode, "offset", updated) VALUES (?, ?, ?, ?)
     ON CONFLICT (source) DO UPDATE SET inode = excluded.inode, "offset" = excluded."offset", updated = excluded.updated`,
  ).run(cp.source, cp.inode, cp.offset, nowMs);
}
