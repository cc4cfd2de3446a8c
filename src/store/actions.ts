import type Database from "better-sqlite3";
import { prepared } from "./statements.js";

// One row per action a playbook (or a person) decided on, whatever the mode: in `monitor` mode the
// row is the record of what would have been done.
export interface ActionRecord {
  id: number;
  alertId: number | null;
  playbook: string;
  action: string;
  mode: string;
  status: string;
  approvedBy: string | null;
  started: number | null;
  finished: number | null;
  result: string | null;
  /** How to reverse the action, when the world allows it. */
  undo: string | null;
  detail: unknown;
  /** What it acts on: vm:NAME, ip:ADDR, process:PID, user:NAME, host. */
  target: string | null;
  params: Record<string, unknown> | null;
  /** ms since the epoch. */
  created: number | null;
  /** Automatic with a delay: not run before this time. */
  notBefore: number | null;
  /** TTL: a reversible action is undone at this time. */
  expires: number | null;
  undone: number | null;
  undoneBy: string | null;
  /** The hv process running it while status is running. */
  ownerPid: number | null;
}

export type NewAction = Pick<ActionRecord, "playbook" | "action" | "mode" | "status"> &
  Partial<Omit<ActionRecord, "id" | "playbook" | "action" | "mode" | "status">>;

interface ActionRow {
  id: number;
  alert_id: number | null;
  playbook: string;
  action: string;
  mode: string;
  status: string;
  approved_by: string | null;
  started: number | null;
  finished: number | null;
  result: string | null;
  undo: string | null;
  json: string | null;
  target: string | null;
  params: string | null;
  created: number | null;
  not_before: number | null;
  expires: number | null;
  undone: number | null;
  undone_by: string | null;
  owner_pid: number | null;
}

const COLUMNS = `id, alert_id, playbook, action, mode, status, approved_by, started, finished, result, undo, json, target, params, created, not_before, expires, undone, undone_by, owner_pid`;

/** Inserts an action and returns its id. */
export function insertAction(db: Database.Database, a: NewAction): number {
  const result = prepared(
    db,
    `INSERT INTO actions (alert_id, playbook, action, mode, status, approved_by, started, finished, result, undo, json, target, params, created, not_before, expires, undone, undone_by, owner_pid)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  ).run(
    a.alertId ?? null,
    a.playbook,
    a.action,
    a.mode,
    a.status,
    a.approvedBy ?? null,
    a.started ?? null,
    a.finished ?? null,
    a.result ?? null,
    a.undo ?? null,
    a.detail === undefined ? null : JSON.stringify(a.detail),
    a.target ?? null,
    a.params == null ? null : JSON.stringify(a.params),
    a.created ?? Date.now(),
    a.notBefore ?? null,
    a.expires ?? null,
    a.undone ?? null,
    a.undoneBy ?? null,
    a.ownerPid ?? null,
  );
  return Number(result.lastInsertRowid);
}

export function getAction(db: Database.Database, id: number): ActionRecord | undefined {
  const row = prepared<[number], ActionRow>(db, `SELECT ${COLUMNS} FROM actions WHERE id = ?`).get(id);
  return row === undefined ? undefined : fromRow(row);
}

export interface ListActionsOptions {
  alertId?: number;
  status?: string;
  /** Maximum number of actions; all of them when absent. */
  limit?: number;
}

/** Actions in the order they were recorded. */
export function listActions(db: Database.Database, opts: ListActionsOptions = {}): ActionRecord[] {
  const where: string[] = [];
  const params: Array<string | number> = [];
  if (opts.alertId !== undefined) {
    where.push("alert_id = ?");
    params.push(opts.alertId);
  }
  if (opts.status !== undefined) {
    where.push("status = ?");
    params.push(opts.status);
  }
  params.push(opts.limit ?? -1);
  const sql = `SELECT ${COLUMNS} FROM actions ${where.length > 0 ? `WHERE ${where.join(" AND ")}` : ""} ORDER BY id LIMIT ?`;
  return prepared<Array<string | number>, ActionRow>(db, sql).all(...params).map(fromRow);
}

function fromRow(row: ActionRow): ActionRecord {
  return {
    id: row.id,
    alertId: row.alert_id,
    playbook: row.playbook,
    action: row.action,
    mode: row.mode,
    status: row.status,
    approvedBy: row.approved_by,
    started: row.started,
    finished: row.finished,
    result: row.result,
    undo: row.undo,
    detail: row.json === null ? undefined : (JSON.parse(row.json) as unknown),
    target: row.target,
    params: row.params === null ? null : (JSON.parse(row.params) as Record<string, unknown>),
    created: row.created,
    notBefore: row.not_before,
    expires: row.expires,
    undone: row.undone,
    undoneBy: row.undone_by,
    ownerPid: row.owner_pid,
  };
}
