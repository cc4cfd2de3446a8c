// Running and undoing one stored action. A row is run only by the process that claimed it (the
// UPDATE that moved it to running changed it), so the agent and the CLI never both run it. The
// safety checks are made again here, right before the action's code is called.

import type Database from "better-sqlite3";
import type { Alert } from "../events/alert.js";
import { getAlert } from "../store/alerts.js";
import { claimAction, claimUndo, finishAction, finishUndo, getAction, refuseClaimed, runningCount, triggerOf, type ActionRecord } from "../store/actions.js";
import { activeEnforcement, quarantinesSince } from "../store/enforcements.js";
import type { ActionDefinition, ActionEnv, ActionRegistry, ActionRun, ActionTarget } from "./action.js";
import { ALLOWLIST_EXEMPT, allowlistRefusal, QUARANTINE_ACTIONS } from "./safety.js";

export interface ExecContext {
  db: Database.Database;
  registry: ActionRegistry;
  env: ActionEnv;
  pid: number;
  maxQuarantinesPerHour: number;
  now(): number;
  signal: AbortSignal;
  /** Sees every row as it is decided, finished or undone (the live view, metrics, the fleet). */
  onRecord?: (row: ActionRecord) => void;
}

/** Tells the listener about a row; a listener's failure never changes what was done. */
export function announce(ctx: Pick<ExecContext, "onRecord" | "env">, row: ActionRecord): ActionRecord {
  try {
    ctx.onRecord?.(row);
  } catch (err) {
    ctx.env.log(`action ${row.id}: listener failed: ${err instanceof Error ? err.message : String(err)}`);
  }
  return row;
}

/** A failed TTL undo is tried again this much later. */
export const UNDO_RETRY_MS = 60_000;

/** The full target stored with the row (json.target), else what its key says. */
export function targetOfRow(a: ActionRecord): ActionTarget | undefined {
  const stored = (a.detail as { target?: ActionTarget } | undefined)?.target;
  if (stored && typeof stored === "object" && typeof stored.kind === "string") return stored;
  const key = a.target;
  if (!key) return undefined;
  if (key === "host") return { kind: "host" };
  const i = key.indexOf(":");
  const kind = key.slice(0, i);
  const value = key.slice(i + 1);
  if (kind === "vm") return { kind: "vm", name: value };
  if (kind === "ip") return { kind: "ip", address: value };
  if (kind === "user") return { kind: "user", name: value };
  if (kind === "process") return { kind: "process", pid: Number(value) };
  return undefined;
}

/** Who runs a row: the person who approved it, else its playbook. */
export function runnerOf(a: ActionRecord): string {
  return a.approvedBy ? `user:${a.approvedBy}` : `playbook:${a.playbook}`;
}

/**
 * Claims a scheduled/approved row for this process; a quarantine over the hourly limit is refused
 * in the same transaction (so two processes cannot both take the last place).
 */
export function claimForRun(ctx: ExecContext, id: number, from: readonly string[], at?: number): boolean {
  return ctx.db.transaction((): boolean => {
    const now = at ?? ctx.now();
    if (!claimAction(ctx.db, id, ctx.pid, from, now)) return false;
    const row = getAction(ctx.db, id)!;
    const over = overQuarantineLimit(ctx, row);
    if (over) refuseClaimed(ctx.db, id, ctx.pid, over, now);
    return over === undefined;
  }).immediate();
}

function overQuarantineLimit(ctx: ExecContext, row: ActionRecord): string | undefined {
  if (!QUARANTINE_ACTIONS.includes(row.action)) return undefined;
  const t = targetOfRow(row);
  if (t?.kind === "vm" && activeEnforcement(ctx.db, "quarantine", t.name)) return undefined;
  const used = quarantinesSince(ctx.db, ctx.now() - 3_600_000) + runningCount(ctx.db, QUARANTINE_ACTIONS, row.id);
  return used >= ctx.maxQuarantinesPerHour ? `limit: ${used} quarantines in the last hour (response.maxQuarantinesPerHour ${ctx.maxQuarantinesPerHour})` : undefined;
}

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * A VM target with its UUID, from libvirt when the alert did not carry it: the allowlist may name
 * the VM by UUID only. When libvirt cannot say and the allowlist does name VMs by UUID, the VM
 * cannot be shown to be unprotected.
 */
async function withUuid(env: ActionEnv, t: ActionTarget): Promise<ActionTarget | { unknown: string }> {
  if (t.kind !== "vm" || t.uuid) return t;
  try {
    const info = await env.vm.domainInfo(t.name);
    if (info.uuid) return { ...t, uuid: info.uuid };
  } catch {
    // Judged below.
  }
  return env.allowlist.describe().vms.some((v) => UUID_RE.test(v)) ? { unknown: `cannot learn the UUID of VM ${t.name} from libvirt, and the allowlist names VMs by UUID` } : t;
}

function parseParams(def: ActionDefinition<never>, params: unknown): { ok: true; value: never } | { ok: false; error: string } {
  const r = (def.params as unknown as { safeParse(v: unknown): { success: boolean; data?: unknown; error?: { issues: Array<{ path: PropertyKey[]; message: string }> } } }).safeParse(params ?? {});
  if (r.success) return { ok: true, value: r.data as never };
  return { ok: false, error: (r.error?.issues ?? []).map((i) => `${i.path.map(String).join(".") || "(params)"}: ${i.message}`).join("; ") };
}

/** Runs a row this process has claimed and records the outcome. */
export async function runClaimed(ctx: ExecContext, id: number, alert?: Alert): Promise<ActionRecord> {
  const row = getAction(ctx.db, id)!;
  const finish = (status: "done" | "failed" | "refused", result: string, extra: { detail?: Record<string, unknown>; undo?: string; expires?: number } = {}): ActionRecord => {
    finishAction(ctx.db, id, ctx.pid, { status, result, ...extra, now: ctx.now() });
    return announce(ctx, getAction(ctx.db, id)!);
  };
  const def = ctx.registry.get(row.action);
  if (!def) return finish("failed", `unknown action ${row.action}`);
  const stored = targetOfRow(row);
  if (!stored) return finish("failed", "the row names no target");
  const target = ALLOWLIST_EXEMPT.has(row.action) ? stored : await withUuid(ctx.env, stored);
  if ("unknown" in target) return finish("refused", `allowlist: ${target.unknown}`);
  const refusal = allowlistRefusal(ctx.env.allowlist, row.action, target);
  if (refusal) return finish("refused", `allowlist: ${refusal}`);
  const params = parseParams(def, row.params);
  if (!params.ok) return finish("failed", `parameters: ${params.error}`);
  const ttlMs = triggerOf(row)?.ttlMs;
  const expires = def.reversible && ttlMs !== undefined ? ctx.now() + ttlMs : undefined;
  const run: ActionRun<never> = {
    env: ctx.env,
    params: params.value,
    target,
    actionId: id,
    by: runnerOf(row),
    signal: ctx.signal,
    ...(expires !== undefined ? { expires } : {}),
  };
  const theAlert = alert ?? (row.alertId !== null ? getAlert(ctx.db, row.alertId) : undefined);
  if (theAlert) run.alert = theAlert;
  try {
    const out = await def.run(run);
    const detail: Record<string, unknown> = { ...(out.detail ?? {}), ...(out.unchanged ? { unchanged: true } : {}) };
    return finish("done", out.result, { detail, ...(def.reversible ? { undo: def.reversible.how } : {}), ...(expires !== undefined ? { expires } : {}) });
  } catch (err) {
    // An action may refuse by itself (its own allowlist check, a reused pid): ActionError.refused.
    const e = err as { refused?: unknown; detail?: unknown };
    const detail = e.detail && typeof e.detail === "object" ? { detail: e.detail as Record<string, unknown> } : {};
    return finish(e.refused === true ? "refused" : "failed", err instanceof Error ? err.message : String(err), detail);
  }
}

export type UndoResult = { ok: true; row: ActionRecord } | { ok: false; error: string; row?: ActionRecord };

/** Reverses a done reversible action; `by` is "ttl" or "user:NAME". Only one process does it. */
export async function undoAction(ctx: ExecContext, id: number, by: string): Promise<UndoResult> {
  const row = getAction(ctx.db, id);
  if (!row) return { ok: false, error: `no action ${id}` };
  const def = ctx.registry.get(row.action);
  if (!def?.reversible) return { ok: false, error: `${row.action} cannot be undone`, row };
  if (row.status !== "done" || row.undone !== null) return { ok: false, error: `action ${id} is ${row.undone !== null ? `already undone by ${row.undoneBy}` : row.status}; only a done action can be undone`, row };
  const target = targetOfRow(row);
  const params = parseParams(def, row.params);
  if (!target || !params.ok) return { ok: false, error: `action ${id}: ${params.ok ? "no target" : params.error}`, row };
  if (!claimUndo(ctx.db, id, ctx.pid)) return { ok: false, error: `action ${id} is being undone by another process, or was just undone`, row: getAction(ctx.db, id) };
  const run: ActionRun<never> = { env: ctx.env, params: params.value, target, actionId: id, by, signal: ctx.signal, ...(row.expires !== null ? { expires: row.expires } : {}) };
  try {
    const out = await def.reversible.undo(run);
    finishUndo(ctx.db, id, ctx.pid, { ok: true, by, result: out.result, now: ctx.now() });
    return { ok: true, row: announce(ctx, getAction(ctx.db, id)!) };
  } catch (err) {
    const error = err instanceof Error ? err.message : String(err);
    // A TTL tries again later; a person sees the error and decides.
    finishUndo(ctx.db, id, ctx.pid, { ok: false, by, result: error, retryAt: by === "ttl" ? ctx.now() + UNDO_RETRY_MS : row.expires, now: ctx.now() });
    return { ok: false, error, row: announce(ctx, getAction(ctx.db, id)!) };
  }
}
