import { parseAlert } from "../events/alert-schema.js";
import { InputError, MAX_DOCUMENT_BYTES, readTextCapped } from "../events/input.js";
import { existsSync } from "node:fs";
import Database from "better-sqlite3";
import type { Command } from "commander";
import { activeEnforcements, quarantinesSince } from "../store/enforcements.js";
import type { Alert } from "../events/alert.js";
import { targetKey } from "../playbooks/action.js";
import { playbookPaths, readConfig, responseSettings, stateDirOf, type CliOptions } from "../agent/response-context.js";
import { formatDuration } from "../events/duration.js";
import { responseAllowlist } from "../playbooks/env.js";
import { formatProblem, loadPlaybooks, type LoadedPlaybooks } from "../playbooks/load.js";
import { matchAlert } from "../playbooks/match.js";
import { planPlaybook } from "../playbooks/plan.js";
import { createRegistry } from "../playbooks/registry.js";
import { DEFAULT_MAX_QUARANTINES_PER_HOUR } from "../playbooks/safety.js";
import type { Playbook, PlaybookMatch } from "../playbooks/schema.js";
import { LineWriter } from "./output.js";
import { writeSafe } from "../events/terminal.js";
import { storePath } from "../store/open.js";

interface Common extends CliOptions {
  json?: boolean;
}

function common(cmd: Command): Command {
  return cmd
    .option("--state-dir <dir>", "where the store lives (read only, by test, for the hourly quarantine limit)")
    .option("--config <file>", "YAML config: its `playbooks` paths and `response` settings")
    .option("--json", "JSON output");
}

function load(paths: string[], opts: Common): LoadedPlaybooks & { paths: string[] } {
  const config = readConfig(opts);
  const p = playbookPaths(paths, config);
  return { ...loadPlaybooks(p, createRegistry()), paths: p };
}

export function registerPlaybooks(program: Command): void {
  const pb = program.command("playbooks").description("response playbooks: list, check, test against an alert, and the actions they can use");
  pb.addHelpText(
    "after",
    `
Examples:
  hv playbooks list                          hv's shipped playbooks (all in monitor mode) or the config's
  hv playbooks check /etc/hv/playbooks/      every error with file:line and field; exit 1 on errors
  hv alerts show 42 --json > a.json && hv playbooks test --alert a.json
  hv playbooks actions

Format, modes and safety: docs/playbooks.md.`,
  );

  common(pb.command("list [paths...]"))
    .description("the playbooks hv would load (from PATHS, else the config's playbooks, else the shipped ones)")
    .addHelpText("after", "\nExamples:\n  hv playbooks list\n  hv playbooks list ./my-playbooks --json | jq -r .id")
    .action(async (paths: string[], opts: Common) => {
      const r = load(paths, opts);
      const out = new LineWriter();
      if (!opts.json) out.line(`${"ID".padEnd(24)} ${"MODE".padEnd(11)} ${"ON".padEnd(3)} ${"MATCH".padEnd(44)} ACTIONS`);
      for (const p of r.playbooks) out.line(opts.json ? JSON.stringify(playbookJson(p)) : formatPlaybookLine(p));
      if (!opts.json && r.playbooks.length === 0) out.line(`no playbooks in ${r.paths.join(", ")}`);
      await out.end();
      for (const p of r.problems) writeSafe(process.stderr, `${formatProblem(p)}\n`);
      if (r.skipped > 0) writeSafe(process.stderr, `${r.skipped} playbook(s) skipped because of errors (hv playbooks check)\n`);
    });

  common(pb.command("check [paths...]"))
    .description("validate playbooks: every error with file:line and field; exit code 1 when any")
    .addHelpText("after", "\nExamples:\n  hv playbooks check\n  hv playbooks check /etc/hv/playbooks/ ./new.yml\n  hv playbooks check --json | jq '.problems[]'")
    .action((paths: string[], opts: Common) => {
      const r = load(paths, opts);
      if (opts.json) {
        writeSafe(process.stdout, JSON.stringify({ files: r.files.length, playbooks: r.playbooks.length, skipped: r.skipped, problems: r.problems }) + "\n");
      } else {
        for (const p of r.problems) writeSafe(process.stdout, `${formatProblem(p)}\n`);
        writeSafe(process.stdout, `${r.playbooks.length} playbook(s) OK in ${r.files.length} file(s)${r.skipped ? `, ${r.skipped} with errors` : ""}\n`);
      }
      if (r.problems.length > 0) process.exitCode = 1;
    });

  common(pb.command("test"))
    .description("which playbooks match an alert and what each would do (targets, refusals); changes nothing")
    .requiredOption("--alert <file>", "an alert as JSON (hv alerts show ID --json), or JSON lines of alerts")
    .option("--playbooks <paths...>", "playbook files/directories (default: the config's, else the shipped ones)")
    .addHelpText(
      "after",
      `
Examples:
  hv alerts show 42 --json > alert.json
  hv playbooks test --alert alert.json
  hv playbooks test --alert alert.json --playbooks ./mine/ --config /etc/hv/hv.yaml --json

Evaluated: match, target, allowlist (the config's), mode, always_confirm, delay, and the hourly
quarantine limit from the store (opened read-only) when one exists. Not evaluated:
cooldown and rate limit (they depend on what ran before).`,
    )
    .action(async (opts: Common & { alert: string; playbooks?: string[] }) => {
      const config = readConfig(opts);
      const registry = createRegistry();
      const loaded = loadPlaybooks(playbookPaths(opts.playbooks ?? [], config), registry);
      for (const p of loaded.problems) writeSafe(process.stderr, `${formatProblem(p)}\n`);
      const alerts = readAlerts(opts.alert);
      const response = responseSettings(config);
      const quarantines = quarantineState(opts, config);
      const out = new LineWriter();
      for (const alert of alerts) {
        if (!opts.json) out.line(`alert ${alert.id ?? "-"}: ${alert.rule.title} [${alert.rule.id}] ${alert.entity.kind}=${alert.entity.id}`);
        for (const p of loaded.playbooks) {
          const m = matchAlert(p.match, alert);
          if (!m.matched || !p.enabled) {
            if (opts.json) out.line(JSON.stringify({ alert: alert.id ?? null, playbook: p.id, matched: m.matched, enabled: p.enabled, misses: m.misses }));
            else out.line(`  ${p.id}: ${!p.enabled ? "disabled" : `no match (${m.misses.join("; ")})`}`);
            continue;
          }
          const plan = planPlaybook(p, alert, {
            registry,
            allowlist: responseAllowlist(config),
            responseMode: response.mode ?? "playbooks",
            alwaysConfirm: new Set(response.alwaysConfirm ?? []),
            quarantinesLastHour: quarantines.lastHour,
            maxQuarantinesPerHour: response.maxQuarantinesPerHour ?? DEFAULT_MAX_QUARANTINES_PER_HOUR,
            isQuarantined: quarantines.isQuarantined,
            now: Date.now(),
          });
          const steps = plan.map((s) => ({ action: s.step.action, status: s.status, target: s.target ? targetKey(s.target) : null, reason: s.reason, params: s.step.params, ...(s.step.ttlMs !== undefined ? { ttl: formatDuration(s.step.ttlMs) } : {}) }));
          if (opts.json) out.line(JSON.stringify({ alert: alert.id ?? null, playbook: p.id, matched: true, enabled: true, mode: plan[0]?.mode ?? p.mode, actions: steps }));
          else {
            out.line(`  ${p.id}: MATCH (mode ${plan[0]?.mode ?? p.mode})`);
            for (const s of steps) out.line(`    ${s.action.padEnd(16)} ${s.status.padEnd(9)} ${(s.target ?? "-").padEnd(22)} ${s.reason}${s.ttl ? ` (ttl ${s.ttl})` : ""}`);
          }
        }
      }
      await out.end();
    });

  pb.command("actions")
    .description("the actions a playbook can list, with whether and how each is undone")
    .option("--json", "one JSON object per action")
    .addHelpText("after", "\nExamples:\n  hv playbooks actions\n  hv playbooks actions --json")
    .action(async (opts: { json?: boolean }) => {
      const out = new LineWriter();
      for (const d of createRegistry().values()) {
        out.line(opts.json ? JSON.stringify({ name: d.name, summary: d.summary, risk: d.risk, reversible: d.reversible ? d.reversible.how : null }) : `${d.name.padEnd(18)} ${d.reversible ? "reversible" : "one-way   "} ${d.summary}`);
      }
      await out.end();
    });
}

/** The store's quarantine state, read-only (test changes nothing), when a store exists. */
function quarantineState(opts: Common, config: ReturnType<typeof readConfig>): { lastHour: number; isQuarantined(vm: string): boolean } {
  const path = storePath(stateDirOf(opts, config));
  const none = { lastHour: 0, isQuarantined: () => false };
  if (!existsSync(path)) return none;
  try {
    const db = new Database(path, { readonly: true, fileMustExist: true });
    const active = new Set(activeEnforcements(db, "quarantine").map((e) => e.target));
    const lastHour = quarantinesSince(db, Date.now() - 3_600_000);
    db.close();
    return { lastHour, isQuarantined: (vm) => active.has(vm) };
  } catch {
    return none;
  }
}

/** The alerts of a file: one JSON alert, a JSON array of them, or JSON lines; anything else is an InputError naming the place. */
export function readAlerts(file: string): Alert[] {
  const text = readTextCapped(file, MAX_DOCUMENT_BYTES, file).trim();
  if (text === "") throw new InputError(`${file}: empty: give an alert as JSON (hv alerts show ID --json prints one)`);
  const docs: Array<{ where: string; value: unknown }> = [];
  let whole: unknown;
  let isWhole = true;
  try {
    whole = JSON.parse(text) as unknown;
  } catch {
    isWhole = false;
  }
  if (isWhole) {
    const list = Array.isArray(whole) ? whole : [whole];
    if (list.length === 0) throw new InputError(`${file}: an empty list: no alert to test`);
    list.forEach((value, i) => docs.push({ where: Array.isArray(whole) ? `${file}: alert ${i + 1}` : file, value }));
  } else {
    text.split("\n").forEach((line, i) => {
      if (line.trim() === "") return;
      try {
        docs.push({ where: `${file}:${i + 1}`, value: JSON.parse(line) as unknown });
      } catch (err) {
        throw new InputError(`${file}:${i + 1}: not JSON: ${(err as Error).message}`);
      }
    });
  }
  return docs.map(({ where, value }) => {
    const r = parseAlert(value);
    if (!r.ok) throw new InputError(`${where}: not an alert (as hv alerts show ID --json prints): ${r.problems.slice(0, 5).join("; ")}`);
    return r.alert;
  });
}

function matchText(m: PlaybookMatch): string {
  const parts: string[] = [];
  if (m.rules) parts.push(`rules=${m.rules.length > 2 ? `${m.rules.length} rules` : m.rules.join(",")}`);
  if (m.tags) parts.push(`tags=${m.tags.join(",")}`);
  if (m.techniques) parts.push(`techniques=${m.techniques.join(",")}`);
  if (m.minSeverity) parts.push(`severity>=${m.minSeverity}`);
  if (m.minAnomalyScore) parts.push("ratio" in m.minAnomalyScore ? `anomaly>=${m.minAnomalyScore.ratio}x` : `anomaly>=${m.minAnomalyScore.absolute}`);
  if (m.feeds) parts.push(`feeds=${m.feeds === "any" ? "any" : m.feeds.join(",")}`);
  if (m.entity) parts.push(`entity=${m.entity.join(",")}`);
  if (m.vms) parts.push(`vms=${m.vms.join(",")}`);
  return parts.join(" ");
}

function formatPlaybookLine(p: Playbook): string {
  const acts = p.steps.map((s) => `${s.action}${s.ttlMs !== undefined ? `(ttl ${formatDuration(s.ttlMs)})` : ""}${s.alwaysConfirm ? "(confirm)" : ""}`).join(" → ");
  return `${p.id.padEnd(24)} ${p.mode.padEnd(11)} ${(p.enabled ? "yes" : "no").padEnd(3)} ${matchText(p.match).padEnd(44)} ${acts}`;
}

function playbookJson(p: Playbook): Record<string, unknown> {
  return {
    id: p.id,
    title: p.title,
    enabled: p.enabled,
    mode: p.mode,
    match: p.match,
    actions: p.steps.map((s) => ({ action: s.action, params: s.params, ...(s.ttlMs !== undefined ? { ttl: formatDuration(s.ttlMs) } : {}), alwaysConfirm: s.alwaysConfirm })),
    cooldown: formatDuration(p.cooldownMs),
    ...(p.rateLimit ? { rateLimit: `${p.rateLimit.count}/${formatDuration(p.rateLimit.windowMs)}` } : {}),
    ...(p.delayMs ? { delay: formatDuration(p.delayMs) } : {}),
    file: p.file,
    line: p.line,
  };
}
