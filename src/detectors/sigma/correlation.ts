// Sigma correlation rules (Sigma 2): event_count, value_count, temporal, temporal_ordered over
// the matches of the rules they name, per group-by values, in the events' own time (@timestamp,
// so replayed logs correlate as they happened). Memory is bounded: at most `maxGroups` groups per
// correlation (least recently updated evicted and counted), events kept per group capped.
//
// Windows: a correlation whose thresholds are only gt/gte fires as soon as the count within the
// sliding window [t - timespan, t] reaches them, then starts over for that group. One with lt,
// lte, eq or neq can only be decided when time has passed: it counts in a window that opens at
// the group's first event and closes timespan later (on a later event or on tick(nowMs)).

import type { Detection, RuleRef, Severity } from "../../events/alert.js";
import type { HvEvent } from "../../events/event.js";
import type { CompiledRule, Resolve } from "./compile.js";
import { severityOf } from "./compile.js";
import type { EvalContext, FieldAccessor } from "./context.js";
import type { CorrelationDoc, CountOp } from "./load.js";
import { ecsAccessor } from "./mapping.js";

export interface CompiledCorrelation {
  doc: CorrelationDoc;
  ref: RuleRef;
  severity: Severity;
  /** Rule id → position in `rules:` (temporal_ordered) and that rule's group-by / value accessors. */
  members: Map<string, { index: number; groupBy: FieldAccessor[]; value?: FieldAccessor }>;
  monotone: boolean;
}

export interface CorrelationStats {
  groups: number;
  evictedGroups: number;
  fired: number;
}

const EVENTS_KEPT = 10;
const DEFAULT_MAX_GROUPS = 10_000;

/** Resolves the correlation's rule references and fields; a string is why it cannot run. */
export function compileCorrelation(doc: CorrelationDoc, byRef: Map<string, CompiledRule>): CompiledCorrelation | string {
  const members: CompiledCorrelation["members"] = new Map();
  for (const [index, name] of doc.rules.entries()) {
    const rule = byRef.get(name);
    if (!rule) return `refers to rule '${name}', which is not loaded (correlations of correlations are not supported yet)`;
    const aliasName = (field: string): string => doc.aliases[field]?.[name] ?? doc.aliases[field]?.[rule.ref.id] ?? field;
    const groupBy: FieldAccessor[] = [];
    for (const f of doc.groupBy) {
      const acc = fieldOf(rule.resolve, aliasName(f));
      if (typeof acc === "string") return `group-by '${f}' for rule '${name}': ${acc}`;
      groupBy.push(acc);
    }
    let value: FieldAccessor | undefined;
    if (doc.type === "value_count" && doc.field) {
      const acc = fieldOf(rule.resolve, aliasName(doc.field));
      if (typeof acc === "string") return `condition.field '${doc.field}' for rule '${name}': ${acc}`;
      value = acc;
    }
    members.set(rule.ref.id, value ? { index, groupBy, value } : { index, groupBy });
  }
  const ref: RuleRef = { id: doc.id ?? doc.name ?? `${doc.file}:${doc.title}`, title: doc.title, source: "sigma", tags: doc.tags, file: doc.file };
  if (doc.level) ref.level = doc.level;
  if (doc.description) ref.description = doc.description;
  const monotone = doc.thresholds.every((t) => t.op === "gt" || t.op === "gte");
  return { doc, ref, severity: severityOf(doc.level), members, monotone };
}

function fieldOf(resolve: Resolve, field: string): FieldAccessor | string {
  const acc = resolve(field);
  if (!("unsupported" in acc)) return acc;
  const ecs = ecsAccessor(field);
  return "unsupported" in ecs ? acc.unsupported : ecs;
}

interface Group {
  key: string;
  /** Sliding: match times in the window. Fixed: unused. */
  times: number[];
  windowStart: number;
  last: number;
  count: number;
  values: Map<string, number>;
  /** temporal: member index → last time seen. temporal_ordered: index → start time of the best chain reaching it. */
  seen: Map<number, number>;
  events: Array<{ ts: number; event: HvEvent }>;
}

function check(thresholds: Array<{ op: CountOp; value: number }>, n: number): boolean {
  return thresholds.every(({ op, value }) => {
    switch (op) {
      case "gt":
        return n > value;
      case "gte":
        return n >= value;
      case "lt":
        return n < value;
      case "lte":
        return n <= value;
      case "eq":
        return n === value;
      case "neq":
        return n !== value;
    }
  });
}

export class CorrelationEngine {
  private readonly byRule = new Map<string, CompiledCorrelation[]>();
  private readonly groups = new Map<CompiledCorrelation, Map<string, Group>>();
  private readonly counters = new Map<CompiledCorrelation, { evictedGroups: number; fired: number }>();
  private readonly maxGroups: number;

  constructor(
    readonly correlations: CompiledCorrelation[],
    options: { maxGroups?: number } = {},
  ) {
    this.maxGroups = options.maxGroups ?? DEFAULT_MAX_GROUPS;
    for (const c of correlations) {
      this.groups.set(c, new Map());
      this.counters.set(c, { evictedGroups: 0, fired: 0 });
      for (const id of c.members.keys()) {
        const list = this.byRule.get(id) ?? [];
        list.push(c);
        this.byRule.set(id, list);
      }
    }
  }

  /** Is this rule part of any correlation? */
  watches(ruleId: string): boolean {
    return this.byRule.has(ruleId);
  }

  /** A rule matched an event. */
  onMatch(ruleId: string, ctx: EvalContext): Detection[] {
    const list = this.byRule.get(ruleId);
    if (!list) return [];
    const ts = Date.parse(ctx.event["@timestamp"]);
    if (!Number.isFinite(ts)) return [];
    const out: Detection[] = [];
    for (const c of list) {
      const d = this.update(c, c.members.get(ruleId)!, ts, ctx);
      if (d) out.push(...d);
    }
    return out;
  }

  /** Stream time advanced to nowMs: close fixed windows that ended, forget expired groups. */
  tick(nowMs: number): Detection[] {
    const out: Detection[] = [];
    for (const c of this.correlations) {
      const groups = this.groups.get(c)!;
      for (const g of [...groups.values()]) {
        if (c.monotone) {
          if (g.last < nowMs - c.doc.timespanMs) groups.delete(g.key);
        } else if (g.windowStart + c.doc.timespanMs < nowMs) {
          const d = this.close(c, g);
          if (d) out.push(d);
          groups.delete(g.key);
        }
      }
    }
    return out;
  }

  stats(): Record<string, CorrelationStats> {
    const out: Record<string, CorrelationStats> = {};
    for (const c of this.correlations) out[c.ref.id] = { groups: this.groups.get(c)!.size, ...this.counters.get(c)! };
    return out;
  }

  private update(c: CompiledCorrelation, member: { index: number; groupBy: FieldAccessor[]; value?: FieldAccessor }, ts: number, ctx: EvalContext): Detection[] | undefined {
    const key = JSON.stringify(member.groupBy.map((a) => ctx.get(a)?.raw[0] ?? ""));
    const groups = this.groups.get(c)!;
    const span = c.doc.timespanMs;
    let g = groups.get(key);
    const out: Detection[] = [];
    if (g && !c.monotone && ts > g.windowStart + span) {
      const d = this.close(c, g);
      if (d) out.push(d);
      groups.delete(key);
      g = undefined;
    }
    if (!g) {
      g = { key, times: [], windowStart: ts, last: ts, count: 0, values: new Map(), seen: new Map(), events: [] };
      if (groups.size >= this.maxGroups) {
        // Least recently updated first (updates re-insert), so this drops the stalest group.
        groups.delete(groups.keys().next().value!);
        this.counters.get(c)!.evictedGroups++;
      }
    } else groups.delete(key);
    groups.set(key, g);
    g.last = Math.max(g.last, ts);
    const horizon = ts - span;
    g.events.push({ ts, event: ctx.event });
    if (g.events.length > EVENTS_KEPT) g.events.shift();
    if (c.monotone) while (g.events.length > 0 && g.events[0]!.ts < horizon) g.events.shift();

    let n: number;
    switch (c.doc.type) {
      case "event_count":
        if (c.monotone) {
          g.times.push(ts);
          while (g.times.length > 0 && g.times[0]! < horizon) g.times.shift();
          n = g.times.length;
        } else n = ++g.count;
        break;
      case "value_count": {
        const v = member.value ? ctx.get(member.value)?.raw[0] : undefined;
        if (v !== undefined) {
          g.values.delete(v);
          g.values.set(v, ts);
        }
        if (c.monotone) for (const [val, t] of g.values) {
          if (t >= horizon) break;
          g.values.delete(val);
        }
        n = g.values.size;
        break;
      }
      case "temporal":
        g.seen.set(member.index, ts);
        for (const [i, t] of g.seen) if (t < horizon) g.seen.delete(i);
        n = g.seen.size;
        break;
      case "temporal_ordered": {
        // seen[k]: the latest start time of a chain rules[0..k] in order; a later start leaves more of the window.
        const k = member.index;
        if (k === 0) g.seen.set(0, ts);
        else {
          const prev = g.seen.get(k - 1);
          if (prev !== undefined && prev >= horizon) g.seen.set(k, Math.max(g.seen.get(k) ?? -Infinity, prev));
        }
        const start = g.seen.get(c.members.size - 1);
        n = start !== undefined && start >= horizon ? c.members.size : 0;
        break;
      }
    }
    if (c.monotone && this.fires(c, n)) {
      out.push(this.detection(c, g, n));
      groups.delete(key);
    }
    return out;
  }

  private fires(c: CompiledCorrelation, n: number): boolean {
    // temporal types without a condition: every referenced rule must have matched.
    if (c.doc.thresholds.length === 0) return n >= c.members.size;
    return check(c.doc.thresholds, n);
  }

  private close(c: CompiledCorrelation, g: Group): Detection | undefined {
    const n = c.doc.type === "event_count" ? g.count : c.doc.type === "value_count" ? g.values.size : g.seen.size;
    return this.fires(c, n) ? this.detection(c, g, n) : undefined;
  }

  private detection(c: CompiledCorrelation, g: Group, n: number): Detection {
    this.counters.get(c)!.fired++;
    const what = c.doc.type === "value_count" ? `${n} distinct ${c.doc.field}` : c.doc.type === "event_count" ? `${n} events` : `${n} of ${c.members.size} rules`;
    const by = c.doc.groupBy.length > 0 ? ` for ${c.doc.groupBy.join(",")}=${g.key}` : "";
    return { rule: c.ref, severity: c.severity, events: g.events.map((x) => x.event), summary: `${c.doc.type}: ${what} within ${c.doc.timespanMs / 1000}s${by}` };
  }
}
