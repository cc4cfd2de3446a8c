// Load + compile a set of rule files: the compiled rules, correlations and filters, and a
// report line for every document (loaded, dormant, unsupported or invalid, and exactly why).

import { compileFilter, compileRule, type CompiledFilter, type CompiledRule, type CompileOptions, type Reason } from "./compile.js";
import { compileCorrelation, type CompiledCorrelation } from "./correlation.js";
import { loadDocs, parseDocs, type SigmaDoc } from "./load.js";
import { describeLogsource } from "./mapping.js";
import { hostPlaceholders } from "./placeholders.js";

export type RuleStatus = "loaded" | "dormant" | "unsupported" | "invalid";

export interface RuleReport {
  file: string;
  line: number;
  kind: "rule" | "correlation" | "filter" | "document";
  status: RuleStatus;
  title?: string;
  id?: string;
  logsource?: string;
  /** Why it is dormant, unsupported or invalid (each with the line it is about). */
  reasons: Reason[];
  /** Refused because an earlier document has its id or name: that one's `file:line`. */
  duplicateOf?: string;
}

export interface RuleSet {
  /** Rules whose logsource an hv source produces. */
  rules: CompiledRule[];
  /** Rules that compiled but that no hv source can feed. */
  dormant: CompiledRule[];
  correlations: CompiledCorrelation[];
  filters: CompiledFilter[];
  report: RuleReport[];
}

/** Files and directories (recursively: *.yml, *.yaml). */
export function loadRules(paths: string[], options: CompileOptions = {}): RuleSet {
  return compileDocs(loadDocs(paths), options);
}

/** One YAML text (tests, configuration snippets). */
export function loadRulesFromText(text: string, file = "<text>", options: CompileOptions = {}): RuleSet {
  return compileDocs(parseDocs(text, file), options);
}

/** Placeholders: the host's own (placeholders.ts), then the given ones over them. */
export function compileDocs(docs: SigmaDoc[], given: CompileOptions = {}): RuleSet {
  const options: CompileOptions = { ...given, placeholders: { ...hostPlaceholders(), ...given.placeholders } };
  const set: RuleSet = { rules: [], dormant: [], correlations: [], filters: [], report: [] };
  const byRef = new Map<string, CompiledRule>();
  const claims = new Map<string, string>();
  const later: Array<() => void> = [];
  for (const doc of docs) {
    const head = { file: doc.file, line: doc.line, ...(doc.title !== undefined && { title: doc.title }), ...(doc.id !== undefined && { id: doc.id }) };
    if (doc.kind === "invalid" || doc.kind === "unsupported") {
      set.report.push({ ...head, kind: "document", status: doc.kind, reasons: [{ line: doc.line, reason: doc.reason }] });
      continue;
    }
    // One id (or name), one document: merging two would lose one's detection or severity. The
    // first loaded (files in sorted order) keeps it; a later one is refused, naming both places.
    const clash = claimClash(claims, doc);
    if (clash) {
      set.report.push({ ...head, kind: doc.kind, status: "invalid", reasons: [{ line: doc.line, reason: clash.reason }], duplicateOf: clash.first });
      continue;
    }
    if (doc.kind === "rule") {
      const r = compileRule(doc, options);
      const logsource = describeLogsource(doc.logsource);
      if (r.status === "loaded" || r.status === "dormant") {
        (r.status === "loaded" ? set.rules : set.dormant).push(r.rule);
        if (doc.id) byRef.set(doc.id, r.rule);
        if (doc.name) byRef.set(doc.name, r.rule);
        set.report.push({ ...head, kind: "rule", status: r.status, logsource, reasons: r.status === "dormant" ? [{ line: doc.line, reason: r.reason }] : [] });
      } else set.report.push({ ...head, kind: "rule", status: r.status, logsource, reasons: r.reasons });
    } else if (doc.kind === "filter") {
      const r = compileFilter(doc, options);
      if ("filter" in r) {
        set.filters.push(r.filter);
        set.report.push({ ...head, kind: "filter", status: "loaded", logsource: describeLogsource(doc.logsource), reasons: [] });
      } else set.report.push({ ...head, kind: "filter", status: r.status, reasons: r.reasons });
    } else if (doc.kind === "correlation") {
      // Correlations may name rules defined later in the same set.
      const entry: RuleReport = { ...head, kind: "correlation", status: "loaded", reasons: [] };
      set.report.push(entry);
      const cdoc = doc;
      later.push(() => {
        const c = compileCorrelation(cdoc, byRef);
        if (typeof c === "string") {
          entry.status = "unsupported";
          entry.reasons.push({ line: cdoc.line, reason: c });
          return;
        }
        set.correlations.push(c);
        const dormant = [...c.members.keys()].every((id) => set.dormant.some((r) => r.ref.id === id));
        if (dormant) {
          entry.status = "dormant";
          entry.reasons.push({ line: cdoc.line, reason: "every rule it correlates is dormant" });
        }
      });
    }
  }
  for (const f of later) f();
  return set;
}

/** Claims the document's id and name; if an earlier document holds either, why it is refused. */
function claimClash(claims: Map<string, string>, doc: { id?: string; name?: string; title?: string; file: string; line: number }): { first: string; reason: string } | undefined {
  // A rule with neither is known by file and title (ruleRef), so that pair must be unique too.
  const keys: Array<[string, string]> = [];
  if (doc.id !== undefined) keys.push(["id", doc.id]);
  if (doc.name !== undefined) keys.push(["name", doc.name]);
  if (keys.length === 0) keys.push(["title", doc.title ?? ""]);
  for (const [what, value] of keys) {
    const first = claims.get(`${what}:${what === "title" ? doc.file + ":" : ""}${value}`);
    if (first) return { first, reason: `duplicate ${what} '${value}': already defined at ${first}, which is kept (the first loaded wins); this one is refused` };
  }
  for (const [what, value] of keys) claims.set(`${what}:${what === "title" ? doc.file + ":" : ""}${value}`, `${doc.file}:${doc.line}`);
  return undefined;
}

export interface ReportSummary {
  loaded: number;
  dormant: number;
  unsupported: number;
  invalid: number;
  /** Documents refused for an id or name an earlier one has (counted within invalid). */
  duplicates: number;
}

export function summarize(report: RuleReport[]): ReportSummary {
  const s: ReportSummary = { loaded: 0, dormant: 0, unsupported: 0, invalid: 0, duplicates: 0 };
  for (const r of report) {
    if (r.status === "dormant") {
      s.loaded++;
      s.dormant++;
    } else s[r.status]++;
    if (r.duplicateOf !== undefined) s.duplicates++;
  }
  return s;
}
