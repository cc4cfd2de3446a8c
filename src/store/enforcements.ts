import type Database from "better-sqlite3";
import { prepared } from "./statements.js";

// What hv holds in force in nftables: VM quarantines, blocked addresses, VM rate limits. The
// firewall's desired state is built from the active rows (src/firewall/sync.ts), so a
// quarantine outlives the process that made it, and the agent and the CLI always agree.

export type EnforcementKind = "quarantine" | "block" | "rate_limit";

export interface Enforcement {
  id: number;
  kind: EnforcementKind;
  /** A VM name (quarantine, rate_limit) or an address/CIDR (block). */
  target: string;
  /** Kind-specific: { uuid, taps, keep } for a quarantine, { bytesPerSecond, taps } for a rate limit. */
  detail: Record<string, unknown>;
  actionId: number | null;
  created: number;
  createdBy: string | null;
  /** ms since the epoch; null: until released. */
  expires: number | null;
  released: number | null;
  releasedBy: string | null;
  releaseReason: string | null;
}

export interface NewEnforcement {
  kind: EnforcementKind;
  target: string;
  detail?: Record<string, unknown>;
  actionId?: number;
  createdBy?: string;
  expires?: number | null;
  now?: number;
}

interface Row {
  id: number;
  kind: string;
  target: string;
  json: string | null;
  action_id: number | null;
  created: number;
  created_by: string | null;
  expires: number | null;
  released: number | null;
  released_by: string | null;
  release_reason: string | null;
}

const COLUMNS = "id, kind, target, json, action_id, created, created_by, expires, released, released_by, release_reason";

export interface EnforceResult {
  enforcement: Enforcement;
  /** False when the same kind and target was already in force (then only the expiry may grow). */
  created: boolean;
}

/**
 * Puts an enforcement in force, or finds the one already in force for the same kind and target.
 * Enforcing again never shortens it: the later expiry wins, and "until released" beats any expiry.
 */
export function enforce(db: Database.Database, e: NewEnforcement): EnforceResult {
  return db.transaction((): EnforceResult => {
    const existing = activeEnforcement(db, e.kind, e.target);
    if (existing) {
      const expires = existing.expires === null || e.expires === null || e.expires === undefined ? null : Math.max(existing.expires, e.expires);
      if (expires !== existing.expires) prepared<[number | null, number]>(db, `UPDATE enforcements SET expires = ? WHERE id = ?`).run(expires, existing.id);
      return { enforcement: { ...existing, expires }, created: false };
    }
    const r = prepared<[string, string, string | null, number | null, number, string | null, number | null]>(
      db,
      `INSERT INTO enforcements (kind, target, json, action_id, created, created_by, expires) VALUES (?, ?, ?, ?, ?, ?, ?)`,
    ).run(e.kind, e.target, e.detail === undefined ? null : JSON.stringify(e.detail), e.actionId ?? null, e.now ?? Date.now(), e.createdBy ?? null, e.expires ?? null);
    return { enforcement: getEnforcement(db, Number(r.lastInsertRowid))!, created: true };
  })();
}

export function getEnforcement(db: Database.Database, id: number): Enforcement | undefined {
  const row = prepared<[number], Row>(db, `SELECT ${COLUMNS} FROM enforcements WHERE id = ?`).get(id);
  return row && fromRow(row);
}

export function activeEnforcement(db: Database.Database, kind: EnforcementKind, target: string): Enforcement | undefined {
  const row = prepared<[string, string], Row>(db, `SELECT ${COLUMNS} FROM enforcements WHERE kind = ? AND target = ? AND released IS NULL`).get(kind, target);
  return row && fromRow(row);
}

/** Everything in force (of one kind), oldest first. */
export function activeEnforcements(db: Database.Database, kind?: EnforcementKind): Enforcement[] {
  const rows =
    kind === undefined
      ? prepared<[], Row>(db, `SELECT ${COLUMNS} FROM enforcements WHERE released IS NULL ORDER BY id`).all()
      : prepared<[string], Row>(db, `SELECT ${COLUMNS} FROM enforcements WHERE released IS NULL AND kind = ? ORDER BY id`).all(kind);
  return rows.map(fromRow);
}

/** Active enforcements whose TTL has run out at `now`. */
export function expiredEnforcements(db: Database.Database, now = Date.now()): Enforcement[] {
  return prepared<[number], Row>(db, `SELECT ${COLUMNS} FROM enforcements WHERE released IS NULL AND expires IS NOT NULL AND expires <= ? ORDER BY expires`)
    .all(now)
    .map(fromRow);
}

/** History too: released rows, newest first. */
export function listEnforcements(db: Database.Database, opts: { kind?: EnforcementKind; limit?: number } = {}): Enforcement[] {
  const rows =
    opts.kind === undefined
      ? prepared<[number], Row>(db, `SELECT ${COLUMNS} FROM enforcements ORDER BY id DESC LIMIT ?`).all(opts.limit ?? -1)
      : prepared<[string, number], Row>(db, `SELECT ${COLUMNS} FROM enforcements WHERE kind = ? ORDER BY id DESC LIMIT ?`).all(opts.kind, opts.limit ?? -1);
  return rows.map(fromRow);
}

/**
 * Ends an enforcement. Returns the released row, or undefined when none was in force (releasing
 * twice is a no-op, so a TTL and a person racing to release never fail).
 */
export function releaseEnforcement(db: Database.Database, kind: EnforcementKind, target: string, by: string, reason: string, now = Date.now()): Enforcement | undefined {
  const existing = activeEnforcement(db, kind, target);
  if (!existing) return undefined;
  const r = prepared<[number, string, string, number]>(db, `UPDATE enforcements SET released = ?, released_by = ?, release_reason = ? WHERE id = ? AND released IS NULL`).run(now, by, reason, existing.id);
  return r.changes === 1 ? { ...existing, released: now, releasedBy: by, releaseReason: reason } : undefined;
}

/** Quarantines started in the last `windowMs` (released ones count too): the global hourly limit. */
export function quarantinesSince(db: Database.Database, sinceMs: number): number {
  return prepared<[number], { n: number }>(db, `SELECT count(*) AS n FROM enforcements WHERE kind = 'quarantine' AND created >= ?`).get(sinceMs)!.n;
}

/** Replaces the stored detail (e.g. the taps a quarantined VM has now). */
export function updateEnforcementDetail(db: Database.Database, id: number, detail: Record<string, unknown>): void {
  prepared<[string, number]>(db, `UPDATE enforcements SET json = ? WHERE id = ?`).run(JSON.stringify(detail), id);
}

function fromRow(row: Row): Enforcement {
  return {
    id: row.id,
    kind: row.kind as EnforcementKind,
    target: row.target,
    detail: row.json === null ? {} : (JSON.parse(row.json) as Record<string, unknown>),
    actionId: row.action_id,
    created: row.created,
    createdBy: row.created_by,
    expires: row.expires,
    released: row.released,
    releasedBy: row.released_by,
    releaseReason: row.release_reason,
  };
}
