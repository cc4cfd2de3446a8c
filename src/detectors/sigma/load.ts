// Reading Sigma YAML: files and directories (recursively, *.yml / *.yaml), single and
// multi-document, into plain rule, correlation and filter documents. Every problem names the
// file and line: YAML syntax errors from the parser, schema errors through the YAML node at the
// offending path, and each detection item keeps its line for later (unsupported field/modifier).

import { isMap, isScalar, isSeq, type Document, type Node } from "yaml";
import { z } from "zod";
import type { Logsource } from "./mapping.js";
import type { SigmaValue } from "./modifiers.js";
import { parseDuration } from "../../events/duration.js";
import { readYamlDocuments, readYamlFile, yamlFiles, type YamlDocument } from "../../events/yaml.js";

/** `Field|mod|mod: values`; no field = a keyword search. */
export interface DetectionItem {
  field?: string;
  modifiers: string[];
  values: SigmaValue[];
  line: number;
}

/** A named search: OR of alternatives, each an AND of items. */
export interface Search {
  name: string;
  line: number;
  alternatives: DetectionItem[][];
}

interface DocBase {
  file: string;
  line: number;
  title: string;
  id?: string;
  name?: string;
}

export interface RuleDoc extends DocBase {
  kind: "rule";
  status?: string;
  level?: string;
  description?: string;
  tags: string[];
  logsource: Logsource;
  searches: Search[];
  /** Several conditions (a YAML list) are OR'ed. */
  conditions: string[];
  conditionLine: number;
  /** hv's own section (`hv:`), as written: read by evidence.ts (what audit must record for the rule). */
  hv?: { value: unknown; line: number };
}

export type CorrelationType = "event_count" | "value_count" | "temporal" | "temporal_ordered";
export type CountOp = "gt" | "gte" | "lt" | "lte" | "eq" | "neq";

export interface CorrelationDoc extends DocBase {
  kind: "correlation";
  level?: string;
  description?: string;
  tags: string[];
  type: CorrelationType;
  rules: string[];
  groupBy: string[];
  timespanMs: number;
  /** Thresholds (AND'ed); empty for temporal types means "all referenced rules". */
  thresholds: Array<{ op: CountOp; value: number }>;
  /** value_count: the field whose distinct values are counted. */
  field?: string;
  generate: boolean;
  /** alias → rule name/id → field name. */
  aliases: Record<string, Record<string, string>>;
}

export interface FilterDoc extends DocBase {
  kind: "filter";
  rules: string[];
  logsource: Logsource;
  searches: Search[];
  conditions: string[];
  conditionLine: number;
}

/** A document hv could not read: bad YAML, schema errors, or a legacy collection. */
export interface ProblemDoc {
  kind: "invalid" | "unsupported";
  file: string;
  line: number;
  reason: string;
  title?: string;
  id?: string;
}

export type SigmaDoc = RuleDoc | CorrelationDoc | FilterDoc | ProblemDoc;

const LEVELS = ["informational", "low", "medium", "high", "critical"] as const;
const STATUSES = ["stable", "test", "experimental", "deprecated", "unsupported"] as const;
const strList = z.array(z.string());
const logsourceSchema = z.looseObject({
  product: z.string().optional(),
  category: z.string().optional(),
  service: z.string().optional(),
  definition: z.string().optional(),
});
const meta = {
  title: z.string().min(1).max(256),
  id: z.string().min(1).optional(),
  name: z.string().min(1).optional(),
  status: z.enum(STATUSES).optional(),
  description: z.string().optional(),
  level: z.enum(LEVELS).optional(),
  tags: strList.optional(),
  falsepositives: z.union([z.array(z.union([z.string(), z.number()])), z.string()]).optional(),
  fields: strList.optional(),
};
const conditionSchema = z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]);
const ruleSchema = z.looseObject({
  ...meta,
  logsource: logsourceSchema,
  detection: z.looseObject({ condition: conditionSchema }),
});
const correlationSchema = z.looseObject({
  ...meta,
  generate: z.boolean().optional(),
  correlation: z.looseObject({
    type: z.enum(["event_count", "value_count", "temporal", "temporal_ordered"]),
    rules: z.union([z.string(), strList.min(1)]),
    "group-by": z.union([z.string(), strList]).optional(),
    timespan: z.string().refine((s) => parseDuration(s) !== undefined, "timespan must be a number followed by ms, s, m, h, d or w"),
    condition: z
      .looseObject({
        field: z.string().optional(),
        gt: z.number().optional(),
        gte: z.number().optional(),
        lt: z.number().optional(),
        lte: z.number().optional(),
        eq: z.number().optional(),
        neq: z.number().optional(),
      })
      .optional(),
    generate: z.boolean().optional(),
    aliases: z.record(z.string(), z.record(z.string(), z.string())).optional(),
  }),
});
const filterSchema = z.looseObject({
  ...meta,
  logsource: logsourceSchema,
  filter: z.looseObject({ rules: z.union([z.string(), strList.min(1)]), condition: conditionSchema }),
});

/** Every *.yml / *.yaml under the paths (files given directly are read whatever their name). */
export const ruleFiles = yamlFiles;

export function loadDocs(paths: string[]): SigmaDoc[] {
  const out: SigmaDoc[] = [];
  for (const file of ruleFiles(paths)) {
    const read = readYamlFile(file);
    if ("problem" in read) out.push({ kind: "invalid", file, line: 0, reason: read.problem });
    else out.push(...parseDocs(read.text, file));
  }
  return out;
}

/** All documents of one YAML text. */
export function parseDocs(text: string, file: string): SigmaDoc[] {
  const out: SigmaDoc[] = [];
  let legacy = false;
  for (const y of readYamlDocuments(text)) {
    if ("problems" in y) {
      out.push({ kind: "invalid", file, line: y.problems[0]!.line, reason: y.problems[0]!.reason });
      continue;
    }
    const data = y.data;
    if (!data || typeof data !== "object" || Array.isArray(data)) {
      out.push({ kind: "invalid", file, line: y.line, reason: "a Sigma document must be a YAML map" });
      continue;
    }
    const obj = data as Record<string, unknown>;
    const action = obj.action;
    if (action === "global" || action === "repeat" || action === "reset" || legacy) {
      // Sigma 1's multi-document collections merge documents; SigmaHQ no longer ships them.
      legacy = true;
      out.push({ kind: "unsupported", file, line: y.line, title: str(obj.title), id: str(obj.id), reason: `legacy multi-document collection (action: ${String(action ?? "continuation of global")}); split it into separate rules` });
      continue;
    }
    out.push(toDoc(y, obj, file));
  }
  return out;
}

const str = (v: unknown): string | undefined => (typeof v === "string" ? v : undefined);

function toDoc(y: YamlDocument, obj: Record<string, unknown>, file: string): SigmaDoc {
  const { doc, lineOf, lineAt, line: start } = y;
  const base = { file, title: str(obj.title), id: str(obj.id) };
  const invalid = (issues: z.core.$ZodIssue[]): ProblemDoc => {
    const first = issues[0]!;
    const where = first.path.length ? first.path.map(String).join(".") : "(document)";
    return { kind: "invalid", ...base, line: lineAt(first.path), reason: `${where}: ${first.message}` };
  };

  if ("correlation" in obj) {
    const r = correlationSchema.safeParse(obj);
    if (!r.success) return invalid(r.error.issues);
    const c = r.data.correlation;
    const thresholds = (["gt", "gte", "lt", "lte", "eq", "neq"] as const).flatMap((op) => (c.condition?.[op] === undefined ? [] : [{ op, value: c.condition[op] }]));
    if ((c.type === "event_count" || c.type === "value_count") && thresholds.length === 0) {
      return { kind: "invalid", ...base, line: lineAt(["correlation", "condition"]), reason: `correlation.condition: ${c.type} needs a threshold (gt, gte, lt, lte, eq, neq)` };
    }
    if (c.type === "value_count" && !c.condition?.field) return { kind: "invalid", ...base, line: lineAt(["correlation", "condition"]), reason: "correlation.condition.field: value_count needs the field whose values are counted" };
    const groupBy = c["group-by"];
    return {
      kind: "correlation",
      ...base,
      title: r.data.title,
      name: r.data.name,
      line: start,
      level: r.data.level,
      description: r.data.description,
      tags: r.data.tags ?? [],
      type: c.type,
      rules: typeof c.rules === "string" ? [c.rules] : c.rules,
      groupBy: groupBy === undefined ? [] : typeof groupBy === "string" ? [groupBy] : groupBy,
      timespanMs: parseDuration(c.timespan)!,
      thresholds,
      field: c.condition?.field,
      generate: c.generate ?? r.data.generate ?? false,
      aliases: c.aliases ?? {},
    };
  }

  if ("filter" in obj) {
    const r = filterSchema.safeParse(obj);
    if (!r.success) return invalid(r.error.issues);
    const searches = readSearches(doc, ["filter"], new Set(["rules", "condition"]), lineOf);
    if (typeof searches === "string") return { kind: "invalid", ...base, line: lineAt(["filter"]), reason: searches };
    if ("problem" in searches) return { kind: "invalid", ...base, line: searches.line, reason: searches.problem };
    const f = r.data.filter;
    return {
      kind: "filter",
      ...base,
      title: r.data.title,
      name: r.data.name,
      line: start,
      rules: typeof f.rules === "string" ? [f.rules] : f.rules,
      logsource: pickLogsource(r.data.logsource),
      searches: searches.searches,
      conditions: typeof f.condition === "string" ? [f.condition] : f.condition,
      conditionLine: lineAt(["filter", "condition"]),
    };
  }

  const r = ruleSchema.safeParse(obj);
  if (!r.success) return invalid(r.error.issues);
  const searches = readSearches(doc, ["detection"], new Set(["condition", "timeframe"]), lineOf);
  if (typeof searches === "string") return { kind: "invalid", ...base, line: lineAt(["detection"]), reason: searches };
  if ("problem" in searches) return { kind: "invalid", ...base, line: searches.line, reason: searches.problem };
  const d = r.data;
  return {
    kind: "rule",
    ...base,
    title: d.title,
    name: d.name,
    line: start,
    status: d.status,
    level: d.level,
    description: d.description,
    tags: d.tags ?? [],
    logsource: pickLogsource(d.logsource),
    searches: searches.searches,
    conditions: typeof d.detection.condition === "string" ? [d.detection.condition] : d.detection.condition,
    conditionLine: lineAt(["detection", "condition"]),
    ...(obj.hv !== undefined && { hv: { value: obj.hv, line: lineAt(["hv"]) } }),
  };
}

function pickLogsource(ls: z.infer<typeof logsourceSchema>): Logsource {
  const out: Logsource = {};
  if (ls.product !== undefined) out.product = ls.product;
  if (ls.category !== undefined) out.category = ls.category;
  if (ls.service !== undefined) out.service = ls.service;
  return out;
}

type SearchResult = { searches: Search[] } | { problem: string; line: number };

/** The named searches under `path` (detection: or filter:), skipping the reserved keys. */
function readSearches(doc: Document, path: string[], reserved: Set<string>, lineOf: (o: number | undefined) => number): SearchResult | string {
  const node = doc.getIn(path, true);
  if (!isMap(node)) return `${path.join(".")} must be a map of named searches and a condition`;
  const searches: Search[] = [];
  for (const pair of node.items) {
    const key = isScalar(pair.key) ? String(pair.key.value) : undefined;
    const line = lineOf((pair.key as Node | null)?.range?.[0]);
    if (key === undefined) return { problem: "search names must be plain strings", line };
    if (reserved.has(key)) continue;
    const value = pair.value as Node | null;
    const alternatives = readSearch(value, line, lineOf);
    if (typeof alternatives === "string") return { problem: `search '${key}': ${alternatives}`, line };
    if ("problem" in alternatives) return { problem: `search '${key}': ${alternatives.problem}`, line: alternatives.line };
    searches.push({ name: key, line, alternatives: alternatives.alternatives });
  }
  return { searches };
}

type ReadResult = { alternatives: DetectionItem[][] } | { problem: string; line: number };

function readSearch(node: Node | null, line: number, lineOf: (o: number | undefined) => number): ReadResult | string {
  if (isMap(node)) {
    const items = readMap(node, lineOf);
    return "problem" in items ? items : { alternatives: [items.items] };
  }
  if (isScalar(node)) {
    const v = scalar(node);
    return { alternatives: [[{ modifiers: [], values: [v], line }]] };
  }
  if (isSeq(node)) {
    const alternatives: DetectionItem[][] = [];
    const keywords: SigmaValue[] = [];
    let keywordLine = line;
    for (const el of node.items as Array<Node | null>) {
      const elLine = lineOf(el?.range?.[0]);
      if (isMap(el)) {
        const items = readMap(el, lineOf);
        if ("problem" in items) return items;
        alternatives.push(items.items);
      } else if (isScalar(el)) {
        if (keywords.length === 0) keywordLine = elLine;
        keywords.push(scalar(el));
      } else return { problem: "a list element must be a map or a plain value", line: elLine };
    }
    if (keywords.length > 0) alternatives.push([{ modifiers: [], values: keywords, line: keywordLine }]);
    if (alternatives.length === 0) return "an empty search";
    return { alternatives };
  }
  return "a search must be a map, a list of maps, or a list of keywords";
}

function readMap(node: Node, lineOf: (o: number | undefined) => number): { items: DetectionItem[] } | { problem: string; line: number } {
  const items: DetectionItem[] = [];
  if (!isMap(node)) return { problem: "expected a map", line: lineOf(node.range?.[0]) };
  for (const pair of node.items) {
    const line = lineOf((pair.key as Node | null)?.range?.[0]);
    if (!isScalar(pair.key)) return { problem: "field names must be plain strings", line };
    const [field, ...modifiers] = String(pair.key.value).split("|");
    const v = pair.value as Node | null;
    let values: SigmaValue[];
    if (v === null || isScalar(v)) values = [v === null ? null : scalar(v)];
    else if (isSeq(v)) {
      values = [];
      for (const el of v.items as Array<Node | null>) {
        if (el !== null && !isScalar(el)) return { problem: `field '${field}': values must be plain values or a list of them`, line: lineOf(el.range?.[0]) };
        values.push(el === null ? null : scalar(el));
      }
    } else return { problem: `field '${field}': values must be plain values or a list of them`, line };
    const item: DetectionItem = { modifiers, values, line };
    if (field) item.field = field;
    items.push(item);
  }
  return { items };
}

function scalar(node: Node): SigmaValue {
  if (!isScalar(node)) return null;
  const v = node.value;
  if (v === null || v === undefined) return null;
  if (typeof v === "number") return { num: v, text: node.source ?? String(v) };
  if (typeof v === "boolean") return v;
  return String(v);
}
