// Can this host's audit rules record what each loaded detection needs? For every rule: its
// evidence (evidence.ts) as probes, each put to the host's audit rules (collectors/audit/rules.ts);
// visible when one evidence item is recorded whole, blind when nothing of it is, partial between.
// For what is missing, the lines of hv's own audit rules (rules/audit/hv.rules) that record it,
// and what each of those lines records (its block's "Records:" comment): the cost of adding it.

import { parseAuditRules, recordsProbe, type AuditRule, type AuditRuleSet } from "../../collectors/audit/rules.js";
import type { CompiledRule } from "./compile.js";
import { describeItem, evidenceOf, probesOf, type ActorName, type EvidenceItem, type Probe } from "./evidence.js";
import type { RuleSet } from "./ruleset.js";

export type CoverageStatus = "visible" | "partial" | "blind" | "not-assessed";

export interface ProbeResult {
  label: string;
  actor: ActorName;
  recorded: boolean;
  why: string;
}

export interface ItemCoverage {
  evidence: string;
  kind: EvidenceItem["kind"];
  /** Recorded whole (every program, path and actor it lists). */
  visible: boolean;
  probes: ProbeResult[];
}

export interface FixLine {
  line: string;
  /** What the line records (hv.rules' "Records:" comment of its block). */
  records: string;
}

export interface RuleCoverage {
  id: string;
  title: string;
  file?: string;
  level?: string;
  status: CoverageStatus;
  /** Where the evidence came from: the rule's hv.evidence, its logsource's default, or nowhere. */
  basis: "declared" | "logsource" | "none";
  /** Actors whose doing of it is recorded (some item, all its probes for that actor). */
  visibleFor: ActorName[];
  items: ItemCoverage[];
  /** For blind and partial rules: the lines to add for the first (cheapest) evidence item they complete. */
  fix: FixLine[];
  /** When a rule of the host's suppresses the evidence even with the fix lines appended. */
  blockedBy?: string[];
  note?: string;
}

export interface CoverageReport {
  auditRules: string;
  auditProblems: AuditRuleSet["problems"];
  libvirt: boolean;
  rules: RuleCoverage[];
  summary: Record<CoverageStatus, number>;
}

/** A line of hv's own audit rules and what it records. */
export interface FixCatalogueEntry {
  rule: AuditRule;
  records: string;
}

/** hv.rules with each line's "Records:" text (the comment lines starting `## Records:` of its block, joined). */
export function readFixCatalogue(text: string, source: string): FixCatalogueEntry[] {
  const set = parseAuditRules(text, source);
  const lines = text.split("\n");
  const recordsAt: string[] = [];
  let current = "";
  let collecting = false;
  for (const raw of lines) {
    const l = raw.trim();
    if (/^## --- /.test(l)) {
      current = "";
      collecting = false;
    } else if (/^## Records:/.test(l)) {
      current = l.replace(/^## Records:\s*/, "");
      collecting = true;
    } else if (collecting && /^## /.test(l)) current += ` ${l.slice(3)}`;
    else collecting = false;
    recordsAt.push(current);
  }
  return set.rules.map((rule) => ({ rule, records: recordsAt[rule.line - 1] || "(no Records: note in the block)" }));
}

export interface CoverageOptions {
  /** hv.rules as a fix catalogue (readFixCatalogue). */
  fixes: FixCatalogueEntry[];
  /** The libvirt collector runs (libvirt evidence is then visible without any audit rule). */
  libvirt: boolean;
}

export function assessCoverage(rules: RuleSet, audit: AuditRuleSet, opts: CoverageOptions): CoverageReport {
  const out = [...rules.rules, ...rules.dormant].map((r) => assessRule(r, audit, opts));
  const summary: Record<CoverageStatus, number> = { visible: 0, partial: 0, blind: 0, "not-assessed": 0 };
  for (const r of out) summary[r.status]++;
  return { auditRules: audit.source, auditProblems: audit.problems, libvirt: opts.libvirt, rules: out, summary };
}

function assessRule(rule: CompiledRule, audit: AuditRuleSet, opts: CoverageOptions): RuleCoverage {
  const head = { id: rule.ref.id, title: rule.ref.title, ...(rule.ref.file && { file: rule.ref.file }), ...(rule.ref.level && { level: rule.ref.level }) };
  const ev = evidenceOf(rule.doc);
  if (ev === undefined) return { ...head, status: "not-assessed", basis: "none", visibleFor: [], items: [], fix: [], note: "no audit evidence declared (hv.evidence) and none implied by its logsource" };
  if (typeof ev === "string") return { ...head, status: "not-assessed", basis: "declared", visibleFor: [], items: [], fix: [], note: ev };
  const items = ev.items.map((item) => assessItem(item, audit, opts.libvirt));
  const actors = new Set<ActorName>();
  for (const [i, item] of ev.items.entries()) {
    if (item.kind === "libvirt") {
      if (items[i]!.visible) for (const a of ["root", "sudo", "user", "daemon"] as const) actors.add(a);
      continue;
    }
    for (const a of item.actors) if (items[i]!.probes.filter((p) => p.actor === a).every((p) => p.recorded)) actors.add(a);
  }
  const anyVisible = items.some((i) => i.visible);
  const anyRecorded = items.some((i) => i.visible || i.probes.some((p) => p.recorded));
  const status: CoverageStatus = anyVisible ? "visible" : anyRecorded ? "partial" : "blind";
  const result: RuleCoverage = { ...head, status, basis: ev.declared ? "declared" : "logsource", visibleFor: [...actors], items, fix: [] };
  if (status !== "visible") Object.assign(result, firstFix(ev.items, audit, opts.fixes));
  return result;
}

function assessItem(item: EvidenceItem, audit: AuditRuleSet, libvirt: boolean): ItemCoverage {
  const base = { evidence: describeItem(item), kind: item.kind };
  if (item.kind === "libvirt") {
    return { ...base, visible: libvirt, probes: [{ label: "libvirt event stream", actor: "daemon", recorded: libvirt, why: libvirt ? "the libvirt collector watches libvirt's events" : "libvirt is not watched (--no-libvirt)" }] };
  }
  const probes = probesOf(item).map((p) => ({ label: p.label, actor: p.actor, ...verdict(audit, p) }));
  return { ...base, visible: probes.every((p) => p.recorded), probes };
}

function verdict(audit: AuditRuleSet, p: Probe): { recorded: boolean; why: string } {
  const v = recordsProbe(audit, p.probe);
  return { recorded: v.recorded, why: v.why };
}

/**
 * hv.rules' lines for the first evidence item they can complete: rules list their evidence
 * cheapest first (a watch on one directory before every program start).
 */
function firstFix(items: EvidenceItem[], audit: AuditRuleSet, fixes: FixCatalogueEntry[]): Pick<RuleCoverage, "fix" | "blockedBy"> {
  for (const item of items) {
    if (item.kind === "libvirt") continue;
    const missing = probesOf(item).filter((p) => !recordsProbe(audit, p.probe).recorded);
    const chosen: FixCatalogueEntry[] = [];
    for (const p of missing) {
      if (chosen.some((c) => recordsProbe(single(c.rule, audit.paths), p.probe).recorded)) continue;
      const entry = fixes.find((c) => recordsProbe(single(c.rule, audit.paths), p.probe).recorded);
      if (entry) chosen.push(entry);
    }
    if (missing.some((p) => !chosen.some((c) => recordsProbe(single(c.rule, audit.paths), p.probe).recorded))) continue;
    // Appended after the host's own rules, a never rule of theirs may still win.
    const withFix: AuditRuleSet = { ...audit, rules: [...audit.rules, ...chosen.map((c) => c.rule)] };
    const blocked = [...new Set(missing.map((p) => recordsProbe(withFix, p.probe)).filter((v) => !v.recorded && v.rule).map((v) => v.rule!.text))];
    return { fix: chosen.map((c) => ({ line: c.rule.text, records: c.records })), ...(blocked.length > 0 && { blockedBy: blocked }) };
  }
  return { fix: [] };
}

function single(rule: AuditRule, paths: AuditRuleSet["paths"]): AuditRuleSet {
  return { source: "", rules: [rule], enabled: 1, problems: [], paths };
}
