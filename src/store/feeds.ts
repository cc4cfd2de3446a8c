// Threat feeds in the store: their specs and sync state, their current entries with provenance
// (first and latest sync that listed each), and one history row per sync attempt.

import type Database from "better-sqlite3";
import type { Indicator, IndicatorKind, StoredIndicator } from "../events/indicator.js";
import type { FeedSpec } from "../events/feed.js";
import { prepared } from "./statements.js";

export interface FeedState {
  added: string;
  lastAttempt?: string;
  lastSuccess?: string;
  lastError?: string;
  etag?: string;
  lastModified?: string;
  /** Entries in the last good set. */
  entries: number;
  /** Entries rejected by the sync that produced the current set. */
  rejected: number;
  /** Grows by one each time the set changes. */
  version: number;
}

export type StoredFeed = FeedSpec & FeedState;

interface FeedRow {
  name: string;
  spec: string;
  added: number;
  last_attempt: number | null;
  last_success: number | null;
  last_error: string | null;
  etag: string | null;
  last_modified: string | null;
  entries: number;
  rejected: number;
  version: number;
}

const iso = (ms: number | null): string | undefined => (ms === null ? undefined : new Date(ms).toISOString());

function fromRow(r: FeedRow): StoredFeed {
  const spec = JSON.parse(r.spec) as FeedSpec;
  const state: FeedState = { added: iso(r.added)!, entries: r.entries, rejected: r.rejected, version: r.version };
  if (r.last_attempt !== null) state.lastAttempt = iso(r.last_attempt);
  if (r.last_success !== null) state.lastSuccess = iso(r.last_success);
  if (r.last_error !== null) state.lastError = r.last_error;
  if (r.etag !== null) state.etag = r.etag;
  if (r.last_modified !== null) state.lastModified = r.last_modified;
  return { ...spec, ...state, name: r.name };
}

/** Adds a feed; a feed of that name already stored is an error. */
export function addFeed(db: Database.Database, spec: FeedSpec, now = Date.now()): void {
  if (getFeed(db, spec.name)) throw new Error(`feed ${spec.name} already exists (remove it first, or pick another name)`);
  prepared(db, `INSERT INTO feeds (name, spec, added) VALUES (?, ?, ?)`).run(spec.name, JSON.stringify(spec), now);
}

/** Replaces a feed's spec, keeping its entries and state. */
export function updateFeedSpec(db: Database.Database, spec: FeedSpec): boolean {
  return prepared(db, `UPDATE feeds SET spec = ? WHERE name = ?`).run(JSON.stringify(spec), spec.name).changes > 0;
}

/** Turns a feed on or off, keeping its spec otherwise, its entries and its state; false when there is no such feed. */
export function setFeedEnabled(db: Database.Database, name: string, enabled: boolean): boolean {
  const spec = prepared<[string], string>(db, `SELECT spec FROM feeds WHERE name = ?`).pluck().get(name);
  if (spec === undefined) return false;
  return updateFeedSpec(db, { ...(JSON.parse(spec) as FeedSpec), enabled });
}

/** Removes a feed and its entries (its sync history stays). */
export function removeFeed(db: Database.Database, name: string): boolean {
  return prepared(db, `DELETE FROM feeds WHERE name = ?`).run(name).changes > 0;
}

export function getFeed(db: Database.Database, name: string): StoredFeed | undefined {
  const row = prepared<[string], FeedRow>(db, `SELECT * FROM feeds WHERE name = ?`).get(name);
  return row ? fromRow(row) : undefined;
}

export function listFeeds(db: Database.Database): StoredFeed[] {
  return prepared<[], FeedRow>(db, `SELECT * FROM feeds ORDER BY name`).all().map(fromRow);
}

interface EntryRow {
  feed: string;
  value: string;
  kind: string;
  meta: string | null;
  first_seen: string;
  last_seen: string;
}

function entryFromRow(r: EntryRow): StoredIndicator {
  const out: StoredIndicator = { value: r.value, kind: r.kind as IndicatorKind, feed: r.feed, first_seen: r.first_seen, last_seen: r.last_seen };
  if (r.meta !== null) out.meta = JSON.parse(r.meta) as Record<string, string>;
  return out;
}

/** Current entries of one feed, or of all feeds (enabled or not) when no name is given. */
export function feedIndicators(db: Database.Database, name?: string, limit?: number): StoredIndicator[] {
  const lim = limit ?? -1;
  const rows =
    name === undefined
      ? prepared<[number], EntryRow>(db, `SELECT * FROM feed_entries ORDER BY feed, value LIMIT ?`).all(lim)
      : prepared<[string, number], EntryRow>(db, `SELECT * FROM feed_entries WHERE feed = ? ORDER BY value LIMIT ?`).all(name, lim);
  return rows.map(entryFromRow);
}

export function countFeedEntries(db: Database.Database, name: string): number {
  return prepared<[string], { n: number }>(db, `SELECT count(*) AS n FROM feed_entries WHERE feed = ?`).get(name)!.n;
}

export interface ApplyResult {
  added: number;
  removed: number;
  entries: number;
  version: number;
}

export interface ApplyOptions {
  now: number;
  rejected: number;
  etag?: string;
  lastModified?: string;
}

/**
 * Makes `indicators` the feed's set, in one transaction: new entries get first_seen = now, kept
 * ones keep theirs and get last_seen = now, entries no longer listed are deleted, and the version
 * grows when anything was added or removed. A reader sees the old set or the new, never a mix.
 */
export function applyFeedSet(db: Database.Database, name: string, indicators: Indicator[], opts: ApplyOptions): ApplyResult {
  const stage = new FeedStage(db);
  try {
    stage.batch(() => {
      for (const ind of indicators) stage.add(ind);
    });
    return stage.apply(name, opts);
  } finally {
    stage.drop();
  }
}

let stages = 0;

/**
 * A new copy of a feed, staged entry by entry in a temporary table (on disk, not in memory: a feed
 * may list millions of entries) before it replaces the feed's set in one transaction. Entries the
 * sync must not use are staged with their reason, so a value listed again is still a duplicate.
 */
export class FeedStage {
  private readonly table: string;
  private readonly insert: Database.Statement<[string, string, string | null, string | null]>;
  private accepted = 0;
  private dropped = false;

  constructor(private readonly db: Database.Database) {
    this.table = `feed_stage_${++stages}`;
    db.exec(`CREATE TEMP TABLE ${this.table} (value TEXT PRIMARY KEY, kind TEXT NOT NULL, meta TEXT, reason TEXT) WITHOUT ROWID`);
    this.insert = db.prepare(`INSERT OR IGNORE INTO temp.${this.table} (value, kind, meta, reason) VALUES (?, ?, ?, ?)`);
  }

  /** Runs `fn` (which adds entries) in one transaction: one per chunk of a download, not one per entry. */
  batch(fn: () => void): void {
    this.db.transaction(fn)();
  }

  /** Stages one entry, with the reason it must not be used when there is one; "duplicate" when its value is staged already. */
  add(ind: Indicator, unsafe?: string): "added" | "duplicate" {
    const r = this.insert.run(ind.value, ind.kind, ind.meta ? JSON.stringify(ind.meta) : null, unsafe ?? null);
    if (r.changes === 0) return "duplicate";
    if (unsafe === undefined) this.accepted++;
    return "added";
  }

  /** Entries staged without a reason: what the set would hold. */
  get entries(): number {
    return this.accepted;
  }

  /** Makes the staged entries (those without a reason) the feed's set; see applyFeedSet. */
  apply(name: string, opts: ApplyOptions): ApplyResult {
    const db = this.db;
    const t = `temp.${this.table}`;
    const stamp = new Date(opts.now).toISOString();
    return db
      .transaction((): ApplyResult => {
        const added = (db.prepare(`SELECT count(*) AS n FROM ${t} s WHERE s.reason IS NULL AND NOT EXISTS (SELECT 1 FROM feed_entries e WHERE e.feed = ? AND e.value = s.value)`).get(name) as { n: number }).n;
        const removed = db.prepare(`DELETE FROM feed_entries WHERE feed = ? AND NOT EXISTS (SELECT 1 FROM ${t} s WHERE s.value = feed_entries.value AND s.reason IS NULL)`).run(name).changes;
        db.prepare(
          `INSERT INTO feed_entries (feed, value, kind, meta, first_seen, last_seen) SELECT ?, value, kind, meta, ?, ? FROM ${t} WHERE reason IS NULL
           ON CONFLICT (feed, value) DO UPDATE SET kind = excluded.kind, meta = excluded.meta, last_seen = excluded.last_seen`,
        ).run(name, stamp, stamp);
        const bump = added + removed > 0 ? 1 : 0;
        prepared(
          db,
          `UPDATE feeds SET last_attempt = ?, last_success = ?, last_error = NULL, etag = ?, last_modified = ?, entries = ?, rejected = ?, version = version + ?
           WHERE name = ?`,
        ).run(opts.now, opts.now, opts.etag ?? null, opts.lastModified ?? null, this.accepted, opts.rejected, bump, name);
        const version = prepared<[string], { version: number }>(db, `SELECT version FROM feeds WHERE name = ?`).get(name)?.version ?? 0;
        return { added, removed, entries: this.accepted, version };
      })
      .immediate();
  }

  /** Removes the staging table (always call it, also when the copy was refused). */
  drop(): void {
    if (this.dropped) return;
    this.dropped = true;
    this.db.exec(`DROP TABLE IF EXISTS temp.${this.table}`);
  }
}

/** A 304 (or an unchanged local file): the set stands, confirmed now. */
export function markFeedConfirmed(db: Database.Database, name: string, now: number): void {
  prepared(db, `UPDATE feeds SET last_attempt = ?, last_success = ?, last_error = NULL WHERE name = ?`).run(now, now, name);
}

/** A failed or rejected attempt: only the attempt time and error change; the set stays. */
export function markFeedFailed(db: Database.Database, name: string, now: number, error: string): void {
  prepared(db, `UPDATE feeds SET last_attempt = ?, last_error = ? WHERE name = ?`).run(now, error, name);
}

export interface SyncRecord {
  feed: string;
  started: number;
  ms: number;
  status: string;
  reason?: string;
  httpStatus?: number;
  bytes?: number;
  entries: number;
  added: number;
  removed: number;
  rejected: number;
  details?: Record<string, unknown>;
}

export function recordSync(db: Database.Database, r: SyncRecord): void {
  prepared(
    db,
    `INSERT INTO feed_syncs (feed, started, ms, status, reason, http_status, bytes, entries, added, removed, rejected, json)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  ).run(r.feed, r.started, Math.round(r.ms), r.status, r.reason ?? null, r.httpStatus ?? null, r.bytes ?? null, r.entries, r.added, r.removed, r.rejected, r.details ? JSON.stringify(r.details) : null);
}

interface SyncRow {
  feed: string;
  started: number;
  ms: number;
  status: string;
  reason: string | null;
  http_status: number | null;
  bytes: number | null;
  entries: number;
  added: number;
  removed: number;
  rejected: number;
  json: string | null;
}

/** The latest sync attempts of a feed, newest first. */
export function feedSyncHistory(db: Database.Database, name: string, limit = 10): Array<SyncRecord & { startedIso: string }> {
  return prepared<[string, number], SyncRow>(db, `SELECT * FROM feed_syncs WHERE feed = ? ORDER BY started DESC, id DESC LIMIT ?`)
    .all(name, limit)
    .map((r) => ({
      feed: r.feed,
      started: r.started,
      startedIso: new Date(r.started).toISOString(),
      ms: r.ms,
      status: r.status,
      ...(r.reason !== null ? { reason: r.reason } : {}),
      ...(r.http_status !== null ? { httpStatus: r.http_status } : {}),
      ...(r.bytes !== null ? { bytes: r.bytes } : {}),
      entries: r.entries,
      added: r.added,
      removed: r.removed,
      rejected: r.rejected,
      ...(r.json !== null ? { details: JSON.parse(r.json) as Record<string, unknown> } : {}),
    }));
}
