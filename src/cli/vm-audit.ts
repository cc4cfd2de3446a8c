// `hv vm audit`: risky settings in domain XML, from libvirt or from files.
import { InvalidArgumentError, Option, type Command } from "commander";
import { parseSeverity, SEVERITY_NAMES_HELP } from "../events/alert.js";
import { auditXml, DomainXmlError, isRiskSeverity, RISK_SEVERITIES, severityRank, summarize, type AuditSummary, type DomainReport, type RiskSeverity } from "../vm/risk.js";
import { readDomainXml, readXmlFile, type XmlInput } from "../vm/risk-source.js";
import { resolveUri } from "../vm/virsh.js";
import { LineWriter } from "./output.js";
import { terminalSafe, writeSafe } from "../events/terminal.js";

export interface VmAuditOptions {
  names: string[];
  files?: string[];
  uri: string;
  json?: boolean;
  failOn?: string;
  minSeverity?: string;
}

export interface VmAuditReport {
  domains: DomainReport[];
  summary: AuditSummary;
  skipped: { source: string; reason: string }[];
  errors: { source: string; error: string }[];
}

export function registerVmAudit(vmCommand: Command): void {
  vmCommand
    .command("audit")
    .description("report risky settings in domain XML (passthrough, security labels, exposed consoles, shared folders, …)")
    .argument("[names...]", "domains to audit (default: every domain libvirt knows; with --file: only these domains from the files)")
    .option("--file <path...>", "audit domain XML files instead of libvirt (repeatable)")
    .option("--uri <uri>", "libvirt connection URI (default $HV_LIBVIRT_URI or qemu:///system)", resolveUri())
    .option("--json", "print { domains, summary, skipped, errors } as JSON")
    .addOption(new Option("--fail-on <severity>", `exit 1 when a finding at or above this severity exists (${SEVERITY_NAMES_HELP})`).argParser(riskSeverityArg))
    .addOption(new Option("--min-severity <severity>", "hide findings below this severity").argParser(riskSeverityArg).default("info"))
    .addHelpText(
      "after",
      `
Severities: critical (host root or host data directly), high, medium, low, info.
Exit status: 0, or 1 on an error or when --fail-on finds a finding at or above its level.

Examples:
  hv vm audit                                  every domain on qemu:///system
  hv vm audit web-1 db-1 --min-severity medium
  hv vm audit --file guest.xml --json
  hv vm audit web-1 --file all-domains.xml     (NAMEs go before --file, which takes several paths)
  hv vm audit --uri qemu+ssh://root@host2/system --fail-on high   (in a CI pipeline)`,
    )
    .action(async (names: string[], opts: { file?: string[]; uri: string; json?: boolean; failOn?: string; minSeverity?: string }) => {
      const out = new LineWriter();
      const code = await runVmAudit({ names, files: opts.file, uri: opts.uri, json: opts.json, failOn: opts.failOn, minSeverity: opts.minSeverity }, out, colourFor(process.stdout));
      await out.end();
      if (code !== 0) process.exitCode = code;
    });
}

/** A severity flag: any name hv knows for a severity (med, crit, informational, …), as a finding's severity. */
function riskSeverityArg(text: string): RiskSeverity {
  const s = parseSeverity(text);
  if (s === undefined) throw new InvalidArgumentError(`one of ${SEVERITY_NAMES_HELP}`);
  return s === "informational" ? "info" : s;
}

/** Audits, prints, and returns the exit code. Throws when nothing could be audited at all. */
export async function runVmAudit(opts: VmAuditOptions, out: { line(text: string): void; lineAsIs?(text: string): void; flushSync?(): void }, colour = false, warn: (msg: string) => void = (m) => writeSafe(process.stderr, `hv: ${m}\n`)): Promise<number> {
  if (opts.failOn !== undefined && !isRiskSeverity(opts.failOn)) throw new Error(`--fail-on must be one of ${RISK_SEVERITIES.join(", ")}`);
  const min = opts.minSeverity ?? "info";
  if (!isRiskSeverity(min)) throw new Error(`--min-severity must be one of ${RISK_SEVERITIES.join(", ")}`);

  const report = await collect(opts);
  for (const d of report.domains) d.findings = d.findings.filter((f) => severityRank(f.severity) >= severityRank(min));
  report.summary = summarize(report.domains);

  if (opts.json) out.line(JSON.stringify(report));
  // formatReport escapes every value itself, so its colour codes can go out as they are.
  else {
    for (const l of formatReport(report, colour)) {
      if (colour && out.lineAsIs) out.lineAsIs(l);
      else out.line(l);
    }
  }
  out.flushSync?.(); // the report first, then the notes and errors on stderr
  if (!opts.json) {
    for (const s of report.skipped) warn(`note: ${s.source} skipped: ${s.reason}`);
    for (const e of report.errors) warn(`${e.source}: ${e.error}`);
  }
  if (report.errors.length > 0) return 1;
  if (opts.failOn && report.domains.some((d) => d.findings.some((f) => severityRank(f.severity) >= severityRank(opts.failOn as RiskSeverity)))) return 1;
  return 0;
}

async function collect(opts: VmAuditOptions): Promise<VmAuditReport> {
  const report: VmAuditReport = { domains: [], summary: summarize([]), skipped: [], errors: [] };
  let inputs: XmlInput[] = [];
  if (opts.files && opts.files.length > 0) {
    for (const f of opts.files) {
      try {
        inputs.push(await readXmlFile(f));
      } catch (err) {
        report.errors.push({ source: f, error: err instanceof Error ? err.message : String(err) });
      }
    }
  } else {
    inputs = await readDomainXml(opts.uri, opts.names); // a libvirt failure fails the command
  }
  const wanted = opts.files && opts.names.length > 0 ? new Set(opts.names) : undefined;
  const found = new Set<string>();
  for (const input of inputs) {
    try {
      const doc = auditXml(input.xml, input.source);
      if (doc.skipped) report.skipped.push({ source: input.source, reason: doc.skipped });
      for (const d of doc.domains) {
        found.add(d.name);
        if (!wanted || wanted.has(d.name)) report.domains.push(d);
        for (const e of d.errors) report.errors.push({ source: input.source, error: `check failed on ${d.name}: ${e}` });
      }
    } catch (err) {
      if (!(err instanceof DomainXmlError)) throw err;
      report.errors.push({ source: input.source, error: err.message });
    }
  }
  for (const n of wanted ?? []) if (!found.has(n)) report.errors.push({ source: opts.files!.join(", "), error: `no domain named ${JSON.stringify(n)} in the files` });
  return report;
}

const COLOURS: Record<RiskSeverity, string> = { critical: "\x1b[1;97;41m", high: "\x1b[1;31m", medium: "\x1b[33m", low: "\x1b[36m", info: "\x1b[2m" };

function colourFor(stream: NodeJS.WriteStream): boolean {
  return stream.isTTY === true && !process.env.NO_COLOR && process.env.TERM !== "dumb";
}

/** Human output: findings grouped by domain, most severe first, each with its fix. */
export function formatReport(report: VmAuditReport, colour: boolean): string[] {
  const paint = (s: RiskSeverity, text: string): string => (colour ? `${COLOURS[s]}${text}\x1b[0m` : text);
  const lines: string[] = [];
  const checkWidth = Math.max(0, ...report.domains.flatMap((d) => d.findings.map((f) => f.check.length)));
  const safe = terminalSafe;
  for (const d of report.domains) {
    lines.push(`${safe(d.name)}${d.source ? `  (${safe(d.source)})` : ""}`);
    if (d.findings.length === 0) lines.push("  no findings");
    for (const f of d.findings) {
      lines.push(`  ${paint(f.severity, f.severity.toUpperCase().padEnd(8))}  ${safe(f.check).padEnd(checkWidth)}  ${safe(f.location)}`);
      lines.push(`            ${safe(f.message)}`);
      lines.push(`            fix: ${safe(f.fix)}`);
    }
    lines.push("");
  }
  const s = report.summary;
  const counts = [...RISK_SEVERITIES].reverse().filter((v) => s.bySeverity[v] > 0).map((v) => paint(v, `${s.bySeverity[v]} ${v}`));
  lines.push(`${s.domains} domain${s.domains === 1 ? "" : "s"}, ${s.findings} finding${s.findings === 1 ? "" : "s"}${counts.length > 0 ? `: ${counts.join(", ")}` : ""}`);
  return lines;
}
