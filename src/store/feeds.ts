// Threat feeds in the store: their specs and sync state, their current entries with provenance
// (first and latest sync that listed each), and one history row per sync attempt.

import type Database from "better-sqlite3";
import type { Indicator, IndicatorKind, StoredIndicator } from "../events/indicator.js";
import type { FeedSpec } from "../feeds/spec.js";
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
  const stamp = new Date(opts.now).toISOString();
  return db
    .transaction((): ApplyResult => {
      const before = new Set(prepared<[string], string>(db, `SELECT value FROM feed_entries WHERE feed = ?`).pluck().all(name) as unknown as string[]);
      const upsert = prepared(
        db,
        `INSERT INTO feed_entries (feed, value, kind, meta, first_seen, last_seen) VALUES (?, ?, ?, ?, ?, ?)
         ON CONFLICT (feed, value) DO UPDATE SET kind = excluded.kind, meta = excluded.meta, last_seen = excluded.last_seen`,
      );
      let added = 0;
      const listed = new Set<string>();
      for (const ind of indicators) {
        if (listed.has(ind.value)) continue;
        listed.add(ind.value);
        if (!before.has(ind.value)) added++;
        upsert.run(name, ind.value, ind.kind, ind.meta ? JSON.stringify(ind.meta) : null, stamp, stamp);
      }
      const del = prepared(db, `DELETE FROM feed_entries WHERE feed = ? AND value = ?`);
      let removed = 0;
      for (const value of before) {
        if (listed.has(value)) continue;
        del.run(name, value);
        removed++;
      }
      const bump = added + removed > 0 ? 1 : 0;
      prepared(
        db,
        `UPDATE feeds SET last_attempt = ?, last_success = ?, last_error = NULL, etag = ?, last_modified = ?, entries = ?, rejected = ?, version = version + ?
         WHERE name = ?`,
      ).run(opts.now, opts.now, opts.etag ?? null, opts.lastModified ?? null, listed.size, opts.rejected, bump, name);
      const version = prepared<[string], { version: number }>(db, `SELECT version FROM feeds WHERE name = ?`).get(name)?.version ?? 0;
      return { added, removed, entries: listed.size, version };
    })
    .immediate();
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
