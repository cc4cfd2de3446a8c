import type Database from "better-sqlite3";
import type { Checkpoint, Envelope } from "../events/collector.js";
import type { HvEvent } from "../events/event.js";
import { setCheckpoint } from "./checkpoints.js";
import { prepared } from "./statements.js";

const INSERT_EVENT = `INSERT OR IGNORE INTO events (id, ts, module, action, vm_name, host, size, json) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`;
type InsertParams = [string, number, string, string, string | null, string | null, number, string];

// db.transaction() builds a wrapper function; keep one per database, like the statements.
const transactions = new WeakMap<Database.Database, (envelopes: readonly Envelope[]) => HvEvent[]>();

/**
 * Stores a batch and the sources' read positions in one transaction: after a crash either both
 * are there or neither, so a restarted collector resumes exactly where the stored events end.
 * Events already stored (same event.id, e.g. re-read after a restart) are skipped. Returns the
 * events that were new, in input order: downstream stages should see each event once, ever.
 */
export function storeBatch(db: Database.Database, envelopes: readonly Envelope[]): HvEvent[] {
  if (envelopes.length === 0) return [];
  let tx = transactions.get(db);
  if (tx === undefined) {
    tx = db.transaction((batch: readonly Envelope[]) => insertAll(db, batch));
    transactions.set(db, tx);
  }
  return tx(envelopes);
}

function insertAll(db: Database.Database, envelopes: readonly Envelope[]): HvEvent[] {
  const insert = prepared<InsertParams>(db, INSERT_EVENT);
  const fresh: HvEvent[] = [];
  const lastCheckpoint = new Map<string, Checkpoint>();
  for (const { event, checkpoint } of envelopes) {
    const json = JSON.stringify(event);
    const result = insert.run(
      event.event.id,
      timestampMs(event),
      event.event.module,
      event.event.action,
      event.vm?.name ?? null,
      event.host?.name ?? null,
      Buffer.byteLength(json),
      json,
    );
    if (result.changes === 1) fresh.push(event);
    if (checkpoint !== undefined) lastCheckpoint.set(checkpoint.source, checkpoint);
  }
  const now = Date.now();
  for (const cp of lastCheckpoint.values()) setCheckpoint(db, cp, now);
  return fresh;
}

/**
 * An event whose @timestamp does not parse is still stored, filed under the time it was stored:
 * refusing it would refuse its whole batch, and the retry after it, for ever.
 */
function timestampMs(event: HvEvent): number {
  const ms = Date.parse(event["@timestamp"]);
  return Number.isNaN(ms) ? Date.now() : ms;
}

export function countEvents(db: Database.Database): number {
  return prepared<[], number>(db, `SELECT count(*) FROM events`).pluck().get()!;
}

export interface ListEventsOptions {
  /** Inclusive lower bound on @timestamp, ms since the epoch. */
  sinceMs?: number;
  /** Exclusive upper bound on @timestamp, ms since the epoch. */
  untilMs?: number;
  vmName?: string;
  /** Maximum number of events; all of them when absent. */
  limit?: number;
}

/** Stored events, oldest first (by @timestamp, then by the order they were stored). */
export function listEvents(db: Database.Database, opts: ListEventsOptions = {}): HvEvent[] {
  const where: string[] = [];
  const params: Array<string | number> = [];
  if (opts.sinceMs !== undefined) {
    where.push("ts >= ?");
    params.push(opts.sinceMs);
  }
  if (opts.untilMs !== undefined) {
    where.push("ts < ?");
    params.push(opts.untilMs);
  }
  if (opts.vmName !== undefined) {
    where.push("vm_name = ?");
    params.push(opts.vmName);
  }
  // LIMIT -1 means no limit in SQLite; binding it keeps the number of distinct statements small.
  params.push(opts.limit ?? -1);
  const sql = `SELECT json FROM events ${where.length > 0 ? `WHERE ${where.join(" AND ")}` : ""} ORDER BY ts, rowid LIMIT ?`;
  const rows = prepared<Array<string | number>, string>(db, sql).pluck().all(...params);
  return rows.map((json) => JSON.parse(json) as HvEvent);
}
