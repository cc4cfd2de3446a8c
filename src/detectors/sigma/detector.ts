// The Sigma detector: rules indexed by logsource (an event only meets the rules whose source
// selects it), each rule behind a literal prefilter (a rule whose CommandLine must contain "wget"
// is not evaluated for an event whose command line has no "wget"; prefilter.ts), then filters,
// exceptions, correlations.

import type { Detection, Detector } from "../../events/alert.js";
import type { HvEvent } from "../../events/event.js";
import type { CompiledFilter, CompiledRule } from "./compile.js";
import { EvalContext } from "./context.js";
import { CorrelationEngine, type CorrelationStats } from "./correlation.js";
import { Exceptions, type ExceptionProblem, type ExceptionStats } from "./exceptions.js";
import { keywordText, type Source } from "./mapping.js";
import { Prefilter, RuleIndex, type Clauses } from "./prefilter.js";
import type { RuleSet } from "./ruleset.js";

export interface SigmaDetectorOptions {
  rules: RuleSet;
  /** Exception entries from configuration (validated against the rules; see exceptions.ts). */
  exceptions?: unknown[];
  /** Skip rules whose required literal is absent from the event (default true; off only to measure). */
  prefilter?: boolean;
  /** Per correlation rule. */
  maxGroups?: number;
}

export interface SigmaStats {
  events: number;
  rules: number;
  /** Rule × event pairs whose logsource selected the event. */
  candidates: number;
  /** Candidates skipped by the literal prefilter. */
  prefiltered: number;
  /** Rule conditions actually evaluated. */
  evaluations: number;
  matches: number;
  detections: number;
  suppressedByException: number;
  suppressedByFilter: number;
  perRule: Array<{ id: string; title: string; evaluations: number; matches: number }>;
  exceptions: ExceptionStats[];
  filters: Array<{ title: string; suppressed: number }>;
  correlations: Record<string, CorrelationStats>;
}

interface Slot {
  rule: CompiledRule;
  evaluations: number;
  matches: number;
  filters: Array<{ filter: CompiledFilter; counter: { suppressed: number } }>;
  /** Literal clauses the event must satisfy (prefilter.ts); undefined = no prefilter for this rule. */
  need?: Clauses;
  /** Referenced by a correlation without `generate: true`: feeds it, raises nothing alone. */
  correlationOnly: boolean;
}

export interface SigmaDetector extends Detector {
  stats(): SigmaStats;
  /** Exceptions refused at load (each an error: where in the configured list, and why). */
  exceptionProblems: ExceptionProblem[];
  /** Exceptions that start applying now (learned ones applied while hv runs). */
  addExceptions(specs: unknown[]): void;
}

export function createSigmaDetector(options: SigmaDetectorOptions): SigmaDetector {
  const prefilter = options.prefilter ?? true;
  const exceptions = new Exceptions(options.exceptions ?? [], [...options.rules.rules, ...options.rules.dormant]);
  const engine = new CorrelationEngine(options.rules.correlations, options.maxGroups === undefined ? {} : { maxGroups: options.maxGroups });
  const generated = new Set(options.rules.correlations.filter((c) => c.doc.generate).flatMap((c) => [...c.members.keys()]));
  const filterCounters = options.rules.filters.map((filter) => ({ filter, counter: { suppressed: 0 } }));

  const literals = new Prefilter();
  const buckets = new Map<Source, Slot[]>();
  const slots: Slot[] = [];
  for (const rule of options.rules.rules) {
    if (!rule.source) continue;
    const refs = [rule.ref.id, rule.doc.id, rule.doc.name].filter((x): x is string => x !== undefined);
    const slot: Slot = {
      rule,
      evaluations: 0,
      matches: 0,
      filters: filterCounters.filter((f) => f.filter.doc.rules.some((r) => refs.includes(r))),
      correlationOnly: engine.watches(rule.ref.id) && !generated.has(rule.ref.id),
    };
    if (rule.need !== null) slot.need = rule.need.map((clause) => literals.add(clause));
    slots.push(slot);
    const list = buckets.get(rule.source) ?? [];
    list.push(slot);
    buckets.set(rule.source, list);
  }
  literals.build();
  const bucketList = [...buckets.entries()].map(([source, list]) => ({ source, slots: list, index: new RuleIndex(literals, list.map((s) => s.need)) }));
  const picked: number[] = [];
  const c = { events: 0, candidates: 0, prefiltered: 0, evaluations: 0, matches: 0, detections: 0, suppressedByException: 0, suppressedByFilter: 0 };

  const onEvent = (event: HvEvent): Detection[] => {
    c.events++;
    const ctx = new EvalContext(event, keywordText);
    // Without the prefilter every rule is evaluated in full (no literal gate on its tests either).
    if (prefilter) literals.next(ctx);
    const out: Detection[] = [];
    for (const { source, slots: list, index } of bucketList) {
      if (!source.applies(event)) continue;
      c.candidates += list.length;
      const n = prefilter ? index.candidates(picked) : list.length;
      c.prefiltered += list.length - n;
      for (let k = 0; k < n; k++) {
        const slot = list[prefilter ? picked[k]! : k]!;
        c.evaluations++;
        slot.evaluations++;
        if (!slot.rule.match(ctx)) continue;
        c.matches++;
        slot.matches++;
        // A Sigma filter's condition must also hold for the rule's alert to stand.
        const failed = slot.filters.find((f) => !f.filter.match(ctx));
        if (failed) {
          failed.counter.suppressed++;
          c.suppressedByFilter++;
          continue;
        }
        if (exceptions.suppresses(slot.rule, ctx)) {
          c.suppressedByException++;
          continue;
        }
        out.push(...engine.onMatch(slot.rule.ref.id, ctx));
        if (slot.correlationOnly) continue;
        out.push({ rule: slot.rule.ref, severity: slot.rule.severity, events: [event], summary: summaryOf(slot.rule, event) });
      }
    }
    c.detections += out.length;
    return out;
  };

  return {
    name: "sigma",
    exceptionProblems: exceptions.problems,
    onEvent,
    addExceptions: (specs) => exceptions.add(specs),
    tick(nowMs: number): Detection[] {
      const out = engine.tick(nowMs);
      c.detections += out.length;
      return out;
    },
    stats(): SigmaStats {
      return {
        ...c,
        rules: slots.length,
        perRule: slots.map((s) => ({ id: s.rule.ref.id, title: s.rule.ref.title, evaluations: s.evaluations, matches: s.matches })),
        exceptions: exceptions.stats(),
        filters: filterCounters.map((f) => ({ title: f.filter.doc.title, suppressed: f.counter.suppressed })),
        correlations: engine.stats(),
      };
    },
  };
}

function summaryOf(rule: CompiledRule, e: HvEvent): string {
  const what = e.process?.command_line ?? e.process?.executable ?? e.file?.path ?? e.destination?.ip ?? e.event.action;
  return `${rule.ref.title}: ${what.length > 200 ? what.slice(0, 200) + "…" : what}`;
}
