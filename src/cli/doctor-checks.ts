// `hv doctor`: is this host ready for hv, and is hv healthy on it? Each check says what it looked
// at, what it found, and — for every problem — the command or package that fixes it. Nothing is
// changed: a check that would need to write (or root) says so and is skipped.

import { accessSync, constants, existsSync, readFileSync, statSync } from "node:fs";
import { connect } from "node:net";
import { join } from "node:path";
import { findProgram, PROGRAMS, programStatus, runProgram, type Program } from "../events/programs.js";
import { shippedAuditRulesFile, detectAuditSource, loadAgentConfig, shippedRulesDir, type AgentConfig } from "../agent/config.js";
import { hasNetAdmin, isRoot } from "../agent/system.js";
import { agentStatus, type AgentStatus } from "./agent-status.js";
import { SEED_TOOLS } from "../vm/seed.js";
import { runVirsh } from "../events/virsh.js";
import { AUDIT_RULES_INSTALLED_NAME } from "../agent/install.js";
import { loadedAuditRules } from "../collectors/audit/rules.js";
import type { CoverageReport } from "../detectors/sigma/coverage.js";
import { coverageReport } from "./rules.js";

export type CheckStatus = "ok" | "warn" | "problem" | "skip";

export interface Check {
  /** Which part of hv it is about: programs, audit, libvirt, store, feeds, models, rules, config, api, fleet, service, agent. */
  area: string;
  name: string;
  status: CheckStatus;
  /** What was found. */
  detail: string;
  /** For warn/problem: the command or package that fixes it. */
  fix?: string;
}

export interface DoctorReport {
  checks: Check[];
  summary: Record<CheckStatus, number>;
  /** True when no check found a problem (warnings allowed). */
  ok: boolean;
}

export interface DoctorOptions {
  stateDir: string;
  /** The config file hv would use (none: hv's defaults). */
  configPath?: string;
  uri: string;
  /** Where hv's own audit rules are installed by `hv service install`. */
  auditRulesDir?: string;
  /** Root of the filesystem for files hv installs (tests use a scratch directory). */
  root?: string;
}

/** Runs every check; never throws for what it finds (a check that crashes is reported as a problem). */
export async function runDoctor(opts: DoctorOptions): Promise<DoctorReport> {
  const checks: Check[] = [];
  const add = (c: Check): void => void checks.push(c);
  const config = configCheck(opts, add);
  const guarded = async (area: string, fn: () => Promise<void> | void): Promise<void> => {
    try {
      await fn();
    } catch (err) {
      add({ area, name: `${area} checks`, status: "problem", detail: `the check itself failed: ${err instanceof Error ? err.message : String(err)}` });
    }
  };
  await guarded("programs", () => programChecks(add));
  await guarded("audit", () => auditChecks(opts, config, add));
  await guarded("libvirt", () => libvirtCheck(opts.uri, add));
  await guarded("rules", () => rulesCheck(config, opts.configPath, add));
  const status = await agentStatus({ stateDir: opts.stateDir, config, ...(opts.configPath ? { configPath: opts.configPath } : {}) });
  await guarded("store", () => storeChecks(opts.stateDir, status, add));
  await guarded("feeds", () => feedChecks(opts.stateDir, status, add));
  await guarded("models", () => modelChecks(config, add));
  await guarded("api", () => apiChecks(config, status, add));
  await guarded("fleet", () => fleetChecks(config, add));
  await guarded("agent", () => agentChecks(status, add));
  await guarded("service", () => serviceChecks(opts.root ?? "/", add));
  const summary: Record<CheckStatus, number> = { ok: 0, warn: 0, problem: 0, skip: 0 };
  for (const c of checks) summary[c.status]++;
  return { checks, summary, ok: summary.problem === 0 };
}

function configCheck(opts: DoctorOptions, add: (c: Check) => void): AgentConfig {
  if (!opts.configPath) {
    add({ area: "config", name: "configuration", status: "warn", detail: "no configuration file: hv runs on its defaults (monitor mode, shipped rules)", fix: "write /etc/hv/hv.yaml (or pass --config / set $HV_CONFIG) when the defaults are not what you want" });
    return {};
  }
  try {
    const config = loadAgentConfig(opts.configPath);
    add({ area: "config", name: "configuration", status: "ok", detail: `${opts.configPath} loads` });
    return config;
  } catch (err) {
    add({ area: "config", name: "configuration", status: "problem", detail: (err as Error).message, fix: `correct the field named in ${opts.configPath}` });
    return {};
  }
}

// How to ask each program for its version; programs without a version flag are checked for presence only.
const VERSION_ARGS: Partial<Record<Program, string[]>> = {
  virsh: ["--version"],
  "qemu-img": ["--version"],
  nft: ["--version"],
  conntrack: ["--version"],
  ip: ["-V"],
  tcpdump: ["--version"],
  ps: ["--version"],
  tar: ["--version"],
  gzip: ["--version"],
  auditctl: ["-v"],
  genisoimage: ["--version"],
  xorriso: ["-version"],
};

async function programChecks(add: (c: Check) => void): Promise<void> {
  for (const p of programStatus()) {
    const install = `apt-get install ${p.debian} (Nix: ${p.nix})`;
    if (!p.path) {
      // An optional program is one of several ways to do something: said once below when none is there.
      if (p.optional) add({ area: "programs", name: p.program, status: "skip", detail: `not installed (optional: ${p.usedFor})` });
      else add({ area: "programs", name: p.program, status: "problem", detail: `not installed: hv needs it for ${p.usedFor}`, fix: install });
      continue;
    }
    const args = VERSION_ARGS[p.program];
    if (!args) {
      add({ area: "programs", name: p.program, status: "ok", detail: p.path });
      continue;
    }
    const r = await runProgram(p.program, args, { timeout: 10_000, stdin: "ignore" });
    const text = `${r.stdout}\n${r.stderr}`;
    const version = /\d+\.\d+(\.\d+)?/.exec(text)?.[0];
    if (r.exitCode !== 0 && !version) {
      add({ area: "programs", name: p.program, status: "problem", detail: `${p.path} does not run: ${(r.stderr || r.shortMessage).trim().split("\n")[0]}`, fix: `reinstall: apt-get install --reinstall ${p.debian}` });
      continue;
    }
    add({ area: "programs", name: p.program, status: "ok", detail: `${p.path}${version ? `, version ${version}` : ""}` });
  }
  if (!SEED_TOOLS.some((t) => findProgram(t))) {
    add({ area: "programs", name: "cloud-init seed tool", status: "warn", detail: `none of ${SEED_TOOLS.join(", ")} is installed: hv vm create --template cloud-image cannot build a seed`, fix: `apt-get install ${PROGRAMS["cloud-localds"].debian}` });
  }
  // hv drives nft with JSON (nft -j); a build without it cannot be used at all.
  if (findProgram("nft") && hasNetAdmin()) {
    const r = await runProgram("nft", ["-j", "list", "tables"], { timeout: 10_000, stdin: "ignore" });
    if (r.exitCode !== 0 && /json/i.test(r.stderr)) add({ area: "programs", name: "nft -j", status: "problem", detail: `nft has no JSON support: ${r.stderr.trim()}`, fix: `apt-get install ${PROGRAMS.nft.debian} (a build with libjansson)` });
  }
}

/** What `auditctl -s` reports, as numbers by name. */
function auditStatusOf(text: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const m of text.matchAll(/^(\w+) (-?\d+)/gm)) out[m[1]!] = Number(m[2]);
  return out;
}

async function auditChecks(opts: DoctorOptions, config: AgentConfig, add: (c: Check) => void): Promise<void> {
  const source = detectAuditSource();
  if (source.kind === "none") add({ area: "audit", name: "audit source", status: "problem", detail: `no audit source is readable: ${source.reasons.join("; ")}`, fix: "apt-get install auditd, start it (systemctl start auditd), and run hv as root or in the log's group" });
  else add({ area: "audit", name: "audit source", status: "ok", detail: `${source.kind} ${source.path}` });
  if (!findProgram("auditctl")) return; // the programs check names the package
  if (!isRoot()) {
    add({ area: "audit", name: "auditd and its rules", status: "skip", detail: "auditctl needs root: run hv doctor as root to check auditd and the loaded rules" });
    return;
  }
  const s = await runProgram("auditctl", ["-s"], { timeout: 10_000, stdin: "ignore" });
  const st = auditStatusOf(s.stdout);
  if (s.exitCode !== 0) add({ area: "audit", name: "kernel audit", status: "problem", detail: `auditctl -s failed: ${s.stderr.trim()}`, fix: "boot with audit=1 (the kernel's audit support is off), or check that hv runs in the host's namespaces" });
  else {
    if (!st.pid) add({ area: "audit", name: "auditd", status: "problem", detail: "auditd is not running (auditctl -s: pid 0): nothing writes the audit log", fix: "systemctl enable --now auditd (without systemd: auditd)" });
    else add({ area: "audit", name: "auditd", status: "ok", detail: `running, pid ${st.pid}` });
    if (st.enabled === 0) add({ area: "audit", name: "audit enabled", status: "problem", detail: "the kernel's audit is disabled (enabled 0)", fix: "auditctl -e 1" });
    else if (st.enabled === 2) add({ area: "audit", name: "audit enabled", status: "warn", detail: "the rules are locked (enabled 2, immutable) until reboot: new rules load only at boot" });
    if ((st.lost ?? 0) > 0) add({ area: "audit", name: "audit backlog", status: "warn", detail: `the kernel lost ${st.lost} audit records (backlog_limit ${st.backlog_limit ?? "?"})`, fix: "a larger backlog in the host's base rules: -b 8192 and --backlog_wait_time 60000" });
  }
  const audit = await loadedAuditRules();
  if (typeof audit === "string") {
    add({ area: "audit", name: "audit coverage", status: "problem", detail: `the loaded audit rules cannot be read: ${audit}`, fix: "check that auditctl -l runs as root" });
    return;
  }
  if (audit.enabled === 0) {
    // Lines to add would not help: nothing is recorded until auditing is on.
    add({ area: "audit", name: "audit coverage", status: "problem", detail: "auditing is disabled (-e 0): every detection is blind, whatever the rules", fix: "auditctl -e 1, then hv doctor again" });
    return;
  }
  const installed = existsSync(join(opts.root ?? "/", opts.auditRulesDir ?? "etc/audit/rules.d", AUDIT_RULES_INSTALLED_NAME));
  const report = coverageReport(audit, config.rules ?? [shippedRulesDir()], { fixRules: shippedAuditRulesFile(), libvirt: findProgram("virsh") !== undefined });
  add(auditCoverageCheck(report, installed));
}

/**
 * What the loaded audit rules (the host's and hv's) can record of the detections hv runs, judged by
 * the model of `hv rules coverage` and in its words: blind detections are a problem, fixed by the
 * lines of hv.rules that record their evidence; partial ones a warning. `hvRulesInstalled`: hv's
 * rules file is in rules.d, so loading it is the whole fix.
 */
export function auditCoverageCheck(report: CoverageReport, hvRulesInstalled: boolean): Check {
  const s = report.summary;
  const name = "audit coverage";
  const counts = `${s.blind} detections blind, ${s.partial} partial of ${report.rules.length} with ${report.auditRules}`;
  const ignored = report.auditProblems.length > 0 ? ` (${report.auditProblems.length} audit rule lines not understood, ignored)` : "";
  const blind = report.rules.filter((r) => r.status === "blind");
  if (blind.length === 0 && s.partial === 0) return { area: "audit", name, status: "ok", detail: `${s.visible} visible, ${s["not-assessed"]} not assessed of ${report.rules.length} detections with ${report.auditRules}: none blind${ignored}` };
  if (blind.length === 0) return { area: "audit", name, status: "warn", detail: `${counts}${ignored}: some of their evidence is recorded (some programs, paths or actors only)`, fix: "hv rules coverage names them and the lines that complete them" };
  const lines = [...new Set(blind.flatMap((r) => r.fix.map((f) => f.line)))];
  const unfixable = blind.filter((r) => r.fix.length === 0).map((r) => r.title);
  const load = hvRulesInstalled ? "augenrules --load (hv's rules are installed in rules.d but not loaded)" : "hv setup or hv service install (either installs all of hv.rules as /etc/audit/rules.d/60-hv.rules), then augenrules --load";
  const fix = [
    lines.length > 0 ? `${load}; or add only these lines to the host's audit rules (hv rules coverage says what each records):` : load,
    ...lines,
    ...(unfixable.length > 0 ? [`no audit rule line fixes: ${unfixable.join("; ")}`] : []),
  ].join("\n");
  return { area: "audit", name, status: "problem", detail: `${counts}${ignored}; blind: ${blind.map((r) => r.title).join("; ")}`, fix };
}

async function libvirtCheck(uri: string, add: (c: Check) => void): Promise<void> {
  if (!findProgram("virsh")) return; // the programs check names the package
  let version: string;
  try {
    version = await runVirsh(["version"], { uri, timeoutMs: 15_000 });
  } catch (err) {
    const why = (err as Error).message.split("\n")[0];
    add({ area: "libvirt", name: "libvirt", status: "problem", detail: `${uri} does not answer: ${why}`, fix: isRoot() ? "systemctl start libvirtd (apt-get install libvirt-daemon-system)" : `run as root, or join the libvirt group (adduser $USER libvirt) for ${uri}` });
    return;
  }
  const lib = /Using library: libvirt (\S+)/.exec(version)?.[1];
  const hyp = /Running hypervisor: (.+)/.exec(version)?.[1];
  add({ area: "libvirt", name: "libvirt", status: "ok", detail: `${uri}: libvirt ${lib ?? "?"}${hyp ? `, ${hyp.trim()}` : ""}` });
  if (!existsSync("/dev/kvm")) add({ area: "libvirt", name: "kvm", status: "warn", detail: "/dev/kvm is missing: guests run under TCG emulation (slow); templates with domainType kvm cannot start", fix: "enable virtualisation in the firmware and load kvm_intel or kvm_amd" });
}

async function rulesCheck(config: AgentConfig, configPath: string | undefined, add: (c: Check) => void): Promise<void> {
  const { loadRules, summarize } = await import("../detectors/sigma/ruleset.js");
  const paths = config.rules ?? [shippedRulesDir()];
  const missing = paths.filter((p) => !existsSync(p));
  if (missing.length > 0) {
    add({ area: "rules", name: "Sigma rules", status: "problem", detail: `rule paths that do not exist: ${missing.join(", ")}`, fix: configPath ? `correct rules: in ${configPath}` : "reinstall hv (its rules/hv directory is missing)" });
    return;
  }
  const s = summarize(loadRules(paths).report);
  const check = `hv rules check ${configPath && config.rules ? `--config ${configPath}` : paths.join(" ")}`;
  const detail = `${s.loaded} loaded (${s.dormant} dormant), ${s.unsupported} unsupported, ${s.invalid} invalid`;
  if (s.invalid > 0) add({ area: "rules", name: "Sigma rules", status: "problem", detail, fix: `${check} names each file and line` });
  else if (s.unsupported > 0) add({ area: "rules", name: "Sigma rules", status: "warn", detail, fix: `${check} says why each cannot run` });
  else add({ area: "rules", name: "Sigma rules", status: s.loaded > 0 ? "ok" : "warn", detail, ...(s.loaded === 0 ? { fix: "give rules in the config (rules:)" } : {}) });
}

function storeChecks(stateDir: string, status: AgentStatus, add: (c: Check) => void): void {
  const dirOk = existsSync(stateDir);
  if (!dirOk) {
    add({ area: "store", name: "state directory", status: "warn", detail: `${stateDir} does not exist yet (hv monitor creates it)`, fix: `mkdir -p ${stateDir}, or run hv monitor once` });
    return;
  }
  try {
    accessSync(stateDir, constants.W_OK);
  } catch {
    add({ area: "store", name: "state directory", status: "problem", detail: `${stateDir} is not writable by this user`, fix: `run as the user the agent runs as, or chown it to that user` });
  }
  const st = status.store;
  if (!st.exists) add({ area: "store", name: "store", status: "warn", detail: `no store yet at ${st.path} (hv monitor creates it)` });
  else if (st.error) {
    const newer = /schema version/.test(st.error);
    add({ area: "store", name: "store", status: "problem", detail: `${st.path}: ${st.error}`, fix: newer ? "use the hv that wrote it (a newer version), or another --state-dir" : "if it is corrupt: stop hv, move it aside (mv hv.db hv.db.bad) and start again" });
  }
  else {
    const size = st.bytes !== undefined ? `${(st.bytes / 1048576).toFixed(1)} MiB` : "?";
    add({ area: "store", name: "store", status: "ok", detail: `${st.path}: ${size}, schema ${st.counts?.schemaVersion}, ${st.counts?.events} events, ${st.counts?.alertsOpen} open alerts, ${st.counts?.actionsPending} pending actions, ${st.counts?.quarantines} quarantines` });
  }
}

async function feedChecks(stateDir: string, status: AgentStatus, add: (c: Check) => void): Promise<void> {
  const path = join(stateDir, "hv.db");
  // No store, or one the store check already reported as unreadable.
  if (!existsSync(path) || status.store.error) return;
  const [{ openStore }, { listFeeds }, { durationMs }] = await Promise.all([import("../store/open.js"), import("../store/feeds.js"), import("../events/duration.js")]);
  const db = openStore(path);
  try {
    const feeds = listFeeds(db).filter((f) => f.enabled);
    if (feeds.length === 0) add({ area: "feeds", name: "threat feeds", status: "ok", detail: "none configured (hv feeds add --preset … adds one)" });
    for (const f of feeds) {
      const everyMs = f.schedule ? durationMs(f.schedule, "schedule") : undefined;
      const last = f.lastSuccess ? Date.parse(f.lastSuccess) : undefined;
      const age = last !== undefined ? Date.now() - last : undefined;
      const ageText = age !== undefined ? `last good sync ${Math.round(age / 60_000)} min ago` : "never synced";
      const fix = `hv feeds sync ${f.name}`;
      if (f.lastError && (!f.lastAttempt || !f.lastSuccess || f.lastAttempt > f.lastSuccess)) add({ area: "feeds", name: `feed ${f.name}`, status: "warn", detail: `the last sync failed: ${f.lastError}; ${ageText}, ${f.entries} entries kept`, fix });
      else if (last === undefined) add({ area: "feeds", name: `feed ${f.name}`, status: "warn", detail: "never synced: it matches nothing yet", fix });
      else if (everyMs !== undefined && age! > 2 * everyMs) add({ area: "feeds", name: `feed ${f.name}`, status: "warn", detail: `stale: ${ageText}, schedule ${f.schedule} (is the agent running?)`, fix });
      else add({ area: "feeds", name: `feed ${f.name}`, status: "ok", detail: `${f.entries} entries, ${ageText}${f.schedule ? `, every ${f.schedule}` : ", manual"}` });
    }
  } finally {
    db.close();
  }
}

async function modelChecks(config: AgentConfig, add: (c: Check) => void): Promise<void> {
  const model = config.anomaly?.syscalls;
  if (!model) {
    add({ area: "models", name: "anomaly model", status: "ok", detail: "none configured (anomaly detection is off until this host has a baseline: hv model baseline --since 7d)" });
    return;
  }
  if (!existsSync(model)) {
    add({ area: "models", name: "anomaly model", status: "problem", detail: `${model} does not exist: the agent will not start its anomaly detector`, fix: "hv model baseline --since 7d --out " + model });
    return;
  }
  const { readMetadata } = await import("../detectors/anomaly/onnx-build.js");
  const meta = readMetadata(readFileSync(model));
  const threshold = meta.threshold ?? meta["hv.threshold"];
  const trained = meta.trained ?? meta["hv.trained"] ?? meta.created;
  if (threshold === undefined) add({ area: "models", name: "anomaly model", status: "problem", detail: `${model} carries no calibrated threshold: not a model hv trained`, fix: "hv model baseline --since 7d" });
  else add({ area: "models", name: "anomaly model", status: "ok", detail: `${model}: threshold ${threshold}${trained ? `, trained ${trained}` : ""}${meta.kind ? `, ${meta.kind}` : ""}` });
}

async function apiChecks(config: AgentConfig, status: AgentStatus, add: (c: Check) => void): Promise<void> {
  if (!config.api?.enabled && config.metrics?.port === undefined) {
    add({ area: "api", name: "REST API", status: "ok", detail: "not served by the agent (api.enabled is off; hv api serve runs it on its own)" });
    return;
  }
  const host = config.api?.host ?? "127.0.0.1";
  if (!["127.0.0.1", "::1", "localhost"].includes(host) && status.store.tokens === 0) {
    add({ area: "api", name: "API tokens", status: "problem", detail: `the API is to listen on ${host} but no token exists: the agent refuses to serve it`, fix: "hv api token create admin --role admin" });
  }
  const api = status.api;
  if (!api) return;
  if (api.healthz === "ok") add({ area: "api", name: "REST API", status: "ok", detail: `${api.url}/healthz answers ok` });
  else add({ area: "api", name: "REST API", status: status.processes.length > 0 ? "problem" : "warn", detail: `${api.url}/healthz: ${api.healthz}`, fix: status.processes.length > 0 ? "the agent runs but does not serve: see its log (journalctl -u hv-monitor)" : "start the agent (systemctl start hv-monitor, or hv monitor)" });
}

async function fleetChecks(config: AgentConfig, add: (c: Check) => void): Promise<void> {
  const f = config.fleet;
  if (!f || f.enabled === false) {
    add({ area: "fleet", name: "fleet", status: "ok", detail: "not configured (this host publishes to no NATS)" });
    return;
  }
  for (const server of f.servers) {
    const u = new URL(server);
    const port = Number(u.port || 4222);
    const reached = await tcpReachable(u.hostname, port, 3000);
    add(reached === true ? { area: "fleet", name: `NATS ${server}`, status: "ok", detail: "reachable (TCP)" } : { area: "fleet", name: `NATS ${server}`, status: "problem", detail: `not reachable: ${reached}`, fix: "check the server is up and the host's firewall lets it through (nats-server -js)" });
  }
}

function tcpReachable(host: string, port: number, timeoutMs: number): Promise<true | string> {
  return new Promise((resolve) => {
    const s = connect({ host, port, timeout: timeoutMs });
    s.once("connect", () => {
      s.destroy();
      resolve(true);
    });
    s.once("timeout", () => {
      s.destroy();
      resolve(`no answer within ${timeoutMs} ms`);
    });
    s.once("error", (err) => resolve(err.message));
  });
}

function agentChecks(status: AgentStatus, add: (c: Check) => void): void {
  if (status.processes.length === 0) {
    add({ area: "agent", name: "agent", status: "warn", detail: "no hv monitor process runs on this host", fix: "systemctl start hv-monitor (hv service install sets it up), or hv monitor" });
    return;
  }
  for (const p of status.processes) add({ area: "agent", name: `agent pid ${p.pid}`, status: "ok", detail: `${p.command} (up ${Math.round(p.uptimeSeconds / 60)} min)` });
  for (const s of status.metrics?.sources ?? []) {
    const lost = s.dropped;
    add({ area: "agent", name: `source ${s.source}`, status: lost > 0 ? "warn" : "ok", detail: `${s.events} events, ${lost} dropped`, ...(lost > 0 ? { fix: "the pipeline cannot keep up or the source loses events: see docs/conntrack.md (buffers) and the audit backlog" } : {}) });
  }
}

function serviceChecks(root: string, add: (c: Check) => void): void {
  if (existsSync(join(root, "etc/NIXOS"))) {
    add({ area: "service", name: "service", status: "ok", detail: "NixOS: the hypervisor.monitor module runs hv (docs/nixos.md)" });
    return;
  }
  const unit = join(root, "etc/systemd/system/hv-monitor.service");
  if (!existsSync(unit)) add({ area: "service", name: "hv-monitor.service", status: "warn", detail: "not installed: hv does not start at boot", fix: "hv service install, then systemctl enable --now hv-monitor" });
  else add({ area: "service", name: "hv-monitor.service", status: "ok", detail: `${unit} (${(statSync(unit).size / 1024).toFixed(1)} KiB)` });
}
