// Exceptions from configuration (Falco-style, structured rather than rule edits):
//   { rule: "<id or title glob>", match: { <field>[|modifiers]: value | [values] }, comment }
// An alert the rule would raise is suppressed when the event matches every field of `match`
// (values OR'ed per field, the rule's own field names and Sigma modifiers; ECS dotted names
// work for every rule). Each exception counts what it suppressed. An exception with `expires` (an
// ISO time) stops applying to events after it; `source: learned` marks one hv learned (hv tune).

import { z } from "zod";
import type { CompiledRule, Match } from "./compile.js";
import type { EvalContext } from "./context.js";
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
});
export type ExceptionSpec = z.infer<typeof exceptionSchema>;

export interface ExceptionStats {
  rule: string;
  comment?: string;
  source: "config" | "learned";
  id?: number;
  expires?: string;
  suppressed: number;
  /** Rules the exception names but cannot apply to (a field the rule's logsource lacks). */
  problems: string[];
}

export class Exceptions {
  private readonly entries: Array<{ spec: ExceptionSpec; glob: RegExp; stats: ExceptionStats; perRule: Map<string, Match | null>; expiresMs: number }> = [];

  constructor(specs: unknown[]) {
    this.add(specs);
  }

  /** More exceptions (learned ones applied while running); validated as the configured ones. */
  add(specs: unknown[]): void {
    const base = this.entries.length;
    for (const [i, raw] of specs.entries()) {
      const r = exceptionSchema.safeParse(raw);
      if (!r.success) throw new Error(`exception ${base + i + 1}: ${r.error.issues.map((x) => `${x.path.join(".") || "(entry)"}: ${x.message}`).join("; ")}`);
      const spec = r.data;
      const stats: ExceptionStats = { rule: spec.rule, source: spec.source ?? "config", suppressed: 0, problems: [] };
      if (spec.comment !== undefined) stats.comment = spec.comment;
      if (spec.id !== undefined) stats.id = spec.id;
      if (spec.expires !== undefined) stats.expires = spec.expires;
      const expiresMs = spec.expires === undefined ? Infinity : Date.parse(spec.expires);
      this.entries.push({ spec, glob: globToRegExp(spec.rule), stats, perRule: new Map(), expiresMs });
    }
  }

  /** Would an exception suppress this rule's alert about this event? Counts the suppression. */
  suppresses(rule: CompiledRule, ctx: EvalContext): boolean {
    for (const e of this.entries) {
      if (e.expiresMs !== Infinity && !(Date.parse(ctx.event["@timestamp"]) < e.expiresMs)) continue;
      let m = e.perRule.get(rule.ref.id);
      if (m === undefined) {
        m = e.glob.test(rule.ref.id) || e.glob.test(rule.ref.title) ? this.compile(e.spec, rule, e.stats) : null;
        e.perRule.set(rule.ref.id, m);
      }
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

  private compile(spec: ExceptionSpec, rule: CompiledRule, stats: ExceptionStats): Match | null {
    const tests: Match[] = [];
    // A dotted name is always the event's ECS field: no Sigma field name has a dot, and the raw
    // audit logsource would otherwise look for a record field called "process.executable".
    const resolve = (f: string): ReturnType<CompiledRule["resolve"]> => (f.includes(".") ? ecsAccessor(f) : rule.resolve(f));
    for (const [key, raw] of Object.entries(spec.match)) {
      const [field, ...mods] = key.split("|");
      const values = (Array.isArray(raw) ? raw : [raw]).map(toSigma);
      const t = compileFieldTest(field || undefined, mods, values, { resolve });
      if ("unsupported" in t) {
        stats.problems.push(`${rule.ref.id}: ${t.unsupported}`);
        return null;
      }
      tests.push(t.test);
    }
    return (ctx) => tests.every((t) => t(ctx));
  }
}

function toSigma(v: string | number | boolean | null): SigmaValue {
  return typeof v === "number" ? { num: v, text: String(v) } : v;
}

export function globToRegExp(glob: string): RegExp {
  const body = glob.replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*").replace(/\?/g, ".");
  return new RegExp(`^${body}$`, "i");
}
