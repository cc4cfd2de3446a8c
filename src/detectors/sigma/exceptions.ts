// Exceptions from configuration (Falco-style, structured rather than rule edits):
//   { rule: "<id or title glob>", match: { <field>[|modifiers]: value | [values] }, comment }
// An alert the rule would raise is suppressed when the event matches every field of `match`
// (values OR'ed per field, the rule's own field names and Sigma modifiers; ECS dotted names
// work for every rule). Each exception counts what it suppressed. An exception with `expires` (an
// ISO time) stops applying to events after it; `source: learned` marks one hv learned (hv tune).

import { z } from "zod";
import type { CompiledRule, Match } from "./compile.js";
import type { EvalContext } from "./context.js";
import { globTest } from "../../events/glob.js";
import { ecsAccessor } from "./mapping.js";
import { compileFieldTest, type SigmaValue } from "./modifiers.js";

const scalar = z.union([z.string(), z.number(), z.boolean(), z.null()]);
export const exceptionSchema = z.object({
  rule: z.string().min(1),
  match: z.record(z.string(), z.union([scalar, z.array(scalar)])).refine((m) => Object.keys(m).length > 0, "match needs at least one field"),
  comment: z.string().optional(),
  /** ISO time after which the exception no longer applies (event time). */
  expires: z.string().refine((t) => !Number.isNaN(Date.parse(t)), "must be an ISO time such as 2027-01-31T00:00:00Z").optional(),
  /** Where it came from: the configuration (default) or learning (hv tune; `id` is its store id). */
  source: z.enum(["config", "learned"]).optional(),
  id: z.number().int().optional(),
}).strict();
export type ExceptionSpec = z.infer<typeof exceptionSchema>;

export interface ExceptionStats {
  rule: string;
  comment?: string;
  source: "config" | "learned";
  id?: number;
  expires?: string;
  suppressed: number;
  /** Why the exception is not applied (to some or all of its rules). */
  problems: string[];
}

/**
 * An exception hv refuses: its entry's place in the list (the configured ones first, then those
 * added later, e.g. learned ones applied while hv runs), the path inside the entry
 * (`["match", "CommandLine|re"]`; empty for the whole entry) and why. A refused exception
 * suppresses nothing: an exception with a field dropped would suppress more than was written.
 */
export interface ExceptionProblem {
  index: number;
  path: Array<string | number>;
  reason: string;
}

export class Exceptions {
  /** Every exception refused at load, with where and why. */
  readonly problems: ExceptionProblem[] = [];
  private readonly entries: Array<{ stats: ExceptionStats; perRule: Map<CompiledRule, Match>; expiresMs: number }> = [];
  private added = 0;

  /** `rules`: every rule an exception may name (dormant ones too: naming one is no mistake). */
  constructor(
    specs: unknown[],
    private readonly rules: CompiledRule[],
  ) {
    this.add(specs);
  }

  /** More exceptions (learned ones applied while hv runs), checked as the configured ones. */
  add(specs: unknown[]): void {
    const base = this.added;
    this.added += specs.length;
    const rules = this.rules;
    specs.forEach((raw, i) => {
      const index = base + i;
      const r = exceptionSchema.safeParse(raw);
      if (!r.success) {
        for (const x of r.error.issues) this.problems.push({ index, path: x.path.map((k) => (typeof k === "number" ? k : String(k))), reason: x.message });
        return;
      }
      const spec = r.data;
      const stats: ExceptionStats = { rule: spec.rule, source: spec.source ?? "config", suppressed: 0, problems: [] };
      if (spec.comment !== undefined) stats.comment = spec.comment;
      if (spec.id !== undefined) stats.id = spec.id;
      if (spec.expires !== undefined) stats.expires = spec.expires;
      const problem = (path: Array<string | number>, reason: string): void => {
        this.problems.push({ index, path, reason });
        stats.problems.push(path.length > 0 ? `${path.join(".")}: ${reason}` : reason);
      };
      const perRule = new Map<CompiledRule, Match>();
      this.entries.push({ stats, perRule, expiresMs: spec.expires === undefined ? Infinity : Date.parse(spec.expires) });
      const named = globTest(spec.rule);
      const targets = rules.filter((rule) => named(rule.ref.id) || named(rule.ref.title));
      if (targets.length === 0) return problem(["rule"], `no rule has the id or title '${spec.rule}'`);
      // Each field must make sense for at least one of the rules; the exception applies to the
      // rules for which every field does.
      const compiled = new Map<CompiledRule, Match[]>(targets.map((rule) => [rule, []]));
      let refused = false;
      for (const [key, raw] of Object.entries(spec.match)) {
        const [field, ...mods] = key.split("|");
        const values = (Array.isArray(raw) ? raw : [raw]).map(toSigma);
        let reason: string | undefined;
        let fits = 0;
        for (const rule of targets) {
          const t = compileFieldTest(field || undefined, mods, values, { resolve: exceptionResolver(rule) });
          if ("unsupported" in t) {
            reason ??= t.unsupported;
            compiled.delete(rule);
          } else {
            fits++;
            compiled.get(rule)?.push(t.test);
          }
        }
        if (fits === 0) {
          problem(["match", key], reason!);
          refused = true;
        }
      }
      if (!refused && compiled.size === 0) problem(["match"], `none of the ${targets.length} rules named has all of these fields`);
      if (refused || compiled.size === 0) return;
      for (const [rule, tests] of compiled) perRule.set(rule, (ctx) => tests.every((t) => t(ctx)));
    });
  }

  /** Would an exception suppress this rule's alert about this event? Counts the suppression. */
  suppresses(rule: CompiledRule, ctx: EvalContext): boolean {
    for (const e of this.entries) {
      if (e.expiresMs !== Infinity && !(Date.parse(ctx.event["@timestamp"]) < e.expiresMs)) continue;
      const m = e.perRule.get(rule);
      if (m && m(ctx)) {
        e.stats.suppressed++;
        return true;
      }
    }
    return false;
  }

  stats(): ExceptionStats[] {
    return this.entries.map((e) => ({ ...e.stats, problems: [...e.stats.problems] }));
  }
}

/** The rule's own field names, and ECS dotted names for every rule. */
function exceptionResolver(rule: CompiledRule): CompiledRule["resolve"] {
  return (f) => {
    const r = rule.resolve(f);
    return "unsupported" in r && f.includes(".") ? ecsAccessor(f) : r;
  };
}

/** `exception 2 (match.CommandLine|re): why` — the caller puts the config file and line before it. */
export function describeExceptionProblem(p: ExceptionProblem): string {
  return `exception ${p.index + 1}${p.path.length > 0 ? ` (${p.path.join(".")})` : ""}: ${p.reason}`;
}

function toSigma(v: string | number | boolean | null): SigmaValue {
  return typeof v === "number" ? { num: v, text: String(v) } : v;
}
