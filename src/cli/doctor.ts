// `hv doctor` (is this host ready, is hv healthy: src/cli/doctor-checks.ts) and `hv status` (what the
// running agent is doing: src/cli/agent-status.ts). Both only read.

import type { Command } from "commander";
import type { CheckStatus, DoctorReport } from "./doctor-checks.js";
import type { AgentStatus } from "./agent-status.js";
import { table } from "./output.js";
import { localTime } from "./time.js";
import { writeSafe } from "../events/terminal.js";

interface Common {
  config?: string;
  stateDir?: string;
  uri?: string;
  json?: boolean;
}

function common(cmd: Command): Command {
  return cmd
    .option("--config <file>", "hv's configuration (default $HV_CONFIG, else /etc/hv/hv.yaml when it exists)")
    .option("--state-dir <dir>", "where the store lives (default $HV_STATE_DIR, /var/lib/hv as root, else ~/.local/state/hv)")
    .option("--json", "the report as one JSON document");
}

async function settings(o: Common): Promise<{ configPath?: string; stateDir: string; config: import("../agent/config.js").AgentConfig }> {
  const [{ loadAgentConfig }, { defaultStateDir }] = await Promise.all([import("../agent/config.js"), import("../store/open.js")]);
  const configPath = o.config;
  let config = {};
  try {
    config = configPath ? loadAgentConfig(configPath) : {};
  } catch {
    // doctor reports the broken config itself; status works without it
  }
  return { ...(configPath ? { configPath } : {}), config, stateDir: o.stateDir ?? (config as { stateDir?: string }).stateDir ?? defaultStateDir() };
}

export function registerDoctor(program: Command): void {
  common(program.command("doctor").description("check this host and hv: programs, auditd and its rules, libvirt, store, feeds, models, API, fleet, the agent; each problem with its fix"))
    .option("--uri <uri>", "libvirt connection to check (default $HV_LIBVIRT_URI or qemu:///system)")
    .addHelpText(
      "after",
      `
Every check prints ok, warn, problem or skip (skip: it needs root or something absent), what it
found and, for warn and problem, the command or package that fixes it. Nothing is changed.
Exit status: 0 when no check found a problem (warnings allowed), 1 otherwise.

Examples:
  hv doctor
  sudo hv doctor                      auditd and the loaded audit rules need root
  hv doctor --json | jq '.checks[] | select(.status == "problem")'`,
    )
    .action(async (o: Common) => {
      const { runDoctor } = await import("./doctor-checks.js");
      const { resolveUri } = await import("../vm/virsh.js");
      const s = await settings(o);
      const report = await runDoctor({ stateDir: s.stateDir, uri: resolveUri(o.uri), ...(s.configPath ? { configPath: s.configPath } : {}) });
      writeSafe(process.stdout, o.json ? JSON.stringify(report) + "\n" : formatDoctor(report));
      if (!report.ok) process.exitCode = 1;
    });

  common(program.command("status").description("the running agent: its processes, store, sources and drops, and its API's /healthz and /metrics"))
    .option("--url <url>", "the agent's API or metrics address (default: from the config's api/metrics sections)")
    .addHelpText(
      "after",
      `
Read from /proc (is hv monitor running, since when), the store (counts, newest event, when each
source's read position was last committed) and, when the agent serves them, /healthz and /metrics
(events and drops per source, queue depth).
Exit status: 0 when an agent runs (and its API answers, when it should); 1 otherwise.

Examples:
  hv status
  hv status --json | jq .metrics
  hv status --url http://127.0.0.1:9464`,
    )
    .action(async (o: Common & { url?: string }) => {
      const { agentStatus } = await import("./agent-status.js");
      const s = await settings(o);
      const status = await agentStatus({ stateDir: s.stateDir, config: s.config, ...(s.configPath ? { configPath: s.configPath } : {}), ...(o.url ? { url: o.url.replace(/\/+$/, "") } : {}) });
      writeSafe(process.stdout, o.json ? JSON.stringify(status) + "\n" : formatStatus(status));
      if (status.processes.length === 0 || (status.api !== undefined && status.api.healthz !== "ok")) process.exitCode = 1;
    });
}

const MARK: Record<CheckStatus, string> = { ok: "ok", warn: "WARN", problem: "PROBLEM", skip: "skip" };

export function formatDoctor(r: DoctorReport): string {
  const lines: string[] = [];
  let area = "";
  for (const c of r.checks) {
    if (c.area !== area) {
      area = c.area;
      lines.push(area);
    }
    lines.push(`  ${MARK[c.status].padEnd(7)} ${c.name}: ${c.detail}`);
    // A fix of several lines (audit rule lines to add) keeps them under one another.
    if (c.fix && (c.status === "warn" || c.status === "problem")) lines.push(`          fix: ${c.fix.replaceAll("\n", "\n               ")}`);
  }
  const s = r.summary;
  lines.push("", `${s.problem} problem(s), ${s.warn} warning(s), ${s.ok} ok, ${s.skip} skipped`);
  return lines.join("\n") + "\n";
}

export function formatStatus(s: AgentStatus): string {
  const lines: string[] = [];
  if (s.processes.length === 0) lines.push("agent: not running (no hv monitor process on this host)");
  for (const p of s.processes) lines.push(`agent: pid ${p.pid}, up ${Math.round(p.uptimeSeconds / 60)} min: ${p.command}`);
  const st = s.store;
  if (!st.exists) lines.push(`store: none yet at ${st.path}`);
  else if (st.error) lines.push(`store: ${st.path}: ${st.error}`);
  else {
    const c = st.counts!;
    lines.push(`store: ${st.path} (${((st.bytes ?? 0) / 1048576).toFixed(1)} MiB): ${c.events} events, newest ${st.newestEvent ? localTime(st.newestEvent) : "-"}; ${c.alertsOpen} open alerts, ${c.actionsPending} pending actions, ${c.quarantines} quarantines`);
    if (st.sources && st.sources.length > 0) lines.push(...table(["SOURCE", "POSITION COMMITTED"], st.sources.map((x) => [x.source, localTime(x.updated)])).map((l) => `  ${l}`));
  }
  if (s.api) lines.push(`api: ${s.api.url}: /healthz ${s.api.healthz}, /metrics ${s.api.metrics ?? "-"}`);
  else lines.push("api: not served by the agent (api.enabled off, no metrics port): sources and drops are not readable from here");
  if (s.metrics) {
    lines.push(`pipeline: ${s.metrics.stored ?? "?"} events stored, queue ${s.metrics.queueDepth ?? "?"}`);
    if (s.metrics.sources.length > 0) lines.push(...table(["SOURCE", "EVENTS", "DROPPED"], s.metrics.sources.map((x) => [x.source, String(x.events), String(x.dropped)])).map((l) => `  ${l}`));
  }
  return lines.join("\n") + "\n";
}
