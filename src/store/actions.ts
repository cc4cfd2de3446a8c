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
  /** Any of these statuses. */
  statuses?: readonly string[];
  /** Maximum number of actions; all of them when absent. */
  limit?: number;
  /** Newest first (default: in the order they were recorded). */
  newestFirst?: boolean;
}

/** Actions in the order they were recorded (or the reverse). */
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
  if (opts.statuses !== undefined) {
    where.push(`status IN (${opts.statuses.map(() => "?").join(", ") || "NULL"})`);
    params.push(...opts.statuses);
  }
  params.push(opts.limit ?? -1);
  const sql = `SELECT ${COLUMNS} FROM actions ${where.length > 0 ? `WHERE ${where.join(" AND ")}` : ""} ORDER BY id${opts.newestFirst ? " DESC" : ""} LIMIT ?`;
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

// --- The response engine's side (src/playbooks/engine.ts, docs/playbooks.md "Lifecycle") -------
//
// Statuses: recorded (monitor: what would have been done), refused (allowlist, limit, no target),
// pending (waits for a person), approved (a person said yes; not yet run), scheduled (automatic,
// runs at not_before), running (owner_pid runs it), done, failed, denied; undoing while a TTL or a
// person reverses a done action (it returns to done with `undone` set).
// Every transition is one UPDATE guarded by the status it leaves, so of the processes sharing the
// store (the agent and the CLI) exactly one makes each transition.

export const ACTION_STATUSES = ["recorded", "refused", "pending", "approved", "scheduled", "running", "undoing", "done", "failed", "denied"] as const;
/** Statuses a row can still leave on its own or by a person's decision. */
export const OPEN_STATUSES = ["pending", "approved", "scheduled", "running", "undoing"] as const;

/** Why a playbook acted: stored in the row's json under `trigger` (dedupe, cooldown, rate limit). */
export interface ActionTrigger {
  /** playbook + alert + count: one set of actions per alert update. */
  firing: string;
  /** The alert's entity, kind:id (cooldown is per playbook and entity). */
  entity: string;
  /** TTL of a reversible action, applied when it runs. */
  ttlMs?: number;
  /** The firing was refused by the playbook's rate limit (it does not count towards it). */
  limited?: boolean;
}

/** The trigger stored with a row, if any. */
export function triggerOf(a: ActionRecord): ActionTrigger | undefined {
  const d = a.detail as { trigger?: ActionTrigger } | undefined;
  return d && typeof d === "object" ? d.trigger : undefined;
}

/**
 * Takes a row to `running` for process `pid` when it is in one of `from` (and, for scheduled rows,
 * due by `now`). True only for the one caller whose UPDATE changed the row.
 */
export function claimAction(db: Database.Database, id: number, pid: number, from: readonly string[], now = Date.now()): boolean {
  const r = prepared(
    db,
    `UPDATE actions SET status = 'running', owner_pid = ?, started = ?
     WHERE id = ? AND status IN (${from.map(() => "?").join(", ")}) AND (status != 'scheduled' OR not_before IS NULL OR not_before <= ?)`,
  ).run(pid, now, id, ...from, now);
  return r.changes === 1;
}

export interface ActionFinish {
  status: "done" | "failed" | "refused";
  result: string;
  /** Merged into the row's json (the trigger stays). */
  detail?: Record<string, unknown>;
  undo?: string;
  expires?: number;
  now?: number;
}

/** Ends a run this process owns (running, owner_pid = pid). False when it does not own it. */
export function finishAction(db: Database.Database, id: number, pid: number, f: ActionFinish): boolean {
  return db.transaction((): boolean => {
    const row = getAction(db, id);
    if (!row || row.status !== "running" || row.ownerPid !== pid) return false;
    const json = mergeDetail(row.detail, f.detail);
    prepared(db, `UPDATE actions SET status = ?, result = ?, json = ?, undo = ?, expires = ?, finished = ?, owner_pid = NULL WHERE id = ?`).run(
      f.status,
      f.result,
      json,
      f.undo ?? row.undo,
      f.expires ?? row.expires,
      f.now ?? Date.now(),
      id,
    );
    return true;
  })();
}

function mergeDetail(old: unknown, add: Record<string, unknown> | undefined): string | null {
  const base = old && typeof old === "object" && !Array.isArray(old) ? (old as Record<string, unknown>) : {};
  const merged = { ...base, ...(add ?? {}) };
  return Object.keys(merged).length === 0 ? null : JSON.stringify(merged);
}

/** pending → approved by `by`. False when the row is not pending. */
export function approveAction(db: Database.Database, id: number, by: string): boolean {
  return prepared(db, `UPDATE actions SET status = 'approved', approved_by = ? WHERE id = ? AND status = 'pending'`).run(by, id).changes === 1;
}

/** pending or scheduled → denied: it never runs. False when the row is in neither. */
export function denyAction(db: Database.Database, id: number, by: string, reason?: string, now = Date.now()): boolean {
  const result = `denied by ${by}${reason ? `: ${reason}` : ""}`;
  return prepared(db, `UPDATE actions SET status = 'denied', approved_by = ?, result = ?, finished = ? WHERE id = ? AND status IN ('pending', 'scheduled')`).run(by, result, now, id).changes === 1;
}

/** Rows to run now: scheduled and due, or approved; in the order they were decided. */
export function dueActions(db: Database.Database, now = Date.now()): ActionRecord[] {
  return prepared<[number], ActionRow>(db, `SELECT ${COLUMNS} FROM actions WHERE (status = 'scheduled' AND (not_before IS NULL OR not_before <= ?)) OR status = 'approved' ORDER BY id`)
    .all(now)
    .map(fromRow);
}

/** Rows waiting for a person. */
export function pendingActions(db: Database.Database): ActionRecord[] {
  return listActions(db, { status: "pending" });
}

/** Done reversible actions whose TTL ran out and that nobody undid yet. */
export function expiredActions(db: Database.Database, now = Date.now()): ActionRecord[] {
  return prepared<[number], ActionRow>(db, `SELECT ${COLUMNS} FROM actions WHERE status = 'done' AND expires IS NOT NULL AND expires <= ? AND undone IS NULL ORDER BY expires`)
    .all(now)
    .map(fromRow);
}

/** done → undoing for process `pid`: only one process reverses an action. */
export function claimUndo(db: Database.Database, id: number, pid: number): boolean {
  return prepared(db, `UPDATE actions SET status = 'undoing', owner_pid = ? WHERE id = ? AND status = 'done' AND undone IS NULL`).run(pid, id).changes === 1;
}

export interface UndoFinish {
  ok: boolean;
  by: string;
  /** What the undo said, or why it failed. */
  result: string;
  /** When it failed: try again at this time (a TTL undo), else never on its own. */
  retryAt?: number | null;
  now?: number;
}

/** undoing → done, with `undone` set when it worked; its outcome goes into json.undo. */
export function finishUndo(db: Database.Database, id: number, pid: number, u: UndoFinish): boolean {
  return db.transaction((): boolean => {
    const row = getAction(db, id);
    if (!row || row.status !== "undoing" || row.ownerPid !== pid) return false;
    const now = u.now ?? Date.now();
    const json = mergeDetail(row.detail, { undo: { ok: u.ok, by: u.by, at: now, result: u.result } });
    if (u.ok) {
      prepared(db, `UPDATE actions SET status = 'done', owner_pid = NULL, undone = ?, undone_by = ?, json = ? WHERE id = ?`).run(now, u.by, json, id);
    } else {
      prepared(db, `UPDATE actions SET status = 'done', owner_pid = NULL, json = ?, expires = ? WHERE id = ?`).run(json, u.retryAt === undefined ? row.expires : u.retryAt, id);
    }
    return true;
  })();
}

/** A done action undone by other means (a person released the quarantine it made). */
export function markUndone(db: Database.Database, id: number, by: string, now = Date.now()): boolean {
  return prepared(db, `UPDATE actions SET undone = ?, undone_by = ? WHERE id = ? AND status = 'done' AND undone IS NULL`).run(now, by, id).changes === 1;
}

/** Rows some process holds (running, undoing), with the process. */
export function ownedActions(db: Database.Database): ActionRecord[] {
  return listActions(db, { statuses: ["running", "undoing"] });
}

/**
 * Gives a row held by a dead process back: running → approved (a person had approved it) or
 * scheduled (due now); undoing → done (the TTL tries again). Guarded by the old owner.
 */
export function requeueAction(db: Database.Database, id: number, deadPid: number | null): boolean {
  return prepared(
    db,
    `UPDATE actions SET
       status = CASE WHEN status = 'undoing' THEN 'done' WHEN approved_by IS NOT NULL THEN 'approved' ELSE 'scheduled' END,
       owner_pid = NULL
     WHERE id = ? AND status IN ('running', 'undoing') AND owner_pid IS ?`,
  ).run(id, deadPid).changes === 1;
}

/** Has this firing (playbook + alert update) been decided already? */
export function firingExists(db: Database.Database, playbook: string, firing: string): boolean {
  return prepared<[string, string]>(db, `SELECT 1 FROM actions WHERE playbook = ? AND json_extract(json, '$.trigger.firing') = ? LIMIT 1`).get(playbook, firing) !== undefined;
}

/** Did the playbook decide anything about this entity since `sinceMs` (its cooldown)? */
export function firedForEntitySince(db: Database.Database, playbook: string, entity: string, sinceMs: number): boolean {
  return prepared<[string, string, number]>(db, `SELECT 1 FROM actions WHERE playbook = ? AND json_extract(json, '$.trigger.entity') = ? AND created >= ? LIMIT 1`).get(playbook, entity, sinceMs) !== undefined;
}

/** Firings of the playbook since `sinceMs` that its rate limit counts. */
export function firingsSince(db: Database.Database, playbook: string, sinceMs: number): number {
  return prepared<[string, number], { n: number }>(
    db,
    `SELECT count(DISTINCT json_extract(json, '$.trigger.firing')) AS n FROM actions
     WHERE playbook = ? AND created >= ? AND json_extract(json, '$.trigger.firing') IS NOT NULL AND json_extract(json, '$.trigger.limited') IS NOT 1`,
  ).get(playbook, sinceMs)!.n;
}

/** Rows of these actions running now, other than `exceptId` (quarantines not yet in the enforcements). */
export function runningCount(db: Database.Database, actions: readonly string[], exceptId: number): number {
  return prepared<Array<string | number>, { n: number }>(
    db,
    `SELECT count(*) AS n FROM actions WHERE status = 'running' AND id != ? AND action IN (${actions.map(() => "?").join(", ") || "NULL"})`,
  ).get(exceptId, ...actions)!.n;
}

/** Marks a row refused before it ran (the checks at run time: allowlist, limit). */
export function refuseClaimed(db: Database.Database, id: number, pid: number, reason: string, now = Date.now()): boolean {
  return finishAction(db, id, pid, { status: "refused", result: reason, now });
}
