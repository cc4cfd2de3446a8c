import type { Command } from "commander";
import { loadRules, summarize, type RuleReport } from "../detectors/sigma/ruleset.js";
import { writeSafe } from "../events/terminal.js";

export function registerRules(program: Command): void {
  const rules = program.command("rules").description("Sigma rules: check what hv can load and run");
  rules
    .command("check")
    .description("load Sigma rules (files or directories, recursively *.yml/*.yaml) and report every rule hv cannot run, and why")
    .argument("<paths...>", "rule files or directories")
    .option("--json", "machine-readable report: every document with its status and reasons, then the summary")
    .option("--verbose", "also list every loaded rule")
    .addHelpText(
      "after",
      `
Statuses:
  loaded       compiled; an hv source produces its logsource
  dormant      compiled, but no hv source produces its logsource (counted within loaded)
  unsupported  valid Sigma that hv cannot evaluate (unmapped field, unknown modifier, …)
  invalid      not valid Sigma: YAML or schema errors, with file and line
Exit status: 0 when every rule loads, 1 when any is unsupported or invalid.

Examples:
  hv rules check rules/
  hv rules check ../shared/data/sigma/rules/linux
  hv rules check my-rule.yml --json | jq '.rules[] | select(.status != "loaded")'`,
    )
    .action((paths: string[], opts: { json?: boolean; verbose?: boolean }) => {
      const set = loadRules(paths);
      const summary = summarize(set.report);
      if (opts.json) {
        writeSafe(process.stdout, JSON.stringify({ rules: set.report, summary }, null, 2) + "\n");
      } else {
        const lines: string[] = [];
        for (const status of ["invalid", "unsupported", "dormant"] as const) {
          for (const r of set.report.filter((x) => x.status === status)) lines.push(formatReport(r, status === "dormant"));
        }
        if (opts.verbose) for (const r of set.report.filter((x) => x.status === "loaded")) lines.push(formatReport(r, true));
        const dormant = summary.dormant > 0 ? ` (${summary.dormant} dormant)` : "";
        lines.push(`${summary.loaded} loaded${dormant}, ${summary.unsupported} unsupported, ${summary.invalid} invalid`);
        writeSafe(process.stdout, lines.join("\n") + "\n");
      }
      if (summary.unsupported + summary.invalid > 0) process.exitCode = 1;
    });
}

function formatReport(r: RuleReport, brief: boolean): string {
  const what = r.title ? ` ${JSON.stringify(r.title)}` : "";
  const kind = r.kind === "rule" || r.kind === "document" ? "" : ` (${r.kind})`;
  const head = `${r.status.toUpperCase()} ${r.file}:${r.line}${what}${kind}`;
  if (brief) return r.reasons.length > 0 ? `${head}: ${r.reasons[0]!.reason}` : head;
  return [head, ...r.reasons.map((x) => `  line ${x.line}: ${x.reason}`)].join("\n");
}
