import type Database from "better-sqlite3";
import { prepared } from "./statements.js";

// The store's view of an alert. The detection work owns the Alert type (src/events/); this
// record is what a row holds, with anything not in a column kept in `detail` (the json column).
export interface AlertRecord {
  id: number;
  ruleId: string;
  ruleTitle: string;
  severity: string;
  entityKind: string;
  entity: string;
  vmName: string | null;
  firstSeen: number;
  lastSeen: number;
  count: number;
  status: string;
  eventIds: string[];
  detail: unknown;
}

export type NewAlert = Omit<AlertRecord, "id" | "status" | "vmName" | "detail"> & {
  status?: string;
  vmName?: string | null;
  detail?: unknown;
};

interface AlertRow {
  id: number;
  rule_id: string;
  rule_title: string;
  severity: string;
  entity_kind: string;
  entity: string;
  vm_name: string | null;
  first_seen: number;
  last_seen: number;
  count: number;
  status: string;
  event_ids: string | null;
  json: string | null;
}

const COLUMNS = `id, rule_id, rule_title, severity, entity_kind, entity, vm_name, first_seen, last_seen, count, status, event_ids, json`;

/** Inserts an alert and returns its id. */
export function insertAlert(db: Database.Database, a: NewAlert): number {
  const result = prepared(
    db,
    `INSERT INTO alerts (rule_id, rule_title, severity, entity_kind, entity, vm_name, first_seen, last_seen, count, status, event_ids, json)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  ).run(
    a.ruleId,
    a.ruleTitle,
    a.severity,
    a.entityKind,
    a.entity,
    a.vmName ?? null,
    a.firstSeen,
    a.lastSeen,
    a.count,
    a.status ?? "open",
    JSON.stringify(a.eventIds),
    a.detail === undefined ? null : JSON.stringify(a.detail),
  );
  return Number(result.lastInsertRowid);
}

export function getAlert(db: Database.Database, id: number): AlertRecord | undefined {
  const row = prepared<[number], AlertRow>(db, `SELECT ${COLUMNS} FROM alerts WHERE id = ?`).get(id);
  return row === undefined ? undefined : fromRow(row);
}

export interface ListAlertsOptions {
  status?: string;
  ruleId?: string;
  /** Maximum number of alerts; all of them when absent. */
  limit?: number;
}

/** Alerts, newest first (by last_seen, then id). */
export function listAlerts(db: Database.Database, opts: ListAlertsOptions = {}): AlertRecord[] {
  const where: string[] = [];
  const params: Array<string | number> = [];
  if (opts.status !== undefined) {
    where.push("status = ?");
    params.push(opts.status);
  }
  if (opts.ruleId !== undefined) {
    where.push("rule_id = ?");
    params.push(opts.ruleId);
  }
  params.push(opts.limit ?? -1);
  const sql = `SELECT ${COLUMNS} FROM alerts ${where.length > 0 ? `WHERE ${where.join(" AND ")}` : ""} ORDER BY last_seen DESC, id DESC LIMIT ?`;
  return prepared<Array<string | number>, AlertRow>(db, sql).all(...params).map(fromRow);
}

function fromRow(row: AlertRow): AlertRecord {
  return {
    id: row.id,
    ruleId: row.rule_id,
    ruleTitle: row.rule_title,
    severity: row.severity,
    entityKind: row.entity_kind,
    entity: row.entity,
    vmName: row.vm_name,
    firstSeen: row.first_seen,
    lastSeen: row.last_seen,
    count: row.count,
    status: row.status,
    eventIds: row.event_ids === null ? [] : (JSON.parse(row.event_ids) as string[]),
    detail: row.json === null ? undefined : (JSON.parse(row.json) as unknown),
  };
}
