import type { Command } from "commander";
import { configLocator, loadAgentConfig, shippedAuditRulesFile, shippedRulesDir } from "../agent/config.js";
import { loadedAuditRules, parseAuditRules, type AuditRuleSet } from "../collectors/audit/rules.js";
import { assessCoverage, readFixCatalogue, type CoverageReport, type RuleCoverage } from "../detectors/sigma/coverage.js";
import { createSigmaDetector } from "../detectors/sigma/detector.js";
import { ACTOR_TEXT } from "../detectors/sigma/evidence.js";
import { describeExceptionProblem } from "../detectors/sigma/exceptions.js";
import { readTextCapped } from "../events/input.js";
import { loadRules, summarize, type RuleReport } from "../detectors/sigma/ruleset.js";
import { printErr, writeSafe } from "../events/terminal.js";

export function registerRules(program: Command): void {
  const rules = program.command("rules").description("Sigma rules: check what hv can load and run, and whether the host's audit rules let them see anything");
  rules
    .command("check")
    .description("load Sigma rules (files or directories, recursively *.yml/*.yaml) and report every rule hv cannot run, and why")
    .argument("[paths...]", "rule files or directories (default: the config's rules)")
    .option("--config <file>", "also check the config's exceptions against the rules (and take its rules when no path is given)")
    .option("--json", "machine-readable report: every document with its status and reasons, then the summary")
    .option("--verbose", "also list every loaded rule")
    .addHelpText(
      "after",
      `
Statuses:
  loaded       compiled; an hv source produces its logsource
  dormant      compiled, but no hv source produces its logsource (counted within loaded)
  unsupported  valid Sigma that hv cannot evaluate, or cannot evaluate safely (unmapped field,
               unknown modifier, a regular expression with backreferences or lookarounds, …)
  invalid      not valid Sigma: YAML or schema errors, with file and line; also a rule whose id
               an earlier rule already has (duplicate: the first loaded is kept, naming both)
Each reason names its line and, for a detection item, its field.
Exit status: 0 when every rule loads (and every exception applies), 1 when any rule is
unsupported, invalid or a duplicate, or any exception is refused; 2 for unreadable input.

Examples:
  hv rules check rules/
  hv rules check ../shared/data/sigma/rules/linux
  hv rules check --config /etc/hv/hv.yaml          # the config's rules and exceptions
  hv rules check my-rule.yml --json | jq '.rules[] | select(.status != "loaded")'`,
    )
    .action((paths: string[], opts: { config?: string; json?: boolean; verbose?: boolean }) => {
      const usage = (message: string): void => {
        printErr(`hv rules check: ${message}`);
        process.exitCode = 2;
      };
      let config;
      let set;
      try {
        config = opts.config ? loadAgentConfig(opts.config) : undefined;
        const rulePaths = paths.length > 0 ? paths : (config?.rules ?? []);
        if (rulePaths.length === 0) return usage("give rule files or directories, or --config with a rules: list");
        set = loadRules(rulePaths);
      } catch (err) {
        return usage(err instanceof Error ? err.message : String(err));
      }
      const summary = summarize(set.report);
      const where = opts.config ? configLocator(opts.config) : undefined;
      const exceptions = (config?.exceptions ? createSigmaDetector({ rules: set, exceptions: config.exceptions }).exceptionProblems : []).map((p) => ({
        where: where!(["exceptions", p.index, ...p.path]),
        ...p,
        message: describeExceptionProblem(p),
      }));
      if (opts.json) {
        writeSafe(process.stdout, JSON.stringify({ rules: set.report, exceptions, summary: { ...summary, exceptionProblems: exceptions.length } }, null, 2) + "\n");
      } else {
        const lines: string[] = [];
        for (const status of ["invalid", "unsupported", "dormant"] as const) {
          for (const r of set.report.filter((x) => x.status === status)) lines.push(formatReport(r, status === "dormant"));
        }
        if (opts.verbose) for (const r of set.report.filter((x) => x.status === "loaded")) lines.push(formatReport(r, true));
        for (const e of exceptions) lines.push(`EXCEPTION ${e.where}: ${e.message}`);
        const dormant = summary.dormant > 0 ? ` (${summary.dormant} dormant)` : "";
        const duplicates = summary.duplicates > 0 ? ` (${summary.duplicates} duplicate ids)` : "";
        const refused = config ? `, ${exceptions.length} exceptions refused` : "";
        lines.push(`${summary.loaded} loaded${dormant}, ${summary.unsupported} unsupported, ${summary.invalid} invalid${duplicates}${refused}`);
        writeSafe(process.stdout, lines.join("\n") + "\n");
      }
      if (summary.unsupported + summary.invalid + exceptions.length > 0) process.exitCode = 1;
    });
  registerCoverage(rules);
}

interface CoverageOptions {
  auditRules?: string[];
  rules?: string[];
  config?: string;
  fixRules?: string;
  libvirt: boolean;
  json?: boolean;
  verbose?: boolean;
}

function registerCoverage(rules: Command): void {
  rules
    .command("coverage")
    .description("can this host's audit rules record what each detection needs? For every blind one: the audit rule lines that fix it, and what they record")
    .option("--audit-rules <files...>", "audit rules in auditctl syntax, read in order (a rules file, rules.d/*.rules, saved `auditctl -l`); default: the rules loaded now (auditctl -l, root)")
    .option("--rules <paths...>", "Sigma rule files or directories (default: the config's, else hv's shipped rules/hv)")
    .option("--config <file>", "YAML config (its rules:)")
    .option("--fix-rules <file>", "where fix lines come from (default: hv's rules/audit/hv.rules)")
    .option("--no-libvirt", "libvirt is not watched: rules that can use libvirt's events need audit evidence")
    .option("--json", "the whole report as JSON")
    .option("--verbose", "also list visible rules and every probe")
    .addHelpText(
      "after",
      `
Each detection declares its evidence (hv.evidence in the rule: programs started, syscalls,
files read or written, sockets, records the kernel writes on its own, libvirt events); rules
without it are judged by their logsource (process_creation needs program starts recorded, …).
Every piece of evidence is put to the audit rules as it would happen for four kinds of actor:
${Object.entries(ACTOR_TEXT).map(([k, v]) => `  ${k.padEnd(7)}${v}`).join("\n")}

Statuses:
  visible       one evidence item is recorded whole: the rule can fire
  partial       some of it is recorded (some programs, paths or actors only)
  blind         none of it is recorded: the rule can never fire on this host
  not-assessed  the rule declares no evidence and its logsource implies none (e.g. linux/auditd)
Exit status: 0 when nothing is blind, 1 when a detection is blind, 2 when input is unreadable.

Examples:
  hv rules coverage                                       # the rules loaded now (root)
  hv rules coverage --audit-rules /etc/audit/rules.d/*.rules
  hv rules coverage --audit-rules /usr/share/doc/auditd/examples/rules/10-base-config.rules \\
      /usr/share/doc/auditd/examples/rules/30-stig.rules --json | jq '.rules[] | select(.status == "blind") | .fix'
  auditctl -l > now.rules && hv rules coverage --audit-rules now.rules --rules rules/hv /path/to/sigma/rules/linux`,
    )
    .action(async (opts: CoverageOptions) => {
      process.exitCode = await runCoverage(opts);
    });
}

async function runCoverage(opts: CoverageOptions): Promise<number> {
  let report: CoverageReport;
  try {
    const audit = opts.auditRules ? readAuditRuleFiles(opts.auditRules) : await loadedAuditRules();
    if (typeof audit === "string") {
      printErr(`hv rules coverage: ${audit}; pass --audit-rules FILE`);
      return 2;
    }
    const sigmaPaths = opts.rules ?? (opts.config ? loadAgentConfig(opts.config).rules : undefined) ?? [shippedRulesDir()];
    report = coverageReport(audit, sigmaPaths, { fixRules: opts.fixRules ?? shippedAuditRulesFile(), libvirt: opts.libvirt });
  } catch (err) {
    printErr(`hv rules coverage: ${err instanceof Error ? err.message : String(err)}`);
    return 2;
  }
  if (opts.json) writeSafe(process.stdout, JSON.stringify(report, null, 2) + "\n");
  else writeSafe(process.stdout, formatCoverage(report, opts.verbose === true));
  return report.summary.blind > 0 ? 1 : 0;
}

/** Several files read in order, as auditctl -R would one after the other (augenrules concatenates them the same way). */
export function readAuditRuleFiles(files: string[]): AuditRuleSet {
  const text = files.map((f) => readTextCapped(f)).join("\n");
  const set = parseAuditRules(text, files.join(" + "));
  return set;
}

/** Coverage of the Sigma rules at `sigmaPaths` under `audit` (used by this command and by hv monitor's start-up check). */
export function coverageReport(audit: AuditRuleSet, sigmaPaths: string[], opts: { fixRules: string; libvirt: boolean }): CoverageReport {
  const fixes = readFixCatalogue(readTextCapped(opts.fixRules), opts.fixRules);
  return assessCoverage(loadRules(sigmaPaths), audit, { fixes, libvirt: opts.libvirt });
}

/** One line for hv monitor's start: how many detections are blind, and where to look. */
export function coverageWarning(report: CoverageReport): string | undefined {
  const s = report.summary;
  if (s.blind === 0 && s.partial === 0) return undefined;
  const blind = report.rules.filter((r) => r.status === "blind").slice(0, 3).map((r) => r.title);
  return `audit coverage (${report.auditRules}): ${s.blind} detections blind, ${s.partial} partial of ${report.rules.length}${blind.length ? ` (e.g. ${blind.join("; ")})` : ""} — see \`hv rules coverage\``;
}

function formatCoverage(report: CoverageReport, verbose: boolean): string {
  const out: string[] = [];
  if (report.auditProblems.length > 0) {
    out.push(`${report.auditProblems.length} audit rule lines not understood (ignored):`);
    for (const p of report.auditProblems) out.push(`  line ${p.line}: ${p.reason}: ${p.text}`);
  }
  const order = ["blind", "partial", "not-assessed", "visible"] as const;
  for (const status of order) {
    for (const r of report.rules.filter((x) => x.status === status)) {
      if ((status === "visible" || status === "not-assessed") && !verbose) continue;
      out.push(...formatRuleCoverage(r, verbose));
    }
  }
  const s = report.summary;
  out.push(`${report.rules.length} detections with ${report.auditRules}: ${s.visible} visible, ${s.partial} partial, ${s.blind} blind, ${s["not-assessed"]} not assessed`);
  return out.join("\n") + "\n";
}

function formatRuleCoverage(r: RuleCoverage, verbose: boolean): string[] {
  const out = [`${r.status.toUpperCase().padEnd(8)} ${r.title}${r.file ? ` (${r.file})` : ""}`];
  if (r.note) out.push(`         ${r.note}`);
  if (r.status === "partial") out.push(`         recorded for: ${r.visibleFor.length ? r.visibleFor.join(", ") : "none of the actors whole"}`);
  for (const item of r.items) {
    const seen = item.probes.filter((p) => p.recorded).length;
    out.push(`         ${item.visible ? "+" : seen > 0 ? "~" : "-"} ${item.evidence}: ${seen} of ${item.probes.length} recorded`);
    if (verbose) for (const p of item.probes) out.push(`             ${p.recorded ? "yes" : "no "} ${p.label}: ${p.why}`);
  }
  if (r.fix.length > 0) {
    out.push("         add:");
    for (const f of r.fix) out.push(`           ${f.line}`, `             records: ${f.records}`);
  }
  if (r.blockedBy) out.push(`         but this rule of yours comes first and suppresses it: ${r.blockedBy.join("; ")}`);
  return out;
}

function formatReport(r: RuleReport, brief: boolean): string {
  const what = r.title ? ` ${JSON.stringify(r.title)}` : "";
  const kind = r.kind === "rule" || r.kind === "document" ? "" : ` (${r.kind})`;
  const head = `${r.status.toUpperCase()} ${r.file}:${r.line}${what}${kind}`;
  const reason = (x: RuleReport["reasons"][number]): string => (x.field !== undefined ? `field '${x.field}': ${x.reason}` : x.reason);
  if (brief) return r.reasons.length > 0 ? `${head}: ${reason(r.reasons[0]!)}` : head;
  return [head, ...r.reasons.map((x) => `  line ${x.line}: ${reason(x)}`)].join("\n");
}
