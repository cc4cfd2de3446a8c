import type { Command } from "commander";
import { ApprovalError } from "../playbooks/engine.js";
import { openResponse, type CliOptions } from "../agent/response-context.js";
import { actingUser } from "../events/actor.js";
import { positiveInt } from "../events/input.js";
import { ACTION_STATUSES, denyAction, getAction, listActions, OPEN_STATUSES, type ActionRecord } from "../store/actions.js";
import { LineWriter } from "./output.js";
import { writeSafe } from "../events/terminal.js";

interface Common extends CliOptions {
  json?: boolean;
}

const COMMON_HELP = "--state-dir and --config as for hv monitor";

function common(cmd: Command): Command {
  return cmd
    .option("--state-dir <dir>", "where the store lives (default: the config's stateDir, else hv's default)")
    .option("--config <file>", "YAML config (response: allowlist, limits; sinks; firewall)")
    .option("--json", "JSON output");
}

export function registerActions(program: Command): void {
  const actions = program.command("actions").description("what playbooks decided: list, show, approve, deny and undo actions");
  actions.addHelpText(
    "after",
    `
Examples:
  hv actions list                   actions waiting or running (pending, scheduled, approved, running)
  hv actions list --all --json
  hv actions show 12
  hv actions approve 12 --by alice  runs it now, in this process
  hv actions deny 13 --reason "backup job, not an attack"
  hv actions undo 12                reverses a done reversible action (release, unblock, resume)

Statuses: recorded (monitor: would have run), refused (allowlist, limit, rate limit, no target),
pending, approved, scheduled, running, done, failed, denied. Lifecycle: docs/playbooks.md.`,
  );

  common(actions.command("list"))
    .description("actions, oldest first; by default the ones still open")
    .option("--status <status>", `only this status: ${ACTION_STATUSES.join(", ")}`)
    .option("--all", "every action, whatever its status")
    .option("--limit <n>", "with --all: the newest N", "200")
    .addHelpText("after", `\nExamples:\n  hv actions list\n  hv actions list --status pending --json | jq .id\n  hv actions list --all --limit 50\n(${COMMON_HELP})`)
    .action(async (opts: Common & { status?: string; all?: boolean; limit: string }) => {
      if (opts.status && !(ACTION_STATUSES as readonly string[]).includes(opts.status)) throw new Error(`--status must be one of ${ACTION_STATUSES.join(", ")}`);
      const ctx = openResponse(opts);
      let rows: ActionRecord[];
      try {
        if (opts.status) rows = listActions(ctx.db, { status: opts.status });
        else if (opts.all) rows = listActions(ctx.db).slice(-positiveInt(opts.limit, "--limit"));
        else rows = listActions(ctx.db, { statuses: OPEN_STATUSES });
      } finally {
        await ctx.close();
      }
      const out = new LineWriter();
      if (!opts.json) out.line(`${"ID".padStart(5)} ${"CREATED".padEnd(19)} ${"STATUS".padEnd(9)} ${"MODE".padEnd(11)} ${"PLAYBOOK".padEnd(20)} ${"ACTION".padEnd(16)} ${"TARGET".padEnd(22)} RESULT`);
      for (const a of rows) out.line(opts.json ? JSON.stringify(a) : formatActionLine(a));
      if (!opts.json && rows.length === 0) out.line(opts.all || opts.status ? "no actions" : "no open actions (hv actions list --all shows every one)");
      await out.end();
    });

  common(actions.command("show <id>"))
    .description("one action in full")
    .addHelpText("after", `\nExamples:\n  hv actions show 12\n  hv actions show 12 --json\n(${COMMON_HELP})`)
    .action(async (id: string, opts: Common) => {
      const ctx = openResponse(opts);
      const a = getAction(ctx.db, parseId(id));
      await ctx.close();
      if (!a) throw new Error(`no action ${id} (hv actions list --all shows them)`);
      writeSafe(process.stdout, opts.json ? JSON.stringify(a) + "\n" : formatActionDetail(a));
    });

  common(actions.command("approve <id>"))
    .description("approve a pending action and run it now in this process (the allowlist and limits are checked again)")
    .option("--by <name>", "who approves (default: $SUDO_USER, else you)")
    .addHelpText("after", `\nExamples:\n  sudo hv actions approve 12\n  hv actions approve 12 --by alice --json\nExit code 1 when the action did not end done (refused, failed).\n(${COMMON_HELP})`)
    .action(async (id: string, opts: Common & { by?: string }) => {
      const ctx = openResponse(opts);
      try {
        const a = await ctx.responder.approve(parseId(id), opts.by ?? actingUser());
        writeSafe(process.stdout, opts.json ? JSON.stringify(a) + "\n" : `action ${a.id} ${a.action} on ${a.target ?? "-"}: ${a.status}${a.result ? ` — ${a.result}` : ""}\n`);
        if (a.status !== "done") process.exitCode = 1;
      } catch (err) {
        if (err instanceof ApprovalError) throw new Error(err.message);
        throw err;
      } finally {
        await ctx.close();
      }
    });

  common(actions.command("deny <id>"))
    .description("deny a pending or scheduled action: it never runs")
    .option("--by <name>", "who denies (default: $SUDO_USER, else you)")
    .option("--reason <text>", "why (recorded)")
    .addHelpText("after", `\nExamples:\n  hv actions deny 13\n  hv actions deny 13 --reason "planned maintenance" --by alice\n(${COMMON_HELP})`)
    .action(async (id: string, opts: Common & { by?: string; reason?: string }) => {
      const ctx = openResponse(opts);
      try {
        const n = parseId(id);
        const before = getAction(ctx.db, n);
        if (!before) throw new Error(`no action ${id}`);
        if (!denyAction(ctx.db, n, opts.by ?? actingUser(), opts.reason)) throw new Error(`action ${id} is ${before.status}; only a pending or scheduled action can be denied`);
        const a = getAction(ctx.db, n)!;
        writeSafe(process.stdout, opts.json ? JSON.stringify(a) + "\n" : `action ${id} denied (${a.result})\n`);
      } finally {
        await ctx.close();
      }
    });

  common(actions.command("undo <id>"))
    .description("reverse a done reversible action now (quarantine → release, block → unblock, …)")
    .option("--by <name>", "who undoes it (default: $SUDO_USER, else you)")
    .addHelpText("after", `\nExamples:\n  sudo hv actions undo 12\n  hv actions undo 12 --json\n(${COMMON_HELP})`)
    .action(async (id: string, opts: Common & { by?: string }) => {
      const ctx = openResponse(opts);
      try {
        const r = await ctx.responder.undo(parseId(id), `user:${opts.by ?? actingUser()}`);
        if (!r.ok) throw new Error(r.error);
        writeSafe(process.stdout, opts.json ? JSON.stringify(r.row) + "\n" : `action ${id} ${r.row.action} on ${r.row.target ?? "-"} undone\n`);
      } finally {
        await ctx.close();
      }
    });
}

export function parseId(id: string): number {
  return positiveInt(id, "action id");
}

const time = (ms: number | null): string => (ms === null ? "-" : new Date(ms).toISOString().slice(0, 19).replace("T", " "));

export function formatActionLine(a: ActionRecord): string {
  const status = a.undone !== null ? "undone" : a.status;
  const when = a.status === "scheduled" && a.notBefore !== null ? ` (at ${time(a.notBefore)})` : "";
  return `${String(a.id).padStart(5)} ${time(a.created).padEnd(19)} ${status.padEnd(9)} ${a.mode.padEnd(11)} ${a.playbook.padEnd(20)} ${a.action.padEnd(16)} ${(a.target ?? "-").padEnd(22)} ${(a.result ?? "").replace(/\s+/g, " ")}${when}`;
}

export function formatActionDetail(a: ActionRecord): string {
  const lines = [
    `action ${a.id}: ${a.action} on ${a.target ?? "-"}`,
    `  status     ${a.status}${a.undone !== null ? ` (undone ${time(a.undone)} by ${a.undoneBy ?? "?"})` : ""}`,
    `  playbook   ${a.playbook}   mode ${a.mode}${a.alertId !== null ? `   alert ${a.alertId} (hv alerts show ${a.alertId})` : ""}`,
    `  created    ${time(a.created)}${a.notBefore !== null ? `   not before ${time(a.notBefore)}` : ""}`,
  ];
  if (a.approvedBy) lines.push(`  decided by ${a.approvedBy}`);
  if (a.started !== null || a.finished !== null) lines.push(`  ran        ${time(a.started)} … ${time(a.finished)}${a.ownerPid !== null ? `   (process ${a.ownerPid})` : ""}`);
  if (a.params && Object.keys(a.params).length > 0) lines.push(`  params     ${JSON.stringify(a.params)}`);
  if (a.result) lines.push(`  result     ${a.result}`);
  if (a.expires !== null) lines.push(`  expires    ${time(a.expires)} (TTL: undone then)`);
  if (a.undo) lines.push(`  undo       ${a.undo}`);
  if (a.detail !== undefined) lines.push(`  detail     ${JSON.stringify(a.detail)}`);
  return lines.join("\n") + "\n";
}
