// The learning mode (docs/noise.md): while hv learns, each Sigma detection is counted by (rule,
// program lineage, user, VM); from those combinations hv proposes structured exceptions with an
// expiry (hv tune list), which an admin applies or revokes (hv tune apply|revoke), or which apply
// themselves at the end of a learning period when `learning.apply` is set. hv's own high and
// critical rules are counted (so an admin sees they occur in normal work) but never proposed, and
// an exception naming one is never loaded: learning cannot silence them.

import type Database from "better-sqlite3";
import type { Detection } from "../events/alert.js";
import type { ExceptionSpec } from "../detectors/sigma/exceptions.js";
import { appliedLearned, applyLearned, learningStartedAt, listLearned, listObservations, observe, propose, type LearnedException, type ObservationKey } from "../store/learning.js";
import type { Router } from "./routing.js";

export const DEFAULT_LEARNED_EXPIRY_MS = 30 * 86_400_000;

export interface LearningOptions {
  db: Database.Database;
  router: Router;
  /** Learn for the whole run (hv monitor --learn). */
  always?: boolean;
  /** Learn for this long from the first learned detection (event time); off when absent. */
  periodMs?: number;
  /** Apply the proposals when learning ends (default: only propose). */
  apply?: boolean;
  expiresMs?: number;
  /** Combinations seen fewer times are not proposed (default 1). */
  minCount?: number;
  /** Exceptions applied while running (the Sigma detector's addExceptions). */
  onApplied?: (specs: ExceptionSpec[]) => void;
  report?: (text: string) => void;
}

export interface LearningStats {
  learning: boolean;
  observed: number;
  proposed: number;
  applied: number;
}

export interface Learner {
  onDetection(d: Detection): void;
  /** Stream time passes: ends a learning period that is over. */
  tick(nowMs: number): void;
  /** The run ends (a replay with --learn): proposes, and applies when configured. */
  finish(nowMs: number): void;
  stats(): LearningStats;
}

/** Other detectors' findings, and hv's own high and critical rules: never silenced by learning. */
export function neverLearned(router: Router, d: Pick<Detection, "rule" | "severity">): boolean {
  return d.rule.source !== "sigma" || (router.isHvRule(d.rule) && (d.severity === "high" || d.severity === "critical"));
}

/** The (rule, program lineage, user, VM) of a detection: its last event's. */
export function observationOf(d: Detection): ObservationKey {
  const e = d.events[d.events.length - 1];
  return {
    ruleId: d.rule.id,
    executable: e?.process?.executable ?? "",
    parent: e?.process?.parent?.executable ?? "",
    user: e?.user?.name ?? "",
    login: e?.user?.audit?.name ?? "",
    vm: e?.vm?.name ?? "",
  };
}

/** The exception's match block for a combination; null is "the event has no such value". */
export function matchOf(k: ObservationKey): Record<string, string | null> {
  return {
    "process.executable": k.executable || null,
    "process.parent.executable": k.parent || null,
    "user.name": k.user || null,
    "user.audit.name": k.login || null,
    "vm.name": k.vm || null,
  };
}

/** Proposals from what was observed (the same combination is never proposed twice). Returns how many are new. */
export function proposeExceptions(db: Database.Database, opts: { minCount?: number; nowMs: number }): number {
  let n = 0;
  for (const o of listObservations(db)) {
    if (o.protected || o.count < (opts.minCount ?? 1)) continue;
    if (propose(db, { ruleId: o.ruleId, ruleTitle: o.ruleTitle, severity: o.severity, match: matchOf(o), observed: o.count }, opts.nowMs)) n++;
  }
  return n;
}

/** Applies proposals (the given ids, or every proposed one) until now + expiresMs. */
export function applyProposals(db: Database.Database, opts: { ids?: number[]; expiresMs?: number; by: string; nowMs: number }): LearnedException[] {
  const wanted = opts.ids ? new Set(opts.ids) : undefined;
  const expires = opts.nowMs + (opts.expiresMs ?? DEFAULT_LEARNED_EXPIRY_MS);
  const out: LearnedException[] = [];
  for (const l of listLearned(db)) {
    if (wanted ? !wanted.has(l.id) : l.status !== "proposed") continue;
    if (applyLearned(db, l.id, expires, opts.by, opts.nowMs)) out.push({ ...l, status: "applied", applied: opts.nowMs, expires, by: opts.by });
  }
  return out;
}

/** Learned exceptions as Sigma exception entries (src/detectors/sigma/exceptions.ts). */
export function exceptionSpecs(rows: LearnedException[]): ExceptionSpec[] {
  return rows.map((l) => ({
    rule: l.ruleId,
    match: l.match,
    comment: `learned from ${l.observed} detection${l.observed === 1 ? "" : "s"} (hv tune list: #${l.id})`,
    source: "learned" as const,
    id: l.id,
    ...(l.expires !== undefined ? { expires: new Date(l.expires).toISOString() } : {}),
  }));
}

/** The applied learned exceptions (each with its expiry), less any that name a rule `protect` says is never silenced. */
export function appliedLearnedSpecs(db: Database.Database, protect: (ruleId: string) => boolean): ExceptionSpec[] {
  return exceptionSpecs(appliedLearned(db).filter((l) => !protect(l.ruleId)));
}

export function createLearner(opts: LearningOptions): Learner {
  const stats: LearningStats = { learning: opts.always === true || opts.periodMs !== undefined, observed: 0, proposed: 0, applied: 0 };
  let start: number | undefined = opts.periodMs !== undefined ? learningStartedAt(opts.db) : undefined;
  let ended = false;
  const inPeriod = (atMs: number): boolean => {
    if (opts.always) return true;
    if (opts.periodMs === undefined || ended) return false;
    start ??= atMs;
    return atMs < start + opts.periodMs;
  };
  const end = (nowMs: number): void => {
    if (ended) return;
    ended = true;
    stats.learning = false;
    stats.proposed += proposeExceptions(opts.db, { minCount: opts.minCount, nowMs });
    let note = `learning ended: ${stats.proposed} exception${stats.proposed === 1 ? "" : "s"} proposed (hv tune list)`;
    if (opts.apply) {
      const applied = applyProposals(opts.db, { ...(opts.expiresMs !== undefined ? { expiresMs: opts.expiresMs } : {}), by: "learning", nowMs });
      stats.applied += applied.length;
      if (applied.length > 0) opts.onApplied?.(exceptionSpecs(applied));
      note += `, ${applied.length} applied`;
    }
    opts.report?.(note);
  };
  return {
    onDetection(d) {
      if (ended || d.rule.source !== "sigma") return;
      const last = d.events[d.events.length - 1];
      const at = last ? Date.parse(last["@timestamp"]) : Date.now();
      if (!inPeriod(at)) {
        if (opts.periodMs !== undefined && start !== undefined) end(at);
        return;
      }
      observe(opts.db, observationOf(d), { title: d.rule.title, severity: d.severity, protected: neverLearned(opts.router, d) }, at);
      stats.observed++;
    },
    tick(nowMs) {
      if (!opts.always && opts.periodMs !== undefined && start !== undefined && nowMs >= start + opts.periodMs) end(nowMs);
    },
    finish(nowMs) {
      if (opts.always) end(nowMs);
    },
    stats: () => ({ ...stats }),
  };
}
