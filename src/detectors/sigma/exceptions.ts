// Exceptions from configuration (Falco-style, structured rather than rule edits):
//   { rule: "<id or title glob>", match: { <field>[|modifiers]: value | [values] }, comment }
// An alert the rule would raise is suppressed when the event matches every field of `match`
// (values OR'ed per field, the rule's own field names and Sigma modifiers; ECS dotted names
// work for every rule). Each exception counts what it suppressed.

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
});
export type ExceptionSpec = z.infer<typeof exceptionSchema>;

export interface ExceptionStats {
  rule: string;
  comment?: string;
  suppressed: number;
  /** Rules the exception names but cannot apply to (a field the rule's logsource lacks). */
  problems: string[];
}

export class Exceptions {
  private readonly entries: Array<{ spec: ExceptionSpec; glob: RegExp; stats: ExceptionStats; perRule: Map<string, Match | null> }>;

  constructor(specs: unknown[]) {
    this.entries = specs.map((raw, i) => {
      const r = exceptionSchema.safeParse(raw);
      if (!r.success) throw new Error(`exception ${i + 1}: ${r.error.issues.map((x) => `${x.path.join(".") || "(entry)"}: ${x.message}`).join("; ")}`);
      const spec = r.data;
      const stats: ExceptionStats = { rule: spec.rule, suppressed: 0, problems: [] };
      if (spec.comment !== undefined) stats.comment = spec.comment;
      return { spec, glob: globToRegExp(spec.rule), stats, perRule: new Map() };
    });
  }

  /** Would an exception suppress this rule's alert about this event? Counts the suppression. */
  suppresses(rule: CompiledRule, ctx: EvalContext): boolean {
    for (const e of this.entries) {
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
    const resolve = (f: string): ReturnType<CompiledRule["resolve"]> => {
      const r = rule.resolve(f);
      return "unsupported" in r && f.includes(".") ? ecsAccessor(f) : r;
    };
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
