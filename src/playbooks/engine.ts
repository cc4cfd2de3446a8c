// The responder: alerts in, decisions recorded, actions run (docs/playbooks.md). Every decision is
// a row in `actions`; the store is the only thing the agent and the CLI share, so a row approved
// in the CLI is run by whichever process claims it first, and TTLs outlive restarts.

import { existsSync } from "node:fs";
import type Database from "better-sqlite3";
import type { Alert } from "../events/alert.js";
import type { AlertUpdate } from "../detectors/alerts.js";
import {
  approveAction,
  dueActions,
  expiredActions,
  firedForEntitySince,
  firingExists,
  firingsSince,
  getAction,
  insertAction,
  markUndone,
  ownedActions,
  requeueAction,
  runningCount,
  triggerOf,
  type ActionRecord,
  type ActionTrigger,
} from "../store/actions.js";
import { activeEnforcement, expiredEnforcements, quarantinesSince, releaseEnforcement } from "../store/enforcements.js";
import { targetKey, type ActionEnv, type ActionRegistry, type ActionTarget } from "./action.js";
import { announce, claimForRun, runClaimed, undoAction, type ExecContext, type UndoResult } from "./execute.js";
import { formatDuration } from "../events/duration.js";
import { matchAlert } from "./match.js";
import { planPlaybook, type PlanContext, type PlannedAction } from "./plan.js";
import { allowlistRefusal, DEFAULT_MAX_QUARANTINES_PER_HOUR, QUARANTINE_ACTIONS } from "./safety.js";
import type { Playbook } from "./schema.js";

export interface ResponseSettings {
  /** monitor: every playbook only records (a kill switch); playbooks (default): their own modes. */
  mode?: "monitor" | "playbooks";
  maxQuarantinesPerHour?: number;
  alwaysConfirm?: string[];
}

export interface ResponderOptions {
  db: Database.Database;
  registry: ActionRegistry;
  playbooks: Playbook[];
  env: ActionEnv;
  response?: ResponseSettings;
  /** The clock (tests move it). */
  now?: () => number;
  /** This process (owner_pid of the rows it runs). */
  pid?: number;
  /** Does a process live? Default: /proc/PID exists. */
  isAlive?: (pid: number) => boolean;
  /** Sees every row as it is decided, finished or undone. */
  onRecord?: (row: ActionRecord) => void;
}

/** The decision about one playbook for one alert update. */
export interface Decision {
  playbook: string;
  /** Matched and acted (rows), or why not. */
  outcome: "acted" | "duplicate" | "cooldown" | "rate-limited";
  actions: ActionRecord[];
}

export interface TickReport {
  ran: ActionRecord[];
  undone: UndoResult[];
  /** Enforcements released because their TTL ran out. */
  released: number;
}

export interface ManualAction {
  action: string;
  target: ActionTarget;
  params?: Record<string, unknown>;
  ttlMs?: number;
  /** The person: recorded as approved_by, runs as user:NAME. */
  by: string;
}

export interface Responder {
  /** Decides on one alert update (every matching playbook) and runs what is to run now. */
  onAlert(update: AlertUpdate): Promise<Decision[]>;
  /** Runs due scheduled and approved rows, undoes expired actions, releases expired enforcements. */
  tick(now?: number): Promise<TickReport>;
  /** At start: rows left running/undoing by a dead process go back to be run again. */
  recover(): ActionRecord[];
  /** pending → approved by `by`, then runs it here (or waits for the process that took it). */
  approve(id: number, by: string, opts?: { waitMs?: number }): Promise<ActionRecord>;
  undo(id: number, by: string): Promise<UndoResult>;
  /**
   * A person's action (`hv quarantine add`): the same allowlist and limit, recorded and run now.
   * With `background` it answers with the running row at once (a forensic capture takes minutes).
   */
  act(m: ManualAction, opts?: { background?: boolean }): Promise<ActionRecord>;
  /** Resolves when every action started so far has finished. */
  idle(): Promise<void>;
  /** Aborts running actions and waits for them. */
  close(): Promise<void>;
}

/** The playbook column of rows a person started by hand. */
export const MANUAL = "manual";

export function pidAlive(pid: number): boolean {
  return existsSync(`/proc/${pid}`);
}

export class ApprovalError extends Error {
  override name = "ApprovalError";
}

export function createResponder(opts: ResponderOptions): Responder {
  const { db, registry, env } = opts;
  const now = opts.now ?? Date.now;
  const pid = opts.pid ?? process.pid;
  const isAlive = opts.isAlive ?? pidAlive;
  const responseMode = opts.response?.mode ?? "playbooks";
  const alwaysConfirm = new Set(opts.response?.alwaysConfirm ?? []);
  const maxQuarantinesPerHour = opts.response?.maxQuarantinesPerHour ?? DEFAULT_MAX_QUARANTINES_PER_HOUR;
  const abort = new AbortController();
  const ctx: ExecContext = { db, registry, env, pid, maxQuarantinesPerHour, now, signal: abort.signal, ...(opts.onRecord ? { onRecord: opts.onRecord } : {}) };
  const playbooks = opts.playbooks.filter((p) => p.enabled);
  // Firings whose rows run in this process now: a tick leaves them alone, so one playbook's
  // actions keep their order.
  const inFlight = new Map<string, Promise<unknown>>();

  const track = <T>(key: string, work: () => Promise<T>): Promise<T> => {
    const p = work().finally(() => {
      if (inFlight.get(key) === p) inFlight.delete(key);
    });
    inFlight.set(key, p);
    return p;
  };

  const planContext = (): PlanContext => ({
    registry,
    allowlist: env.allowlist,
    responseMode,
    alwaysConfirm,
    quarantinesLastHour: quarantinesSince(db, now() - 3_600_000) + runningCount(db, QUARANTINE_ACTIONS, -1),
    maxQuarantinesPerHour,
    isQuarantined: (vm) => activeEnforcement(db, "quarantine", vm) !== undefined,
    now: now(),
  });

  /** Decides and stores one playbook's rows in one transaction; returns the ids to run now. */
  const decide = (pb: Playbook, alert: Alert): { decision: Decision; runNow: number[]; firing: string } => {
    const entity = `${alert.entity.kind}:${alert.entity.id}`;
    const firing = `${pb.id}|${alert.id ?? `${alert.rule.id}|${entity}|${alert.first_seen}`}|${alert.count}`;
    return db.transaction(() => {
      const t = now();
      if (firingExists(db, pb.id, firing)) return { decision: { playbook: pb.id, outcome: "duplicate" as const, actions: [] }, runNow: [], firing };
      if (pb.cooldownMs > 0 && firedForEntitySince(db, pb.id, entity, t - pb.cooldownMs)) return { decision: { playbook: pb.id, outcome: "cooldown" as const, actions: [] }, runNow: [], firing };
      const limited = pb.rateLimit !== undefined && firingsSince(db, pb.id, t - pb.rateLimit.windowMs) >= pb.rateLimit.count;
      let plan: PlannedAction[] = planPlaybook(pb, alert, planContext());
      if (limited) {
        const why = `rate limit: playbook ${pb.id} acted ${pb.rateLimit!.count} times in ${formatDuration(pb.rateLimit!.windowMs)}`;
        plan = plan.map((p) => ({ ...p, status: "refused", reason: why }));
      }
      const runNow: number[] = [];
      const ids = plan.map((p) => {
        const trigger: ActionTrigger = { firing, entity, ...(p.step.ttlMs !== undefined ? { ttlMs: p.step.ttlMs } : {}), ...(limited ? { limited: true } : {}) };
        const id = insertAction(db, {
          alertId: alert.id ?? null,
          playbook: pb.id,
          action: p.step.action,
          mode: p.mode,
          status: p.status === "run" ? "running" : p.status,
          target: p.target ? targetKey(p.target) : null,
          params: p.step.params,
          created: t,
          notBefore: p.notBefore ?? null,
          result: p.status === "run" ? null : p.reason,
          detail: { trigger, ...(p.target ? { target: p.target } : {}) },
          ...(p.status === "run" ? { ownerPid: pid, started: t } : {}),
          ...(p.status === "refused" || p.status === "recorded" ? { finished: t } : {}),
        });
        if (p.status === "run") runNow.push(id);
        return id;
      });
      return { decision: { playbook: pb.id, outcome: limited ? ("rate-limited" as const) : ("acted" as const), actions: ids.map((id) => getAction(db, id)!) }, runNow, firing };
    }).immediate();
  };

  const runGroup = async (ids: number[], claimed: boolean, alert?: Alert, at?: number): Promise<ActionRecord[]> => {
    const out: ActionRecord[] = [];
    for (const id of ids) {
      if (abort.signal.aborted) break;
      // A row decided "run now" was inserted already claimed; the others are claimed here.
      if (!claimed && !claimForRun(ctx, id, ["scheduled", "approved"], at)) {
        out.push(getAction(db, id)!);
        continue;
      }
      out.push(await runClaimed(ctx, id, alert));
    }
    return out;
  };

  const runDue = async (t: number): Promise<ActionRecord[]> => {
    const groups = new Map<string, number[]>();
    for (const row of dueActions(db, t)) {
      const key = triggerOf(row)?.firing ?? `row:${row.id}`;
      if (inFlight.has(key)) continue;
      groups.set(key, [...(groups.get(key) ?? []), row.id]);
    }
    const results = await Promise.all([...groups].map(([key, ids]) => track(key, () => runGroup(ids, false, undefined, t))));
    return results.flat();
  };

  const releaseExpired = async (t: number): Promise<number> => {
    let released = 0;
    for (const e of expiredEnforcements(db, t)) {
      if (!releaseEnforcement(db, e.kind, e.target, "ttl", "expired", t)) continue;
      released++;
      if (e.actionId !== null) {
        markUndone(db, e.actionId, "ttl", t);
        const row = getAction(db, e.actionId);
        if (row) announce(ctx, row);
      }
    }
    if (released > 0) await env.syncFirewall().catch((err: unknown) => env.log(`firewall sync after TTL release failed: ${err instanceof Error ? err.message : String(err)}`));
    return released;
  };

  const responder: Responder = {
    async onAlert({ alert }) {
      const decisions: Decision[] = [];
      const runs: Array<Promise<unknown>> = [];
      for (const pb of playbooks) {
        if (!matchAlert(pb.match, alert).matched) continue;
        const { decision, runNow, firing } = decide(pb, alert);
        decisions.push(decision);
        for (const row of decision.actions) announce(ctx, row);
        if (runNow.length > 0) runs.push(track(firing, () => runGroup(runNow, true, alert)));
      }
      await Promise.all(runs);
      return decisions.map((d) => ({ ...d, actions: d.actions.map((a) => getAction(db, a.id)!) }));
    },

    async tick(at) {
      const t = at ?? now();
      const ran = await runDue(t);
      const undone: UndoResult[] = [];
      for (const row of expiredActions(db, t)) undone.push(await undoAction(ctx, row.id, "ttl"));
      const released = await releaseExpired(t);
      return { ran, undone, released };
    },

    recover() {
      const back: ActionRecord[] = [];
      for (const row of ownedActions(db)) {
        // This process runs nothing yet, so a row it "owns" is a predecessor's with a reused pid.
        if (row.ownerPid !== null && row.ownerPid !== pid && isAlive(row.ownerPid)) continue;
        if (requeueAction(db, row.id, row.ownerPid)) back.push(getAction(db, row.id)!);
      }
      return back;
    },

    async approve(id, by, o = {}) {
      const row = getAction(db, id);
      if (!row) throw new ApprovalError(`no action ${id}`);
      if (!approveAction(db, id, by)) throw new ApprovalError(`action ${id} is ${row.status}, not pending; only a pending action can be approved`);
      if (claimForRun(ctx, id, ["approved"])) return track(`row:${id}`, () => runClaimed(ctx, id));
      // The agent's tick took it first: wait until it has finished there.
      const deadline = Date.now() + (o.waitMs ?? 60_000);
      for (;;) {
        const r = getAction(db, id)!;
        if (r.status !== "running" && r.status !== "approved") return r;
        if (Date.now() >= deadline) return r;
        await new Promise((res) => setTimeout(res, 200));
      }
    },

    undo(id, by) {
      return track(`undo:${id}`, () => undoAction(ctx, id, by));
    },

    async act(m, o = {}) {
      const def = registry.get(m.action);
      if (!def) throw new Error(`unknown action ${m.action}`);
      const t = now();
      const params = m.params ?? {};
      const base = { alertId: null, playbook: MANUAL, action: m.action, mode: MANUAL, target: targetKey(m.target), params, created: t, approvedBy: m.by };
      const trigger: ActionTrigger = { firing: `${MANUAL}|${m.by}|${t}|${m.action}|${targetKey(m.target)}`, entity: targetKey(m.target), ...(m.ttlMs !== undefined ? { ttlMs: m.ttlMs } : {}) };
      const id = db.transaction((): number => {
        const why = allowlistRefusal(env.allowlist, m.action, m.target);
        const detail = { trigger, target: m.target };
        if (why) return insertAction(db, { ...base, status: "refused", result: `allowlist: ${why}`, detail, finished: t });
        const id = insertAction(db, { ...base, status: "approved", detail });
        return id;
      }).immediate();
      if (getAction(db, id)!.status === "refused" || !claimForRun(ctx, id, ["approved"])) return announce(ctx, getAction(db, id)!);
      const run = track(`row:${id}`, () => runClaimed(ctx, id));
      if (!o.background) return run;
      // runClaimed records its own failures in the row; nothing is left to handle here.
      run.catch(() => undefined);
      return getAction(db, id)!;
    },

    async idle() {
      while (inFlight.size > 0) await Promise.allSettled([...inFlight.values()]);
    },

    async close() {
      abort.abort();
      await responder.idle();
    },
  };
  return responder;
}
