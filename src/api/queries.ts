// Read queries the API needs beyond the store's repositories: alerts within a time range, events by
// module/action/rule/alert. Read-only; the filters are bound parameters, never spliced SQL.

import type Database from "better-sqlite3";
import type { Alert } from "../events/alert.js";
import type { HvEvent } from "../events/event.js";
import { signalCondition, type SignalFilter } from "../store/alerts.js";
import { prepared } from "../store/statements.js";

export interface AlertQuery {
  status?: string;
  severity?: string;
  ruleId?: string;
  vmName?: string;
  /** Last seen at or after (ms). */
  sinceMs?: number;
  /** Last seen before (ms). */
  untilMs?: number;
  /** Signals (stored, not sent): left out by default. */
  signals?: SignalFilter;
  limit: number;
}

/** Alerts, newest first (by last_seen, then id). */
export function queryAlerts(db: Database.Database, q: AlertQuery): Alert[] {
  const { where, params } = conditions([
    ["status = ?", q.status],
    ["severity = ?", q.severity],
    ["rule_id = ?", q.ruleId],
    ["vm_name = ?", q.vmName],
    ["last_seen >= ?", q.sinceMs],
    ["last_seen < ?", q.untilMs],
  ]);
  const signals = signalCondition(q.signals);
  const clause = signals === undefined ? where : where ? `${where} AND ${signals}` : `WHERE ${signals}`;
  const sql = `SELECT id, json, status FROM alerts ${clause} ORDER BY last_seen DESC, id DESC LIMIT ?`;
  return prepared<Array<string | number>, { id: number; json: string; status: string }>(db, sql)
    .all(...params, q.limit)
    .map((r) => ({ ...(JSON.parse(r.json) as Alert), id: r.id, status: r.status as Alert["status"] }));
}

export interface EventQuery {
  sinceMs?: number;
  untilMs?: number;
  vmName?: string;
  module?: string;
  action?: string;
  /** Only these event ids (the events behind alerts). */
  ids?: string[];
  limit: number;
}

/** Stored events, oldest first. */
export function queryEvents(db: Database.Database, q: EventQuery): HvEvent[] {
  if (q.ids !== undefined && q.ids.length === 0) return [];
  const { where, params } = conditions([
    ["ts >= ?", q.sinceMs],
    ["ts < ?", q.untilMs],
    ["vm_name = ?", q.vmName],
    ["module = ?", q.module],
    ["action = ?", q.action],
  ]);
  let sql = `SELECT json FROM events ${where}`;
  if (q.ids !== undefined) {
    // json_each keeps the statement text fixed whatever the number of ids.
    sql += `${where === "" ? " WHERE" : " AND"} id IN (SELECT value FROM json_each(?))`;
    params.push(JSON.stringify(q.ids));
  }
  sql += " ORDER BY ts, rowid LIMIT ?";
  return prepared<Array<string | number>, string>(db, sql)
    .pluck()
    .all(...params, q.limit)
    .map((json) => JSON.parse(json) as HvEvent);
}

/** How many of a rule's newest alerts `rule=` looks behind. */
export const MAX_RULE_ALERTS = 100;

/**
 * The ids filter of an event query (the API's events?rule=&alert= and `hv events list --rule
 * --alert`): the events behind a rule's newest alerts, behind one alert, or both (intersected).
 */
export function eventIdsFor(db: Database.Database, f: { ruleId?: string; alert?: Pick<Alert, "event_ids"> }): string[] | undefined {
  let ids = f.ruleId !== undefined ? eventIdsOfRule(db, f.ruleId, MAX_RULE_ALERTS) : undefined;
  if (f.alert) ids = ids === undefined ? f.alert.event_ids : ids.filter((i) => f.alert!.event_ids.includes(i));
  return ids;
}

/** The ids of the events behind the newest `maxAlerts` alerts of a rule. */
export function eventIdsOfRule(db: Database.Database, ruleId: string, maxAlerts: number): string[] {
  const rows = prepared<[string, number], string>(db, `SELECT event_ids FROM alerts WHERE rule_id = ? ORDER BY last_seen DESC, id DESC LIMIT ?`)
    .pluck()
    .all(ruleId, maxAlerts);
  const ids = new Set<string>();
  for (const text of rows) for (const id of JSON.parse(text) as string[]) ids.add(id);
  return [...ids];
}

export interface TimelineBucket {
  /** ISO start of the bucket. */
  start: string;
  /** New alerts (by first seen) per severity; severities without any are absent. */
  counts: Record<string, number>;
}

/** New alerts per severity in `buckets` equal steps of `stepMs` from `sinceMs` (first seen). */
export function alertTimeline(db: Database.Database, sinceMs: number, stepMs: number, buckets: number): TimelineBucket[] {
  const out: TimelineBucket[] = Array.from({ length: buckets }, (_, i) => ({ start: new Date(sinceMs + i * stepMs).toISOString(), counts: {} }));
  const rows = prepared<[number, number, number, number], { bucket: number; severity: string; n: number }>(
    db,
    `SELECT (first_seen - ?) / ? AS bucket, severity, count(*) AS n FROM alerts WHERE first_seen >= ? AND first_seen < ? GROUP BY bucket, severity`,
  ).all(sinceMs, stepMs, sinceMs, sinceMs + stepMs * buckets);
  for (const r of rows) {
    const b = out[Math.floor(r.bucket)];
    if (b) b.counts[r.severity] = r.n;
  }
  return out;
}

export interface StoreCounts {
  schemaVersion: number;
  events: number;
  alertsOpen: number;
  actionsPending: number;
  quarantines: number;
}

export function storeCounts(db: Database.Database): StoreCounts {
  const n = (sql: string): number => prepared<[], number>(db, sql).pluck().get() ?? 0;
  return {
    schemaVersion: db.pragma("user_version", { simple: true }) as number,
    events: n(`SELECT count(*) FROM events`),
    alertsOpen: n(`SELECT count(*) FROM alerts WHERE status = 'open' AND signal = 0`),
    actionsPending: n(`SELECT count(*) FROM actions WHERE status = 'pending'`),
    quarantines: n(`SELECT count(*) FROM enforcements WHERE kind = 'quarantine' AND released IS NULL`),
  };
}

function conditions(list: Array<[string, string | number | undefined]>): { where: string; params: Array<string | number> } {
  const used = list.filter((c): c is [string, string | number] => c[1] !== undefined);
  return { where: used.length > 0 ? `WHERE ${used.map((c) => c[0]).join(" AND ")}` : "", params: used.map((c) => c[1]) };
}
