// hv's hypervisor techniques under several audit rulesets, judged on real recordings
// (scripts/record-hv-rule-fixtures.sh → test/fixtures/audit/hv/RULESET/TAKE/NAME.log):
//
//   visible    the ruleset recorded the technique's evidence: a fact one of its rules declares
//              (hv.evidence) that the same take under hv's own rules shows was done, is in the log
//   alerted    one of the technique's rules fired on the log
//   predicted  `hv rules coverage` (the audit-rule model) says the ruleset records one of those
//              facts, put to it as the kernel saw them (syscall, arguments, paths, program, ids)
//
// test/detectors/hv-techniques.test.ts asserts alerted whenever visible, and predicted == visible;
// docs/hv-coverage.md is this file's table:
//
//   node dist/bench/hv-techniques.js                 # the table on stdout
//   node dist/bench/hv-techniques.js --write docs/hv-coverage.md
//
// The neo23x0 ruleset is read from ../shared/data (HV_SHARED_DATA); without it, its predictions
// are left out (the recordings themselves are committed).

import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { basename, join } from "node:path";
import { decodeAuditLines } from "../src/collectors/audit/decoder.js";
import { parseAuditRules, recordsProbe, type AuditRuleSet } from "../src/collectors/audit/rules.js";
import type { Detection } from "../src/events/alert.js";
import type { HvEvent } from "../src/events/event.js";
import { createSigmaDetector } from "../src/detectors/sigma/detector.js";
import { eventShows, evidenceOf, factOf, probesFromEvent, type EvidenceItem } from "../src/detectors/sigma/evidence.js";
import { loadRules, type RuleSet } from "../src/detectors/sigma/ruleset.js";
import { ROOT, SHARED } from "./data.js";

export const FIXTURES = join(ROOT, "test", "fixtures", "audit", "hv");
export const RULESETS = ["hv", "neo23x0", "stig"] as const;
export type RulesetName = (typeof RULESETS)[number];
const STIG_DIR = "/usr/share/doc/auditd/examples/rules";

/**
 * Recordings not made yet, as RULESET/TAKE/NAME (NAME * for the whole take): the tests leave them
 * out (and check they really are missing), docs/hv-coverage.md lists them.
 * `scripts/record-hv-rule-fixtures.sh --rulesets RULESET --takes TAKE [NAME…]` makes them.
 */
export const NOT_RECORDED: readonly string[] = [];

/**
 * The host facts the recordings were made with, for rules that read them (placeholders.ts): the
 * DNS takes run in a network namespace whose resolv.conf names 10.78.0.53
 * (scripts/hv-rule-scenarios.sh DNS_RESOLVER), whatever this host's own resolv.conf says.
 */
export const RECORDING_PLACEHOLDERS = { dns_resolvers: ["10.78.0.53"] };

/** rules/hv as the recordings are judged with. */
export function loadHvRules(): RuleSet {
  return loadRules([join(ROOT, "rules", "hv")], { placeholders: RECORDING_PLACEHOLDERS });
}

export function isNotRecorded(ruleset: string, take: string, name: string): boolean {
  return NOT_RECORDED.includes(`${ruleset}/${take}/${name}`) || NOT_RECORDED.includes(`${ruleset}/${take}/*`);
}

/** The audit rule text each recording was made with, where it can be read here. */
export function auditRuleSources(): Record<RulesetName, string[] | string> {
  const neo = join(SHARED, "audit-rulesets", "neo23x0-audit.rules");
  const stig = [join(STIG_DIR, "10-base-config.rules"), join(STIG_DIR, "30-stig.rules")];
  return {
    hv: [join(ROOT, "rules", "audit", "hv.rules")],
    neo23x0: existsSync(neo) ? [neo] : `${neo} not found (set HV_SHARED_DATA)`,
    stig: stig.every((f) => existsSync(f)) ? stig : `${STIG_DIR} not found (Debian package auditd)`,
  };
}

/** The rulesets as `hv rules coverage` reads them; a string says why one cannot be read here. */
export function loadAuditRulesets(): Record<RulesetName, AuditRuleSet | string> {
  const src = auditRuleSources();
  const read = (files: string[] | string): AuditRuleSet | string =>
    typeof files === "string" ? files : parseAuditRules(files.map((f) => readFileSync(f, "utf8")).join("\n"), files.map((f) => basename(f)).join(" + "));
  return { hv: read(src.hv), neo23x0: read(src.neo23x0), stig: read(src.stig) };
}

export interface Recording {
  ruleset: RulesetName;
  take: string;
  name: string;
  /** root, sudo or user (evidence.ts ACTORS) */
  actor: string;
  file: string;
}

export function readRecordings(): Recording[] {
  const tsv = readFileSync(join(FIXTURES, "recordings.tsv"), "utf8").trim().split("\n").slice(1);
  return tsv.map((line) => {
    const [ruleset, take, name, actor] = line.split("\t") as [RulesetName, string, string, string];
    return { ruleset, take, name, actor, file: join(FIXTURES, ruleset, take, `${name}.log`) };
  });
}

const decoded = new Map<string, HvEvent[]>();
export function eventsOf(file: string): HvEvent[] {
  let e = decoded.get(file);
  if (!e) {
    e = decodeAuditLines(readFileSync(file, "utf8").split("\n"));
    decoded.set(file, e);
  }
  return e;
}

export function detectionsOf(rules: RuleSet, events: HvEvent[]): Detection[] {
  const detector = createSigmaDetector({ rules });
  return events.flatMap((e) => detector.onEvent(e));
}

export interface Technique {
  name: string;
  /** rule file → its evidence items */
  rules: Map<string, EvidenceItem[]>;
}

/** Techniques from the rules' hv.technique, with each rule's evidence. */
export function techniquesOf(rules: RuleSet): Map<string, Technique> {
  const out = new Map<string, Technique>();
  for (const r of rules.rules) {
    const ev = evidenceOf(r.doc);
    if (!ev || typeof ev === "string" || !ev.technique) continue;
    const t = out.get(ev.technique) ?? { name: ev.technique, rules: new Map() };
    t.rules.set(basename(r.doc.file), ev.items);
    out.set(ev.technique, t);
  }
  return out;
}

export interface TechniqueResult {
  technique: string;
  ruleset: RulesetName;
  take: string;
  actor: string;
  /** Facts of the technique's evidence that the take did (seen under hv's own rules). */
  performed: string[];
  /** Of those, the ones this recording has. */
  recorded: string[];
  visible: boolean;
  /** The audit-rule model's answer for the performed facts, where the ruleset can be read. */
  predicted?: boolean;
  /** Facts where the model and the recording disagree. */
  mismatches: string[];
  alerted: boolean;
  /** Rule files that fired. */
  fired: string[];
}

/** Every technique × ruleset × take of the recordings. */
export function evaluateTechniques(rules: RuleSet, audit: Record<RulesetName, AuditRuleSet | string>, takes = ["a", "b"]): TechniqueResult[] {
  const techniques = techniquesOf(rules);
  const recordings = readRecordings().filter((r) => takes.includes(r.take) && techniques.has(r.name));
  const reference = new Map(recordings.filter((r) => r.ruleset === "hv").map((r) => [`${r.take}/${r.name}`, r]));
  const out: TechniqueResult[] = [];
  for (const rec of recordings) {
    const t = techniques.get(rec.name)!;
    const ref = reference.get(`${rec.take}/${rec.name}`);
    const events = eventsOf(rec.file);
    const refEvents = ref ? eventsOf(ref.file) : [];
    const performed = new Set<string>();
    const recorded = new Set<string>();
    const mismatches: string[] = [];
    let predicted: boolean | undefined = typeof audit[rec.ruleset] === "string" ? undefined : false;
    for (const [file, items] of t.rules) {
      for (const [i, item] of items.entries()) {
        const here = new Set(events.filter((e) => eventShows(item, e)).map((e) => factOf(item, e)));
        const seen = new Set<string>();
        for (const e of refEvents) {
          if (!eventShows(item, e)) continue;
          const fact = factOf(item, e);
          if (seen.has(fact)) continue;
          seen.add(fact);
          const key = `${file}#${i} ${fact}`;
          performed.add(key);
          const present = here.has(fact);
          if (present) recorded.add(key);
          const set = audit[rec.ruleset];
          if (typeof set === "string") continue;
          const probes = probesFromEvent(item, e);
          const model = probes.length > 0 && probes.every((p) => recordsProbe(set, p).recorded);
          if (model) predicted = true;
          if (model !== present) mismatches.push(`${key}: model says ${model ? "recorded" : "not recorded"}, the recording ${present ? "has it" : "does not"}`);
        }
      }
    }
    const fired = [...new Set(detectionsOf(rules, events).map((d) => basename(d.rule.file ?? "")).filter((f) => t.rules.has(f)))];
    out.push({
      technique: rec.name, ruleset: rec.ruleset, take: rec.take, actor: rec.actor,
      performed: [...performed], recorded: [...recorded], visible: recorded.size > 0,
      ...(predicted !== undefined && { predicted }), mismatches, alerted: fired.length > 0, fired,
    });
  }
  return out;
}

/** hv rules firing on the benign look-alikes: ruleset/family → rule files with counts. */
export function benignDetections(rules: RuleSet): Array<{ ruleset: string; family: string; fired: Detection[] }> {
  return readRecordings()
    .filter((r) => r.take === "benign")
    .map((r) => ({ ruleset: r.ruleset, family: r.name, fired: detectionsOf(rules, eventsOf(r.file)) }));
}

// ---------------------------------------------------------------------------------------------
// The table for docs/hv-coverage.md.

export function coverageTable(results: TechniqueResult[], take: string): string {
  const rows = new Map<string, Map<string, TechniqueResult>>();
  for (const r of results.filter((x) => x.take === take)) {
    const row = rows.get(r.technique) ?? new Map<string, TechniqueResult>();
    row.set(r.ruleset, r);
    rows.set(r.technique, row);
  }
  const cell = (r: TechniqueResult | undefined): string => {
    if (!r) return "—";
    const v = r.visible ? "visible" : "blind";
    const a = r.alerted ? "alerted" : "silent";
    return `${v} / ${a}${r.actor !== "root" ? ` (${r.actor})` : ""}`;
  };
  const lines = [`| technique | ${RULESETS.join(" | ")} |`, `|---|${RULESETS.map(() => "---").join("|")}|`];
  for (const [technique, row] of [...rows].sort()) lines.push(`| ${technique} | ${RULESETS.map((rs) => cell(row.get(rs))).join(" | ")} |`);
  return lines.join("\n");
}

export function summary(results: TechniqueResult[], take: string): string {
  const out: string[] = [];
  for (const rs of RULESETS) {
    const rows = results.filter((r) => r.ruleset === rs && r.take === take);
    const visible = rows.filter((r) => r.visible);
    out.push(
      `${rs}: ${rows.length} techniques, ${visible.length} visible, ${visible.filter((r) => r.alerted).length} of them alerted, ` +
        `${rows.filter((r) => r.alerted).length} alerted in all; coverage model ${rows.some((r) => r.predicted === undefined) ? "not run (ruleset unreadable here)" : `agrees on ${rows.filter((r) => r.mismatches.length === 0).length} of ${rows.length}`}`,
    );
  }
  return out.join("\n");
}

/** Technique → its rules: title, level, ATT&CK tags (from the rules themselves). */
export function catalogue(rules: RuleSet): string {
  const byTechnique = new Map<string, string[]>();
  for (const r of rules.rules) {
    const ev = evidenceOf(r.doc);
    if (!ev || typeof ev === "string" || !ev.technique) continue;
    const tags = r.doc.tags.filter((t) => /^attack\.t\d/.test(t)).map((t) => t.slice(7).toUpperCase()).join(", ");
    const row = `${r.doc.title} (\`${basename(r.doc.file)}\`, ${r.doc.level ?? "medium"}; ${tags})`;
    byTechnique.set(ev.technique, [...(byTechnique.get(ev.technique) ?? []), row]);
  }
  const lines = ["| technique | rules (file, level; ATT&CK) |", "|---|---|"];
  for (const [t, rows] of [...byTechnique].sort()) lines.push(`| ${t} | ${rows.join("<br>")} |`);
  return lines.join("\n");
}

function markdown(rules: RuleSet, results: TechniqueResult[]): string {
  return [
    "<!-- Generated by `node dist/bench/hv-techniques.js --write docs/hv-coverage.md` from test/fixtures/audit/hv; do not edit. -->",
    "# hv's hypervisor techniques under three audit rulesets",
    "",
    "Each technique was really done twice on a libvirt host (auditd 3.0.9, kernel 6.x, QEMU 7.2, libvirt 9.0), once per",
    "audit ruleset: hv's own (`rules/audit/hv.rules`), Florian Roth's Neo23x0 best-practice rules, and Debian's STIG",
    "example (`10-base-config.rules` + `30-stig.rules`). Take **b**, the evaluation set, used other tools and variants and",
    "mostly another actor than take **a**, on which the rules were written (scripts/hv-rule-scenarios.sh says what each did).",
    "",
    "- **visible**: the log has a fact the technique's rules declare as evidence (`hv.evidence`), one the same take under",
    "  hv's own rules shows was done; **blind**: it has none — no rule can fire, and `hv rules coverage` says so and",
    "  names the audit rule lines that would fix it.",
    "- **alerted**: one of the technique's rules fired on the log.",
    "- (sudo) / (user): the actor was a user who became root / an unprivileged libvirt-group member; otherwise root logged in.",
    "",
    `## The ${techniquesOf(rules).size} techniques and their rules`,
    "",
    catalogue(rules),
    "",
    ...(NOT_RECORDED.length > 0 ? [`Not recorded yet (— in the tables): ${NOT_RECORDED.map((r) => `\`${r}\``).join(", ")}.`, ""] : []),
    "## Evaluation set (take b)",
    "",
    summary(results, "b").split("\n").map((l) => `- ${l}`).join("\n"),
    "",
    coverageTable(results, "b"),
    "",
    "## Tuning set (take a)",
    "",
    summary(results, "a").split("\n").map((l) => `- ${l}`).join("\n"),
    "",
    coverageTable(results, "a"),
    "",
  ].join("\n");
}

if (process.argv[1] && /hv-techniques\.js$/.test(process.argv[1])) {
  const rules = loadHvRules();
  const results = evaluateTechniques(rules, loadAuditRulesets());
  const write = process.argv.indexOf("--write");
  if (write !== -1) {
    const file = process.argv[write + 1] ?? join(ROOT, "docs", "hv-coverage.md");
    writeFileSync(file, markdown(rules, results));
    process.stdout.write(`wrote ${file}\n`);
  }
  process.stdout.write(`${summary(results, "b")}\n\n${coverageTable(results, "b")}\n`);
  const bad = results.filter((r) => (r.visible && !r.alerted) || r.mismatches.length > 0);
  for (const r of bad) process.stdout.write(`! ${r.ruleset}/${r.take}/${r.technique}: ${r.visible && !r.alerted ? "visible but silent" : ""} ${r.mismatches.join("; ")}\n`);
  process.exitCode = bad.length > 0 ? 1 : 0;
}
