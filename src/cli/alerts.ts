import type { Command } from "commander";
import { SEVERITY_NAMES_HELP, SEVERITY_SHORT, severityArg, type Alert } from "../events/alert.js";
import { durationMs } from "../events/duration.js";
import { positiveInt } from "../events/input.js";
import { ackAlert, getAlert, listAlerts } from "../store/alerts.js";
import { openStateStore, stateDirOf } from "../store/open.js";
import { loadAgentConfig } from "../agent/config.js";
import { LineWriter, table } from "./output.js";
import { localTime, zoneOf } from "./time.js";
import { terminalSafe, writeSafe } from "../events/terminal.js";

interface CommonOptions {
  stateDir?: string;
  config?: string;
  json?: boolean;
}

/** The store of the state directory given, else the config's, else the default one. */
function store(opts: CommonOptions): ReturnType<typeof openStateStore> {
  return openStateStore(stateDirOf(opts.stateDir, opts.config ? loadAgentConfig(opts.config) : undefined));
}

const STATE_DIR_HELP = "where the store lives (default: the config's stateDir, else $HV_STATE_DIR, /var/lib/hv as root, ~/.local/state/hv)";

export function registerAlerts(program: Command): void {
  const alerts = program.command("alerts").description("list, show and acknowledge stored alerts");
  alerts.addHelpText(
    "after",
    `
Examples:
  hv alerts list
  hv alerts list --severity high --since 2h --json
  hv alerts list --severity med                    (names: ${SEVERITY_NAMES_HELP})
  hv alerts list --all              # with the signals: stored, not sent (docs/noise.md)
  hv alerts list --signals --since 1d
  hv alerts show 42
  hv alerts ack 42`,
  );

  alerts
    .command("list")
    .description("alerts, newest first")
    .option("--state-dir <dir>", STATE_DIR_HELP)
    .option("--config <file>", "hv's config (its stateDir)")
    .option("--status <status>", "open or acked")
    .option("--severity <level>", `only this severity: ${SEVERITY_NAMES_HELP}`)
    .option("--rule <id>", "only this rule id")
    .option("--vm <name>", "only this VM")
    .option("--since <age>", "only alerts seen in the last AGE (30m, 2h, 7d)")
    .option("--limit <n>", "at most N alerts", "100")
    .option("--all", "also the signals: third-party Sigma hits below the routing level, stored but not sent")
    .option("--signals", "only the signals")
    .option("--json", "one JSON alert per line")
    .action(async (opts: CommonOptions & { status?: string; severity?: string; rule?: string; vm?: string; since?: string; limit: string; all?: boolean; signals?: boolean }) => {
      const severity = opts.severity !== undefined ? severityArg(opts.severity) : undefined;
      const db = store(opts);
      const found = listAlerts(db, {
        status: opts.status, severity, ruleId: opts.rule, vmName: opts.vm,
        sinceMs: opts.since ? Date.now() - durationMs(opts.since, "--since") : undefined,
        limit: positiveInt(opts.limit, "--limit"),
        signals: opts.signals ? "only" : opts.all ? "include" : "exclude",
      });
      db.close();
      const out = new LineWriter();
      if (opts.json) for (const a of found) out.line(JSON.stringify(a));
      else if (found.length === 0) out.line("no alerts");
      else for (const l of alertTable(found)) out.line(l);
      await out.end();
    });

  alerts
    .command("show <id>")
    .description("one alert in full")
    .option("--state-dir <dir>", STATE_DIR_HELP)
    .option("--config <file>", "hv's config (its stateDir)")
    .option("--json", "the alert as JSON")
    .action((id: string, opts: CommonOptions) => {
      const db = store(opts);
      const alert = getAlert(db, parseId(id));
      db.close();
      if (!alert) throw new Error(`no alert ${id}`);
      writeSafe(process.stdout, opts.json ? JSON.stringify(alert) + "\n" : formatAlertDetail(alert));
    });

  alerts
    .command("ack <id>")
    .description("acknowledge an alert (a new detection then opens a new alert)")
    .option("--state-dir <dir>", STATE_DIR_HELP)
    .option("--config <file>", "hv's config (its stateDir)")
    .option("--json", "print the result as JSON")
    .action((id: string, opts: CommonOptions) => {
      const db = store(opts);
      const ok = ackAlert(db, parseId(id));
      db.close();
      if (!ok) throw new Error(`no alert ${id}`);
      writeSafe(process.stdout, opts.json ? JSON.stringify({ id: Number(id), status: "acked" }) + "\n" : `alert ${id} acknowledged\n`);
    });
}

function parseId(id: string): number {
  return positiveInt(id, "alert id");
}

/** Alerts as a table with a header; times local, with their zone. */
export function alertTable(alerts: Alert[]): string[] {
  return table(
    ["ID", `LAST SEEN (${zoneOf()})`, "SEV", "COUNT", "STATUS", "WHERE", "RULE"],
    alerts.map((a) => [String(a.id ?? "-"), localTime(a.last_seen).replace(/ \S+$/, ""), SEVERITY_SHORT[a.severity], String(a.count), a.signal ? `${a.status} (signal)` : a.status, a.vm?.name ? `vm=${a.vm.name}` : `${a.entity.kind}=${a.entity.id}`, `${a.rule.title} [${a.rule.id}]`]),
  );
}

export function formatAlertLine(a: Alert): string {
  const where = a.vm?.name ? `vm=${a.vm.name}` : `${a.entity.kind}=${a.entity.id}`;
  const count = a.count > 1 ? ` ×${a.count}` : "";
  return terminalSafe(`${a.id ?? "-"} ${a.last_seen} ${SEVERITY_SHORT[a.severity]} ${a.rule.title}${count} ${where} [${a.rule.id}]${a.status === "acked" ? " (acked)" : ""}${a.signal ? " (signal)" : ""}`);
}

export function formatAlertDetail(a: Alert): string {
  // Each line is one line: a newline in a command line or a rule title cannot fake another.
  return detailLines(a).map(terminalSafe).join("\n") + "\n";
}

function detailLines(a: Alert): string[] {
  const lines = [
    `alert ${a.id ?? "-"}: ${a.rule.title}`,
    `  severity   ${a.severity}   status ${a.status}   count ${a.count}${a.signal ? "   signal (stored, not sent)" : ""}`,
    `  rule       ${a.rule.id} (${a.rule.source}${a.rule.file ? `, ${a.rule.file}` : ""})`,
    `  entity     ${a.entity.kind} ${a.entity.id}${a.vm?.name ? `   vm ${a.vm.name}` : ""}`,
    `  seen       ${localTime(a.first_seen)} … ${localTime(a.last_seen)}`,
  ];
  if (a.mitre.techniques.length + a.mitre.tactics.length > 0) lines.push(`  mitre      ${[...a.mitre.tactics, ...a.mitre.techniques].join(", ")}`);
  if (a.process?.command_line ?? a.process?.executable) lines.push(`  process    ${a.process?.pid ?? ""} ${a.process?.command_line ?? a.process?.executable}`);
  if (a.user) lines.push(`  user       ${a.user.name ?? ""}${a.user.id !== undefined ? ` (uid ${a.user.id})` : ""}`);
  if (a.rule.description) lines.push(`  about      ${a.rule.description.trim().replace(/\s+/g, " ")}`);
  if (a.summary) lines.push(`  summary    ${a.summary}`);
  lines.push(`  events     ${a.event_ids.join(" ")}`);
  return lines;
}
