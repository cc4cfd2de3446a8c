import type Database from "better-sqlite3";
import { prepared } from "./statements.js";

// What hv saw while learning (one row per rule × program lineage × user × VM) and the exceptions
// proposed from it. An applied, unexpired learned exception joins the configured exceptions of
// the Sigma detector (src/detectors/sigma/exceptions.ts); every one can be revoked.

/** One (rule, lineage, user, VM) combination; '' where the event had no such value. */
export interface ObservationKey {
  ruleId: string;
  executable: string;
  parent: string;
  /** The process's user, and who logged in (the audit login uid's name). */
  user: string;
  login: string;
  vm: string;
}

export interface Observation extends ObservationKey {
  ruleTitle: string;
  severity: string;
  /** hv's own high or critical rule: counted, never proposed. */
  protected: boolean;
  count: number;
  firstSeen: number;
  lastSeen: number;
}

export type LearnedStatus = "proposed" | "applied" | "revoked";

export interface LearnedException {
  id: number;
  ruleId: string;
  ruleTitle: string;
  severity: string;
  /** The exception's match block (ECS names; null = the event has no such value). */
  match: Record<string, string | null>;
  observed: number;
  status: LearnedStatus;
  proposed: number;
  applied?: number;
  expires?: number;
  revoked?: number;
  by?: string;
}

/** Counts one detection of a combination at `atMs` (event time). */
export function observe(db: Database.Database, key: ObservationKey, rule: { title: string; severity: string; protected: boolean }, atMs: number): void {
  prepared<[Record<string, string | number>]>(
    db,
    `INSERT INTO learning_observations (rule_id, executable, parent, user_name, login_name, vm_name, rule_title, severity, count, first_seen, last_seen, protected)
     VALUES (@rule, @exe, @parent, @user, @login, @vm, @title, @severity, 1, @at, @at, @protected)
     ON CONFLICT (rule_id, executable, parent, user_name, login_name, vm_name)
     DO UPDATE SET count = count + 1, first_seen = min(first_seen, @at), last_seen = max(last_seen, @at)`,
  ).run({ rule: key.ruleId, exe: key.executable, parent: key.parent, user: key.user, login: key.login, vm: key.vm, title: rule.title, severity: rule.severity, at: atMs, protected: rule.protected ? 1 : 0 });
}

interface ObservationRow {
  rule_id: string;
  rule_title: string;
  severity: string;
  executable: string;
  parent: string;
  user_name: string;
  login_name: string;
  vm_name: string;
  count: number;
  first_seen: number;
  last_seen: number;
  protected: number;
}

export function listObservations(db: Database.Database): Observation[] {
  return prepared<[], ObservationRow>(db, `SELECT * FROM learning_observations ORDER BY rule_title, count DESC`)
    .all()
    .map((r) => ({
      ruleId: r.rule_id, ruleTitle: r.rule_title, severity: r.severity, executable: r.executable, parent: r.parent,
      user: r.user_name, login: r.login_name, vm: r.vm_name, count: r.count, firstSeen: r.first_seen, lastSeen: r.last_seen,
      protected: r.protected === 1,
    }));
}

/** When learning began: the first observation's event time, or undefined before any. */
export function learningStartedAt(db: Database.Database): number | undefined {
  const v = prepared<[], { t: number | null }>(db, `SELECT min(first_seen) AS t FROM learning_observations`).get()?.t;
  return v ?? undefined;
}

/** Stores a proposal unless the same (rule, match) is already known (whatever its status). Returns true when new. */
export function propose(db: Database.Database, p: Pick<LearnedException, "ruleId" | "ruleTitle" | "severity" | "match" | "observed">, nowMs: number): boolean {
  const r = prepared<[string, string, string, string, number, number]>(
    db,
    `INSERT INTO learned_exceptions (rule_id, rule_title, severity, match, observed, status, proposed)
     VALUES (?, ?, ?, ?, ?, 'proposed', ?) ON CONFLICT (rule_id, match) DO NOTHING`,
  ).run(p.ruleId, p.ruleTitle, p.severity, JSON.stringify(p.match), p.observed, nowMs);
  return r.changes > 0;
}

interface LearnedRow {
  id: number;
  rule_id: string;
  rule_title: string;
  severity: string;
  match: string;
  observed: number;
  status: string;
  proposed: number;
  applied: number | null;
  expires: number | null;
  revoked: number | null;
  by: string | null;
}

function fromRow(r: LearnedRow): LearnedException {
  const out: LearnedException = {
    id: r.id, ruleId: r.rule_id, ruleTitle: r.rule_title, severity: r.severity, match: JSON.parse(r.match) as Record<string, string | null>,
    observed: r.observed, status: r.status as LearnedStatus, proposed: r.proposed,
  };
  if (r.applied !== null) out.applied = r.applied;
  if (r.expires !== null) out.expires = r.expires;
  if (r.revoked !== null) out.revoked = r.revoked;
  if (r.by !== null) out.by = r.by;
  return out;
}

export function listLearned(db: Database.Database, status?: LearnedStatus): LearnedException[] {
  const rows = status
    ? prepared<[string], LearnedRow>(db, `SELECT * FROM learned_exceptions WHERE status = ? ORDER BY id`).all(status)
    : prepared<[], LearnedRow>(db, `SELECT * FROM learned_exceptions ORDER BY id`).all();
  return rows.map(fromRow);
}

/** Applied exceptions (their expiry is checked against each event's time, so a replay judges as live did). */
export function appliedLearned(db: Database.Database): LearnedException[] {
  return listLearned(db, "applied");
}

/** Applies a proposed (or revoked) exception until `expiresMs`; false when there is no such exception. */
export function applyLearned(db: Database.Database, id: number, expiresMs: number, by: string, nowMs: number): boolean {
  const r = prepared<[number, number, string, number]>(
    db,
    `UPDATE learned_exceptions SET status = 'applied', applied = ?, expires = ?, by = ?, revoked = NULL WHERE id = ?`,
  ).run(nowMs, expiresMs, by, id);
  return r.changes > 0;
}

/** Revokes an exception (it stops applying at hv monitor's next start); false when there is no such exception. */
export function revokeLearned(db: Database.Database, id: number, by: string, nowMs: number): boolean {
  const r = prepared<[number, string, number]>(db, `UPDATE learned_exceptions SET status = 'revoked', revoked = ?, by = ? WHERE id = ?`).run(nowMs, by, id);
  return r.changes > 0;
}
