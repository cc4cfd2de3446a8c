// `hv setup`: the first step on a new host (hv setup → hv vm create → hv monitor). On a terminal it
// asks, showing what each choice does and risks, with the current answers as defaults; without
// one (or with --yes / --answers) it takes the current answers, changed by the answers file and
// the flags. It writes /etc/hv/hv.yaml, hv's audit rules, playbook copies, feeds and an API token,
// and the services on request — or, on NixOS, prints the module options instead.

import { existsSync, readdirSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import type { Command } from "commander";
import { loadAgentConfig, shippedAuditRulesFile, shippedRulesDir, type AgentConfig } from "../agent/config.js";
import { DEFAULT_CONFIG_PATH, resolveConfigPath } from "../agent/config-path.js";
import * as install from "../agent/install.js";
import * as setup from "../agent/setup.js";
import type { PartialAnswers, SetupAnswers, SetupMode, SetupPaths } from "../agent/setup.js";
import { validateFeedSpec } from "../feeds/spec.js";
import { FEED_PRESETS, findPreset } from "../feeds/presets.js";
import { InputError } from "../events/input.js";
import { printErr, writeSafe } from "../events/terminal.js";
import { readYamlData, readYamlFile } from "../events/yaml.js";
import * as feeds from "../store/feeds.js";
import { defaultStateDir, openStore, stateDirOf, storePath } from "../store/open.js";
import { createToken } from "../api/tokens.js";
import { resolveUri, VirshBackend } from "../vm/virsh.js";
import { runDoctor, type Check } from "./doctor-checks.js";
import { table } from "./output.js";
import { asker, canAsk, type Asker } from "./prompt.js";
import { coverageReport, readAuditRuleFiles } from "./rules.js";

interface SetupOptions {
  config?: string;
  root: string;
  stateDir?: string;
  uri?: string;
  answers?: string;
  yes?: boolean;
  nixos?: boolean;
  dryRun?: boolean;
  json?: boolean;
  mode?: string;
  allowNetwork?: string;
  allowUser?: string;
  criticalVm?: string;
  feed?: string;
  jsonl?: string;
  syslog?: string;
  webhook?: string;
  alertmanager?: string;
  api?: boolean;
  apiHost?: string;
  apiPort?: string;
  apiToken?: boolean;
  auditRules?: boolean;
  service?: boolean;
}

export function registerSetup(program: Command): void {
  program
    .command("setup")
    .description("set hv up on this host: audit rules, mode, allowlists, feeds, alert sinks, API, services; writes /etc/hv/hv.yaml (on NixOS: prints the module options)")
    .option("--config <file>", "the configuration to read and write (default $HV_CONFIG, else /etc/hv/hv.yaml; under --root: ROOT/etc/hv/hv.yaml)")
    .option("--answers <file>", "YAML answers for a run without questions (fields as in hv setup --json's answers; missing ones keep their current value)")
    .option("--yes", "ask nothing: the current answers, changed by --answers and the flags below")
    .option("--mode <mode>", "monitor (record only), interactive (actions wait for approval) or automatic")
    .option("--allow-network <cidrs>", "management networks never blocked or quarantined (comma list; - for none)")
    .option("--allow-user <names>", "admin users never locked or killed (comma list; - for none)")
    .option("--critical-vm <names>", "VMs never paused, stopped or quarantined (comma list; - for none)")
    .option("--feed <presets>", "threat feed presets to add (comma list; - for none; hv feeds presets)")
    .option("--jsonl <path>", "alerts to a JSON lines file (- for none)")
    .option("--syslog <host:port>", "alerts to syslog over UDP (- for none)")
    .option("--webhook <url>", "alerts to a webhook, Slack or JSON (- for none)")
    .option("--alertmanager <url>", "alerts to Prometheus Alertmanager (- for none)")
    .option("--api", "serve the REST API from the agent")
    .option("--no-api", "do not serve it")
    .option("--api-host <address>", "the API's listen address (default 127.0.0.1)")
    .option("--api-port <port>", "the API's port (default 8787)")
    .option("--api-token", "create an admin API token (printed once)")
    .option("--audit-rules", "install hv's audit rules into /etc/audit/rules.d/60-hv.rules")
    .option("--no-audit-rules", "do not (and remove them if setup installed them)")
    .option("--service", "install the systemd units and user hv (hv service install)")
    .option("--no-service", "do not")
    .option("--nixos", "print the NixOS module options (default when /etc/NIXOS exists)")
    .option("--root <dir>", "write under this directory instead of /: the config, /etc/audit/rules.d, the units, the store; /etc/NIXOS is looked for there (a chroot, an image, a test)", "/")
    .option("--state-dir <dir>", "where the store lives: feeds and API tokens go there (default the config's stateDir, else $HV_STATE_DIR, /var/lib/hv as root, ~/.local/state/hv)")
    .option("--uri <uri>", "libvirt connection checked, and asked for VM names (default $HV_LIBVIRT_URI or qemu:///system)")
    .option("--dry-run", "show what would be written; write nothing")
    .option("--json", "the result as JSON (answers, files, feeds, token)")
    .addHelpText(
      "after",
      `
First it checks the host with hv doctor's checks (programs, auditd, libvirt) and shows what hv's
audit rules add to the host's own (hv rules coverage of /etc/audit/rules.d with and without
60-hv.rules). Then, on a terminal, it asks; with --yes, --answers or --json it asks nothing.
Run it again to see the current answers (they are the defaults) and change them; what setup does
not manage in the config (rules, exceptions, flowDetectors, …) and its comments are kept.
Nothing acts on a VM unless you choose interactive or automatic: then hv's playbooks are copied
next to the config with that mode (what each action does and risks is listed first).
Exit status: 0 written (or printed, on NixOS; host problems are listed, not fatal), 1 a step
failed or the wizard was cancelled, 2 answers with problems or an unreadable config or answers
file (nothing is written).

Examples:
  sudo hv setup                                       the wizard
  sudo hv setup --yes --allow-network 10.0.0.0/24 --feed feodo,spamhaus-drop
  sudo hv setup --answers answers.yaml --json
  hv setup --root ./img --yes --dry-run                  what would be written into an image
  sudo hv setup --yes --mode monitor --feed -           change two answers, keep the rest
Answers file:
  mode: monitor
  allowlist: { networks: [10.0.0.0/24], users: [admin], vms: [db1] }
  feeds: [feodo]
  sinks: { jsonl: /var/log/hv/alerts.jsonl, alertmanager: "http://127.0.0.1:9093" }
  api: { enabled: true, createToken: true }
  auditRules: true
  service: true`,
    )
    .action(async (o: SetupOptions) => {
      process.exitCode = await runSetup(o);
    });
}

const list = (text: string | undefined): string[] | undefined => (text === undefined ? undefined : text.trim() === "-" ? [] : text.split(",").map((s) => s.trim()).filter(Boolean));
const optional = (text: string | undefined): string | undefined | null => (text === undefined ? undefined : text.trim() === "-" || text.trim() === "" ? null : text.trim());

/** The answers the flags give (undefined: not given; null for a sink: none). */
function flagAnswers(o: SetupOptions): PartialAnswers & { sinksNone?: string[] } {
  const a: PartialAnswers & { sinksNone?: string[] } = {};
  if (o.mode !== undefined) a.mode = o.mode as SetupMode;
  const allow: NonNullable<PartialAnswers["allowlist"]> = {};
  if (list(o.allowNetwork)) allow.networks = list(o.allowNetwork)!;
  if (list(o.allowUser)) allow.users = list(o.allowUser)!;
  if (list(o.criticalVm)) allow.vms = list(o.criticalVm)!;
  if (Object.keys(allow).length > 0) a.allowlist = allow;
  if (list(o.feed)) a.feeds = list(o.feed)!;
  const sinks: NonNullable<PartialAnswers["sinks"]> = {};
  const none: string[] = [];
  for (const k of ["jsonl", "syslog", "webhook", "alertmanager"] as const) {
    const v = optional(o[k]);
    if (v === null) none.push(k);
    else if (v !== undefined) sinks[k] = v;
  }
  if (Object.keys(sinks).length > 0) a.sinks = sinks;
  if (none.length > 0) a.sinksNone = none;
  const api: NonNullable<PartialAnswers["api"]> = {};
  if (o.api !== undefined) api.enabled = o.api;
  if (o.apiHost !== undefined) api.host = o.apiHost;
  if (o.apiPort !== undefined) api.port = Number(o.apiPort);
  if (o.apiToken) api.createToken = true;
  if (Object.keys(api).length > 0) a.api = api;
  if (o.auditRules !== undefined) a.auditRules = o.auditRules;
  if (o.service !== undefined) a.service = o.service;
  return a;
}

function merge(base: SetupAnswers, p: PartialAnswers & { sinksNone?: string[] }): SetupAnswers {
  const sinks = { ...base.sinks, ...(p.sinks ?? {}) };
  for (const k of p.sinksNone ?? []) delete sinks[k as keyof typeof sinks];
  return {
    auditRules: p.auditRules ?? base.auditRules,
    mode: p.mode ?? base.mode,
    allowlist: { ...base.allowlist, ...(p.allowlist ?? {}) },
    feeds: p.feeds ?? base.feeds,
    sinks,
    api: { ...base.api, ...(p.api ?? {}) },
    service: p.service ?? base.service,
  };
}

async function runSetup(o: SetupOptions): Promise<number> {
  const root = resolve(o.root);
  // Under another root everything setup reads and writes is there: a test or an image never touches this host's /etc.
  const underRoot = root !== "/";
  const configPath = o.config ?? (underRoot ? join(root, DEFAULT_CONFIG_PATH) : (resolveConfigPath() ?? DEFAULT_CONFIG_PATH));
  let config: AgentConfig = {};
  if (existsSync(configPath)) {
    try {
      config = loadAgentConfig(configPath);
    } catch (err) {
      throw new InputError(`${(err as Error).message}; fix it (or move it aside) and run hv setup again; nothing was written`);
    }
  }
  const stateDir = o.stateDir ?? (underRoot ? join(root, config.stateDir ?? "/var/lib/hv") : stateDirOf(undefined, config));
  const paths: SetupPaths = { config: configPath, root, stateDir };
  const nixos = o.nixos === true || install.isNixOS(root);
  const current = await setup.currentAnswers(paths, config, await feedNames(stateDir));
  let wanted = current;
  if (o.answers) wanted = merge(wanted, readAnswersFile(o.answers));
  const flags = flagAnswers(o);
  if (flags.mode !== undefined && !(setup.SETUP_MODES as readonly string[]).includes(flags.mode)) throw new InputError(`--mode must be one of ${setup.SETUP_MODES.join(", ")}, got ${JSON.stringify(flags.mode)}`);
  if (flags.api?.port !== undefined && !(Number.isInteger(flags.api.port) && flags.api.port >= 1 && flags.api.port <= 65535)) throw new InputError(`--api-port must be a port from 1 to 65535, got ${JSON.stringify(o.apiPort)}`);
  wanted = merge(wanted, flags);
  // Refused before anything is looked at or asked: automation learns at once what it got wrong.
  if (!canAskHere(o)) refuseProblems(setup.answerProblems(wanted));

  if (process.stderr.isTTY && !o.json) printErr("hv setup: checking this host (hv doctor's checks) and what hv's audit rules add to its own…");
  const uri = resolveUri(o.uri);
  const survey = await surveyHost(paths, config, uri);
  if (canAskHere(o)) {
    const a = asker();
    try {
      const answered = await wizard(a, wanted, paths, nixos, survey, uri);
      if (!answered) {
        printErr("hv setup: nothing was written");
        return 1;
      }
      wanted = answered;
    } finally {
      a.close();
    }
    refuseProblems(setup.answerProblems(wanted));
  }

  if (nixos) {
    const text = setup.nixosOptions(wanted);
    if (o.json) writeSafe(process.stdout, JSON.stringify({ nixos: true, answers: wanted, host: survey.host, coverage: survey.coverage, options: text }) + "\n");
    else writeSafe(process.stdout, `# This is NixOS: put these options in configuration.nix (docs/nixos.md) and run nixos-rebuild switch; nothing was written.\n${text}`);
    return 0;
  }
  const result = await apply(wanted, current, paths, Boolean(o.dryRun));
  const playbooks = await setup.shippedPlaybookSummaries();
  if (o.json) writeSafe(process.stdout, JSON.stringify({ answers: wanted, host: survey.host, coverage: survey.coverage, playbooks, ...result }) + "\n");
  else {
    if (!canAskHere(o)) {
      const acting = wanted.mode === "monitor" ? [] : ["", `Mode ${wanted.mode}: hv's playbooks ${wanted.mode === "automatic" ? "act at once" : "act once a person approves (hv actions approve ID)"}; what each action risks:`, ...playbookRiskLines(playbooks).map((l) => `  ${l}`)];
      writeSafe(process.stdout, [...surveyText(survey), ...acting].join("\n") + "\n\n");
    }
    printResult(result, wanted, paths, Boolean(o.dryRun));
  }
  return result.failed.length > 0 ? 1 : 0;
}

/** The wizard runs only where a person can answer, and only when nothing said not to ask. */
function canAskHere(o: SetupOptions): boolean {
  return canAsk() && !o.yes && !o.answers && !o.json;
}

function refuseProblems(problems: string[]): void {
  if (problems.length > 0) throw new InputError(`the answers have problems; nothing was written:\n${problems.map((p) => `  - ${p}`).join("\n")}`);
}

function readAnswersFile(file: string): PartialAnswers {
  const read = readYamlFile(file);
  if ("problem" in read) throw new InputError(`${file}: ${read.problem}`);
  const yaml = readYamlData(read.text);
  if ("problem" in yaml) throw new InputError(`${file}:${yaml.problem.line}: ${yaml.problem.reason}`);
  const parsed = setup.partialAnswersSchema.safeParse(yaml.data ?? {});
  if (!parsed.success) throw new InputError(`${file}: ${parsed.error.issues.map((i) => `${i.path.join(".") || "(top)"}: ${i.message}`).join("; ")}`);
  return parsed.data;
}

interface CoverageGain {
  /** The host's own rule files (rules.d, in the order augenrules loads them). */
  hostFiles: string[];
  before: Record<string, number>;
  after: Record<string, number>;
  /** Detections that were blind or partial with the host's rules and are visible with hv's added. */
  gained: string[];
  /** Detections still blind with both (hv rules coverage says why). */
  stillBlind: string[];
}

interface HostSurvey {
  /** hv doctor's checks of programs, auditd and libvirt that found something (problems first). */
  host: Check[];
  coverage: CoverageGain;
}

/** hv doctor's host checks, and hv rules coverage of the host's rules.d with and without hv's file. */
async function surveyHost(paths: SetupPaths, config: AgentConfig, uri: string): Promise<HostSurvey> {
  const report = await runDoctor({ stateDir: paths.stateDir, uri, root: paths.root, ...(existsSync(paths.config) ? { configPath: paths.config } : {}) });
  const rank = { problem: 0, warn: 1, ok: 2, skip: 3 } as const;
  const host = report.checks.filter((c) => ["programs", "audit", "libvirt"].includes(c.area) && (c.status === "problem" || c.status === "warn")).sort((a, b) => rank[a.status] - rank[b.status]);
  return { host, coverage: await coverageGain(paths.root, config) };
}

async function coverageGain(root: string, config: AgentConfig): Promise<CoverageGain> {
  const dir = join(root, "etc/audit/rules.d");
  const hostFiles = existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith(".rules") && f !== install.AUDIT_RULES_INSTALLED_NAME).sort() : [];
  // augenrules concatenates rules.d/*.rules in name order: hv's file goes where its name sorts.
  const withHv = [...hostFiles.map((f) => ({ name: f, path: join(dir, f) })), { name: install.AUDIT_RULES_INSTALLED_NAME, path: shippedAuditRulesFile() }].sort((a, b) => (a.name < b.name ? -1 : 1));
  const sigma = config.rules ?? [shippedRulesDir()];
  const opts = { fixRules: shippedAuditRulesFile(), libvirt: true };
  const before = coverageReport(readAuditRuleFiles(hostFiles.map((f) => join(dir, f))), sigma, opts);
  const after = coverageReport(readAuditRuleFiles(withHv.map((f) => f.path)), sigma, opts);
  const was = new Map(before.rules.map((r) => [r.id, r.status]));
  return {
    hostFiles,
    before: before.summary,
    after: after.summary,
    gained: after.rules.filter((r) => r.status === "visible" && was.get(r.id) !== "visible").map((r) => r.title),
    stillBlind: after.rules.filter((r) => r.status === "blind").map((r) => r.title),
  };
}

function surveyText(s: HostSurvey): string[] {
  const out = ["This host (hv doctor's checks of programs, auditd and libvirt):"];
  if (s.host.length === 0) out.push("  nothing wrong found");
  for (const c of s.host) out.push(`  ${c.status === "problem" ? "PROBLEM" : "warn   "} ${c.name}: ${c.detail}${c.fix ? `\n          fix: ${c.fix}` : ""}`);
  const c = s.coverage;
  const line = (x: Record<string, number>): string => `${x.visible} visible, ${x.partial} partial, ${x.blind} blind`;
  const total = Object.values(c.before).reduce((n, v) => n + v, 0);
  out.push("", `Audit coverage of hv's ${total} detections (hv rules coverage):`);
  out.push(`  with this host's rules${c.hostFiles.length ? ` (${c.hostFiles.join(", ")})` : " (none in /etc/audit/rules.d)"}: ${line(c.before)}`);
  out.push(`  with hv's rules added as /etc/audit/rules.d/60-hv.rules:  ${line(c.after)}`);
  if (c.gained.length > 0) out.push(`  hv's rules make ${c.gained.length} more visible: ${c.gained.slice(0, 6).join("; ")}${c.gained.length > 6 ? "; …" : ""}`);
  if (c.stillBlind.length > 0) out.push(`  still blind: ${c.stillBlind.join("; ")} (hv rules coverage --audit-rules … says why)`);
  out.push("  hv's file only adds rules (no -D, no -e): the host's own rules and keys stay as they are.");
  return out;
}

/** Each shipped playbook and, for each of its actions, what it risks and how it is undone. */
function playbookRiskLines(playbooks: setup.PlaybookSummary[]): string[] {
  return playbooks.flatMap((p) => [`${p.id}: ${p.title}`, ...p.actions.map((a) => `  ${a.action}: ${a.risk}${a.undo ? `; undo: ${a.undo}` : ""}`)]);
}

/** The enabled feeds of the store; none (said) when it cannot be read: the other answers still apply. */
async function feedNames(stateDir: string): Promise<string[]> {
  const path = storePath(stateDir);
  if (!existsSync(path)) return [];
  try {
    const db = openStore(path);
    try {
      return feeds.listFeeds(db).filter((f) => f.enabled).map((f) => f.name);
    } finally {
      db.close();
    }
  } catch (err) {
    printErr(`hv setup: warning: the store's feeds cannot be read (${(err as Error).message})`);
    return [];
  }
}

interface SetupResult {
  files: Array<{ path: string; action: string }>;
  feeds: Array<{ name: string; action: string }>;
  token?: { name: string; token: string };
  steps: Array<{ step: string; ok: boolean; detail: string }>;
  failed: string[];
  dryRun: boolean;
}

async function apply(a: SetupAnswers, before: SetupAnswers, paths: SetupPaths, dryRun: boolean): Promise<SetupResult> {
  const r: SetupResult = { files: [], feeds: [], steps: [], failed: [], dryRun };
  // Absolute paths: writeFiles joins them to "/" unchanged.
  const write = async (path: string, content: string, mode: number): Promise<void> => void r.files.push(...(await install.writeFiles("/", [{ path, content, mode }], dryRun)));
  // hv's audit rules, next to the host's own; taken out again when the answer turns to no.
  if (a.auditRules) r.files.push(...(await install.writeFiles(paths.root, [install.auditRulesFile()], dryRun)));
  else if (before.auditRules) r.files.push(...(await install.removeFiles(paths.root, [install.auditRulesFile()], dryRun)));
  if (a.mode !== "monitor") for (const c of setup.playbookCopies(a.mode)) await write(join(setup.playbookCopiesDir(paths.config), c.file), c.text, 0o640);
  const existing = await readFile(paths.config, "utf8").catch(() => undefined);
  await write(paths.config, setup.configText(existing, a, paths), 0o640);

  // Feeds and tokens live in the store.
  const wantsStore = a.feeds.length > 0 || before.feeds.some((f) => !a.feeds.includes(f)) || a.api.createToken;
  if (wantsStore) {
    const dbPath = storePath(paths.stateDir);
    const db = dryRun && !existsSync(dbPath) ? undefined : openStore(dbPath);
    try {
      for (const name of a.feeds) {
        const known = db ? feeds.getFeed(db, name) : undefined;
        if (known?.enabled) r.feeds.push({ name, action: "unchanged" });
        else {
          if (db && !dryRun && known) feeds.setFeedEnabled(db, name, true);
          else if (db && !dryRun) feeds.addFeed(db, validateFeedSpec({ ...findPreset(name)!.spec, name }));
          r.feeds.push({ name, action: known ? "enabled" : "added" });
        }
      }
      // A preset answered away is disabled, not deleted: its entries and history stay.
      for (const name of before.feeds.filter((f) => !a.feeds.includes(f))) {
        if (db && !dryRun) feeds.setFeedEnabled(db, name, false);
        r.feeds.push({ name, action: "disabled" });
      }
      if (a.api.createToken && db && !dryRun) {
        const name = `admin-${new Date().toISOString().slice(0, 10)}-${Math.random().toString(36).slice(2, 6)}`;
        r.token = { name, token: createToken(db, name, "admin", "hv setup").token };
      }
    } finally {
      db?.close();
    }
  }
  if (a.service) {
    r.files.push(...(await install.writeFiles(paths.root, install.serviceFiles(), dryRun)));
    if (!dryRun) r.steps.push(await install.applySysusers(paths.root));
  }
  for (const s of r.steps) if (!s.ok) r.failed.push(`${s.step}: ${s.detail}`);
  return r;
}

function printResult(r: SetupResult, a: SetupAnswers, paths: SetupPaths, dryRun: boolean): void {
  const out: string[] = [];
  out.push(dryRun ? "would write:" : "done:");
  out.push(...table(["FILE", "ACTION"], r.files.map((f) => [f.path, f.action])).map((l) => `  ${l}`));
  for (const f of r.feeds) out.push(`  feed ${f.name}: ${f.action}`);
  for (const s of r.steps) out.push(`  ${s.ok ? "ok" : "FAILED"} ${s.step}: ${s.detail}`);
  if (r.token) out.push("", `API token ${r.token.name} (admin), shown this once:`, `  ${r.token.token}`);
  const next: Array<[string, string]> = [];
  if (a.auditRules && r.files.some((f) => f.path.endsWith("60-hv.rules") && f.action !== "unchanged")) next.push(["augenrules --load", "load the audit rules now"]);
  const stateDirFlag = paths.stateDir !== defaultStateDir() ? ` --state-dir ${paths.stateDir}` : "";
  if (a.feeds.length > 0) next.push([`hv feeds sync${stateDirFlag}`, "fetch the feeds once"]);
  if (a.service) next.push(["systemctl daemon-reload && systemctl enable --now hv-privileged.socket hv-monitor", "start the agent at boot and now"], ["log_group = hv in /etc/audit/auditd.conf", "the agent (user hv) reads the audit log; restart auditd"]);
  const configFlag = paths.config !== DEFAULT_CONFIG_PATH ? ` --config ${paths.config}` : "";
  next.push([`hv doctor${configFlag}${stateDirFlag}`, "check the host again"], ["hv vm create NAME --template …", "your first VM (hv vm create --help)"], [`hv monitor${configFlag}`, "watch this host and its VMs live"]);
  out.push("", "next:", ...next.map(([cmd, why]) => `  ${cmd}\n      ${why}`));
  writeSafe(process.stdout, out.join("\n") + "\n");
}

/** The questions, each with the current answer as its default; undefined when the person cancels. */
async function wizard(q: Asker, start: SetupAnswers, paths: SetupPaths, nixos: boolean, survey: HostSurvey, uri: string): Promise<SetupAnswers | undefined> {
  const say = (text = ""): void => printErr(text);
  const a: SetupAnswers = structuredClone(start);

  say(`hv setup: the answers are kept in ${paths.config}${nixos ? " (NixOS: printed as module options)" : ""}; Enter keeps the one in [brackets].`);
  say();
  say("1. This host and its audit rules");
  for (const line of surveyText(survey)) say(`   ${line}`);
  const installed = existsSync(join(paths.root, "etc/audit/rules.d/60-hv.rules"));
  a.auditRules = await q.confirm(`   Install hv's rules as /etc/audit/rules.d/60-hv.rules${installed ? " (installed now)" : ""}?`, a.auditRules);

  say("2. Mode: what hv does when a playbook matches an alert");
  for (const line of playbookRiskLines(await setup.shippedPlaybookSummaries())) say(`   ${line}`);
  say("   monitor     the playbooks only record what they would do; nothing changes (start here)");
  say("   interactive their actions wait for a person: hv actions approve ID (or deny)");
  say("   automatic   their actions run at once, with the risks above; allowlists still win");
  for (;;) {
    const m = (await q.ask("   Mode (monitor, interactive, automatic)", a.mode)).trim();
    if (!(setup.SETUP_MODES as readonly string[]).includes(m)) {
      say("   one of monitor, interactive, automatic");
      continue;
    }
    if (m === "automatic" && a.mode !== "automatic" && !(await q.confirm("   Automatic acts on VMs without asking anyone. Sure?", false))) continue;
    a.mode = m as SetupMode;
    break;
  }

  say();
  say("3. Allowlists: never acted against, whatever a playbook says");
  a.allowlist.networks = await askList(q, say, "   Management networks (CIDRs)", a, (x, v) => (x.allowlist.networks = v), "allowlist.networks");
  a.allowlist.users = await askList(q, say, "   Admin users", a, (x, v) => (x.allowlist.users = v), "allowlist.users");
  const vms = await vmNames(uri);
  a.allowlist.vms = await askList(q, say, `   Critical VMs${vms.length ? ` (VMs here: ${vms.slice(0, 8).join(", ")}${vms.length > 8 ? ", …" : ""})` : ""}`, a, (x, v) => (x.allowlist.vms = v), "allowlist.vms");

  say();
  say("4. Threat feeds (synced on their schedule; their hits are alerts)");
  for (const p of FEED_PRESETS) say(`   ${p.name.padEnd(16)} ${p.about}`);
  a.feeds = await askList(q, say, "   Feeds", a, (x, v) => (x.feeds = v), "feeds");

  say();
  say("5. Where alerts go (besides hv alerts list and the live view)");
  a.sinks.jsonl = await askSink(q, say, a, "jsonl", "   JSON lines file (path)");
  a.sinks.syslog = await askSink(q, say, a, "syslog", "   Syslog over UDP (host:port)");
  a.sinks.webhook = await askSink(q, say, a, "webhook", "   Webhook (Slack or JSON URL)");
  a.sinks.alertmanager = await askSink(q, say, a, "alertmanager", "   Alertmanager (URL)");
  for (const k of ["jsonl", "syslog", "webhook", "alertmanager"] as const) if (a.sinks[k] === undefined) delete a.sinks[k];

  say();
  say("6. REST API and metrics");
  a.api.enabled = await q.confirm("   Serve the REST API (and /metrics) from the agent?", a.api.enabled);
  if (a.api.enabled) {
    a.api.host = await q.ask("   Listen address (anything but loopback needs a token)", a.api.host);
    for (;;) {
      const port = Number(await q.ask("   Port", String(a.api.port)));
      if (Number.isInteger(port) && port >= 1 && port <= 65535) {
        a.api.port = port;
        break;
      }
      say("   a port from 1 to 65535");
    }
    a.api.createToken = await q.confirm("   Create an admin API token now (shown once)?", a.api.createToken || !["127.0.0.1", "::1", "localhost"].includes(a.api.host));
  }

  if (!nixos) {
    say();
    say("7. Services");
    a.service = await q.confirm("   Install the systemd units (hv-monitor as user hv, hv-privileged) and user hv?", a.service);
  }

  say();
  if (!existsSync(paths.config)) say(`The answers (a first configuration):\n${Object.entries(answerTexts(a)).map(([k, v]) => `  ${k}: ${v}`).join("\n")}`);
  else {
    const changes = describeChanges(start, a);
    say(changes.length > 0 ? `Changes:\n${changes.map((c) => `  ${c}`).join("\n")}` : "No answer changed.");
  }
  return (await q.confirm(nixos ? "Print the NixOS options?" : `Write ${paths.config} and the rest?`, true)) ? a : undefined;
}

/** A comma list, asked again until answerProblems has nothing to say about `field`. */
async function askList(q: Asker, say: (t: string) => void, question: string, a: SetupAnswers, put: (x: SetupAnswers, v: string[]) => void, field: string): Promise<string[]> {
  const now = structuredClone(a);
  const current = field === "feeds" ? a.feeds : a.allowlist[field.split(".")[1] as "networks" | "users" | "vms"];
  for (;;) {
    const text = await q.ask(`${question} (comma separated; - for none)`, current.join(","));
    const items = text.trim() === "-" ? [] : text.split(",").map((s) => s.trim()).filter(Boolean);
    put(now, items);
    const p = setup.answerProblems(now).find((x) => x.startsWith(field));
    if (!p) return items;
    say(`   ${p}`);
  }
}

async function askSink(q: Asker, say: (t: string) => void, a: SetupAnswers, k: "jsonl" | "syslog" | "webhook" | "alertmanager", question: string): Promise<string | undefined> {
  for (;;) {
    const text = (await q.ask(`${question} (- for none)`, a.sinks[k] ?? "")).trim();
    const value = text === "" || text === "-" ? undefined : text;
    const p = setup.answerProblems({ ...a, sinks: { ...a.sinks, [k]: value } }).find((x) => x.startsWith(`sinks.${k}`));
    if (!p) return value;
    say(`   ${p}`);
  }
}

/** The VMs libvirt knows here, as hints; none when it cannot be asked. */
async function vmNames(uri: string): Promise<string[]> {
  try {
    return (await new VirshBackend({ uri }).listDomains({ all: true })).map((d) => d.name);
  } catch {
    return [];
  }
}

/** Each answer as people read it. */
function answerTexts(a: SetupAnswers): Record<string, string> {
  return {
    "audit rules": a.auditRules ? "install" : "no",
    mode: a.mode,
    "allowlist networks": a.allowlist.networks.join(", ") || "-",
    "allowlist users": a.allowlist.users.join(", ") || "-",
    "critical VMs": a.allowlist.vms.join(", ") || "-",
    feeds: a.feeds.join(", ") || "-",
    "jsonl sink": a.sinks.jsonl ?? "-",
    "syslog sink": a.sinks.syslog ?? "-",
    "webhook sink": a.sinks.webhook ?? "-",
    "alertmanager sink": a.sinks.alertmanager ?? "-",
    api: a.api.enabled ? `${a.api.host}:${a.api.port}${a.api.createToken ? " + new token" : ""}` : "off",
    services: a.service ? "install" : "no",
  };
}

/** One line per answer that differs from before. */
function describeChanges(before: SetupAnswers, after: SetupAnswers): string[] {
  const b = answerTexts(before);
  return Object.entries(answerTexts(after))
    .filter(([k, v]) => b[k] !== v)
    .map(([k, v]) => `${k}: ${b[k]} -> ${v}`);
}
