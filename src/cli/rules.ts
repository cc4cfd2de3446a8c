import type { Command } from "commander";
import { configLocator, loadAgentConfig } from "../agent/config.js";
import { createSigmaDetector } from "../detectors/sigma/detector.js";
import { describeExceptionProblem } from "../detectors/sigma/exceptions.js";
import { loadRules, summarize, type RuleReport } from "../detectors/sigma/ruleset.js";
import { printErr, writeSafe } from "../events/terminal.js";

export function registerRules(program: Command): void {
  const rules = program.command("rules").description("Sigma rules: check what hv can load and run");
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
}

function formatReport(r: RuleReport, brief: boolean): string {
  const what = r.title ? ` ${JSON.stringify(r.title)}` : "";
  const kind = r.kind === "rule" || r.kind === "document" ? "" : ` (${r.kind})`;
  const head = `${r.status.toUpperCase()} ${r.file}:${r.line}${what}${kind}`;
  const reason = (x: RuleReport["reasons"][number]): string => (x.field !== undefined ? `field '${x.field}': ${x.reason}` : x.reason);
  if (brief) return r.reasons.length > 0 ? `${head}: ${reason(r.reasons[0]!)}` : head;
  return [head, ...r.reasons.map((x) => `  line ${x.line}: ${reason(x)}`)].join("\n");
}
