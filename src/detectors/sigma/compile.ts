// A loaded rule document → one closure over the per-event context (compiled once, never
// re-interpreted per event), the literals a matching event must contain, and its logsource.

import { SEVERITIES, type RuleRef, type Severity } from "../../events/alert.js";
import { checkReferences, ConditionError, expandPattern, parseCondition, type Cond } from "./condition.js";
import type { EvalContext, FieldAccessor } from "./context.js";
import type { FilterDoc, RuleDoc, Search } from "./load.js";
import { describeLogsource, permissiveResolve, resolveLogsource, type Logsource, type Source } from "./mapping.js";
import { allOf, anyOf, compileFieldTest, type CompileEnv, type Requirement } from "./modifiers.js";

export type Match = (ctx: EvalContext) => boolean;
export type Resolve = (field: string) => FieldAccessor | { unsupported: string };

export interface CompiledRule {
  doc: RuleDoc;
  ref: RuleRef;
  severity: Severity;
  /** Undefined for dormant rules (no hv source produces their logsource). */
  source?: Source;
  match: Match;
  /** Literal clauses the event must satisfy, or the rule cannot match (null: no such requirement). */
  need: Requirement;
  /** The rule's field names → accessors (exceptions and correlations use the rule's names). */
  resolve: Resolve;
}

export interface Reason {
  line: number;
  /** The detection item's field (with its modifiers, as written) the reason is about. */
  field?: string;
  reason: string;
}

export type CompileResult =
  | { status: "loaded"; rule: CompiledRule }
  | { status: "dormant"; rule: CompiledRule; reason: string }
  | { status: "unsupported"; reasons: Reason[] }
  | { status: "invalid"; reasons: Reason[] };

export interface CompileOptions {
  placeholders?: Record<string, string[]>;
}

export function severityOf(level: string | undefined): Severity {
  return SEVERITIES.includes(level as Severity) ? (level as Severity) : "medium";
}

export function ruleRef(doc: RuleDoc | { id?: string; name?: string; title: string; file: string; level?: string; tags: string[]; description?: string }): RuleRef {
  const ref: RuleRef = { id: doc.id ?? doc.name ?? `${doc.file}:${doc.title}`, title: doc.title, source: "sigma", tags: doc.tags, file: doc.file };
  if (doc.level !== undefined) ref.level = doc.level;
  if (doc.description !== undefined) ref.description = doc.description;
  return ref;
}

/** The resolver a logsource gives its rules: mapped, or permissive for dormant ones. */
export function resolverFor(ls: Logsource): { source?: Source; resolve: Resolve; dormant?: string } {
  const r = resolveLogsource(ls);
  if (r.kind === "mapped") return { source: r.source, resolve: r.source.resolve };
  return { resolve: permissiveResolve, dormant: r.reason };
}

export function compileRule(doc: RuleDoc, options: CompileOptions = {}): CompileResult {
  const { source, resolve, dormant } = resolverFor(doc.logsource);
  const body = compileDetection(doc.searches, doc.conditions, doc.conditionLine, { resolve, placeholders: options.placeholders });
  if ("status" in body) return body;
  const rule: CompiledRule = { doc, ref: ruleRef(doc), severity: severityOf(doc.level), match: body.match, need: body.need, resolve };
  if (source) rule.source = source;
  if (dormant !== undefined) return { status: "dormant", rule, reason: dormant };
  return { status: "loaded", rule };
}

/** A Sigma filter (a condition AND'ed onto the rules it names), compiled against its logsource. */
export interface CompiledFilter {
  doc: FilterDoc;
  match: Match;
}

export function compileFilter(doc: FilterDoc, options: CompileOptions = {}): { filter: CompiledFilter } | { status: "unsupported" | "invalid"; reasons: Reason[] } {
  const { resolve } = resolverFor(doc.logsource);
  const body = compileDetection(doc.searches, doc.conditions, doc.conditionLine, { resolve, placeholders: options.placeholders });
  if ("status" in body) return body;
  return { filter: { doc, match: body.match } };
}

type Body = { match: Match; need: Requirement } | { status: "unsupported" | "invalid"; reasons: Reason[] };

export function compileDetection(searches: Search[], conditions: string[], conditionLine: number, env: CompileEnv): Body {
  const names = searches.map((s) => s.name);
  const trees: Cond[] = [];
  for (const c of conditions) {
    try {
      const tree = parseCondition(c);
      checkReferences(tree, names);
      trees.push(tree);
    } catch (err) {
      if (err instanceof ConditionError) {
        const status = /deprecated|not supported/.test(err.message) ? "unsupported" : "invalid";
        return { status, reasons: [{ line: conditionLine, reason: `condition: ${err.message}` }] };
      }
      throw err;
    }
  }
  const compiled = new Map<string, { match: Match; need: Requirement }>();
  const reasons: Reason[] = [];
  for (const s of searches) {
    const alts: Array<{ match: Match; need: Requirement }> = [];
    for (const items of s.alternatives) {
      const tests: Array<{ match: Match; need: Requirement }> = [];
      for (const item of items) {
        const t = compileFieldTest(item.field, item.modifiers, item.values, env);
        if ("unsupported" in t) reasons.push({ line: item.line, ...(item.field !== undefined && { field: [item.field, ...item.modifiers].join("|") }), reason: t.unsupported });
        else tests.push({ match: t.test, need: t.need });
      }
      alts.push(and(tests));
    }
    compiled.set(s.name, or(alts));
  }
  if (reasons.length > 0) {
    const seen = new Set<string>();
    return { status: "unsupported", reasons: reasons.filter((r) => !seen.has(`${r.field}\0${r.reason}`) && seen.add(`${r.field}\0${r.reason}`)) };
  }
  const build = (c: Cond): { match: Match; need: Requirement } => {
    switch (c.op) {
      case "id":
        return compiled.get(c.name)!;
      case "not": {
        const inner = build(c.arg).match;
        return { match: (ctx) => !inner(ctx), need: null };
      }
      case "and":
        return and(c.args.map(build));
      case "or":
        return or(c.args.map(build));
      case "of": {
        const parts = expandPattern(c.pattern, names).map((n) => compiled.get(n)!);
        return c.all ? and(parts) : or(parts);
      }
    }
  };
  return or(trees.map(build));
}

function and(parts: Array<{ match: Match; need: Requirement }>): { match: Match; need: Requirement } {
  if (parts.length === 1) return parts[0]!;
  const ms = parts.map((p) => p.match);
  return { match: (ctx) => ms.every((m) => m(ctx)), need: allOf(parts.map((p) => p.need)) };
}

function or(parts: Array<{ match: Match; need: Requirement }>): { match: Match; need: Requirement } {
  if (parts.length === 1) return parts[0]!;
  const ms = parts.map((p) => p.match);
  return { match: (ctx) => ms.some((m) => m(ctx)), need: anyOf(parts.map((p) => p.need)) };
}

export { describeLogsource };
