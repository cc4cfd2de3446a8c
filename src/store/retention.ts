import type Database from "better-sqlite3";
import { prepared } from "./statements.js";

export interface RetentionOptions {
  /** Delete events whose @timestamp is older than nowMs - maxAgeMs. */
  maxAgeMs?: number;
  /** Then delete the oldest events until the stored JSON totals at most this many bytes. */
  maxBytes?: number;
  nowMs?: number;
  /** Rows deleted per transaction (default 10 000). */
  chunkRows?: number;
}

export interface RetentionResult {
  deletedByAge: number;
  deletedBySize: number;
}

// Deleting in bounded chunks, each its own transaction, keeps the WAL small and never holds the
// write lock for long, so readers and the other writer are not starved while a large backlog goes.
const DEFAULT_CHUNK_ROWS = 10_000;

/**
 * Trims the events table by age, then by size. Sizes count the events' JSON only (not indexes or
 * free pages), and the file does not shrink: SQLite reuses the freed pages for new events.
 */
export function applyRetention(db: Database.Database, opts: RetentionOptions): RetentionResult {
  const chunk = opts.chunkRows ?? DEFAULT_CHUNK_ROWS;
  if (!Number.isInteger(chunk) || chunk < 1) throw new RangeError(`chunkRows must be a positive integer, got ${chunk}`);
  const result: RetentionResult = { deletedByAge: 0, deletedBySize: 0 };
  if (opts.maxAgeMs !== undefined) result.deletedByAge = deleteOlderThan(db, (opts.nowMs ?? Date.now()) - opts.maxAgeMs, chunk);
  if (opts.maxBytes !== undefined) result.deletedBySize = deleteDownTo(db, opts.maxBytes, chunk);
  return result;
}

function deleteOlderThan(db: Database.Database, cutoffMs: number, chunk: number): number {
  const del = prepared<[number, number]>(
    db,
    `DELETE FROM events WHERE rowid IN (SELECT rowid FROM events WHERE ts < ? ORDER BY ts, rowid LIMIT ?)`,
  );
  let deleted = 0;
  for (;;) {
    const { changes } = del.run(cutoffMs, chunk);
    deleted += changes;
    if (changes < chunk) return deleted;
  }
}

function deleteDownTo(db: Database.Database, maxBytes: number, chunk: number): number {
  // One pass over the table for the total (~0.2 s per million events); after that each chunk
  // costs one indexed read of the oldest sizes and one delete.
  const total = prepared<[], number>(db, `SELECT total(size) FROM events`).pluck().get()!;
  let excess = total - maxBytes;
  if (excess <= 0) return 0;
  const oldestSizes = prepared<[number], number>(db, `SELECT size FROM events ORDER BY ts, rowid LIMIT ?`).pluck();
  const deleteOldest = prepared<[number]>(
    db,
    `DELETE FROM events WHERE rowid IN (SELECT rowid FROM events ORDER BY ts, rowid LIMIT ?)`,
  );
  // Reading the sizes and deleting them in one transaction keeps "the oldest n" the same rows.
  const step = db.transaction((): number => {
    const sizes = oldestSizes.all(chunk);
    let n = 0;
    let freed = 0;
    while (n < sizes.length && freed < excess) freed += sizes[n++]!;
    if (n > 0) deleteOldest.run(n);
    excess -= freed;
    return n;
  });
  let deleted = 0;
  while (excess > 0) {
    const n = step();
    if (n === 0) break;
    deleted += n;
  }
  return deleted;
}
