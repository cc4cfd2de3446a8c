import type Database from "better-sqlite3";
import type { Alert } from "../events/alert.js";
import { prepared } from "./statements.js";

// Alerts are stored whole (the json column) with the fields queries filter on as columns.

interface AlertRow {
  id: number;
  json: string;
  status: string;
}

type Params = [string, string, string, string, string, string | null, number, number, number, string, string, string, number];

function columns(a: Alert): Params {
  return [
    a.rule.id, a.rule.title, a.severity, a.entity.kind, a.entity.id, a.vm?.name ?? null,
    Date.parse(a.first_seen), Date.parse(a.last_seen), a.count, a.status, JSON.stringify(a.event_ids), JSON.stringify(withoutId(a)),
    a.signal ? 1 : 0,
  ];
}

function withoutId(a: Alert): Omit<Alert, "id"> {
  const { id: _id, ...rest } = a;
  return rest;
}

/** Inserts a new alert (no id) or updates a stored one (with id); returns the id. */
export function saveAlert(db: Database.Database, alert: Alert): number {
  if (alert.id === undefined) {
    const result = prepared<Params>(
      db,
      `INSERT INTO alerts (rule_id, rule_title, severity, entity_kind, entity, vm_name, first_seen, last_seen, count, status, event_ids, json, signal)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    ).run(...columns(alert));
    return Number(result.lastInsertRowid);
  }
  prepared<[...Params, number]>(
    db,
    `UPDATE alerts SET rule_id = ?, rule_title = ?, severity = ?, entity_kind = ?, entity = ?, vm_name = ?, first_seen = ?,
       last_seen = ?, count = ?, status = ?, event_ids = ?, json = ?, signal = ? WHERE id = ?`,
  ).run(...columns(alert), alert.id);
  return alert.id;
}

export function getAlert(db: Database.Database, id: number): Alert | undefined {
  const row = prepared<[number], AlertRow>(db, `SELECT id, json, status FROM alerts WHERE id = ?`).get(id);
  return row === undefined ? undefined : fromRow(row);
}

export interface ListAlertsOptions {
  status?: string;
  ruleId?: string;
  severity?: string;
  vmName?: string;
  /** Only alerts last seen at or after this time (ms since the epoch). */
  sinceMs?: number;
  /** Maximum number of alerts; all of them when absent. */
  limit?: number;
  /** Signals (stored, not sent: src/agent/routing.ts): left out (default), included, or only them. */
  signals?: SignalFilter;
}

export type SignalFilter = "exclude" | "include" | "only";

/** The SQL condition for a signal filter, or undefined for all rows. */
export function signalCondition(filter: SignalFilter = "exclude"): string | undefined {
  return filter === "include" ? undefined : filter === "only" ? "signal = 1" : "signal = 0";
}

/** Alerts, newest first (by last_seen, then id). */
export function listAlerts(db: Database.Database, opts: ListAlertsOptions = {}): Alert[] {
  const where: string[] = [];
  const params: Array<string | number> = [];
  const filter = (sql: string, value: string | number | undefined): void => {
    if (value === undefined) return;
    where.push(sql);
    params.push(value);
  };
  filter("status = ?", opts.status);
  filter("rule_id = ?", opts.ruleId);
  filter("severity = ?", opts.severity);
  filter("vm_name = ?", opts.vmName);
  filter("last_seen >= ?", opts.sinceMs);
  const signals = signalCondition(opts.signals);
  if (signals) where.push(signals);
  params.push(opts.limit ?? -1);
  const sql = `SELECT id, json, status FROM alerts ${where.length > 0 ? `WHERE ${where.join(" AND ")}` : ""} ORDER BY last_seen DESC, id DESC LIMIT ?`;
  return prepared<Array<string | number>, AlertRow>(db, sql).all(...params).map(fromRow);
}

/** An alert's status now (open, acked), or undefined when there is no such alert. */
export function alertStatus(db: Database.Database, id: number): Alert["status"] | undefined {
  return prepared<[number], string>(db, `SELECT status FROM alerts WHERE id = ?`).pluck().get(id) as Alert["status"] | undefined;
}

/** Marks an alert acknowledged; false when there is no such alert. */
export function ackAlert(db: Database.Database, id: number): boolean {
  const alert = getAlert(db, id);
  if (!alert) return false;
  saveAlert(db, { ...alert, status: "acked" });
  return true;
}

/** The open alert of a rule about an entity (and target, when it has one) last seen at or after `sinceMs`, for deduplication. */
export function findOpenAlert(db: Database.Database, ruleId: string, entityKind: string, entity: string, sinceMs: number, target?: string): Alert | undefined {
  const row = prepared<[string, string, string, number, string | null], AlertRow>(
    db,
    `SELECT id, json, status FROM alerts WHERE rule_id = ? AND entity_kind = ? AND entity = ? AND status = 'open' AND last_seen >= ?
       AND json_extract(json, '$.target') IS ?
     ORDER BY last_seen DESC LIMIT 1`,
  ).get(ruleId, entityKind, entity, sinceMs, target ?? null);
  return row === undefined ? undefined : fromRow(row);
}

function fromRow(row: AlertRow): Alert {
  const alert = JSON.parse(row.json) as Alert;
  return { ...alert, id: row.id, status: row.status as Alert["status"] };
}
