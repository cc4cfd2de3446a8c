import type { Command } from "commander";
import { openResponse, type CliOptions } from "../agent/response-context.js";
import { actingUser } from "../events/actor.js";
import { DURATION_HINT, parsePlaybookDuration } from "../playbooks/duration.js";
import { InputError } from "../events/input.js";
import { releaseQuarantineByHand } from "../playbooks/release.js";
import { activeEnforcements, type Enforcement } from "../store/enforcements.js";
import { checkName } from "../vm/names.js";
import { LineWriter } from "./output.js";
import { writeSafe } from "../events/terminal.js";

interface Common extends CliOptions {
  json?: boolean;
  by?: string;
}

function common(cmd: Command): Command {
  return cmd
    .option("--state-dir <dir>", "where the store lives (default: the config's stateDir, else hv's default)")
    .option("--config <file>", "YAML config (response: allowlist, limits; firewall)")
    .option("--json", "JSON output");
}

function collect(value: string, previous: string[] = []): string[] {
  return [...previous, ...value.split(",").map((s) => s.trim()).filter((s) => s !== "")];
}

export function registerQuarantine(program: Command): void {
  const q = program.command("quarantine").description("VMs cut off from the network: list, add, release");
  q.addHelpText(
    "after",
    `
Examples:
  hv quarantine list
  sudo hv quarantine add web1 --ttl 1h --keep 10.0.0.5
  sudo hv quarantine release web1

A quarantine is held in hv's store and applied to nftables by every hv process (the agent
reconciles at start), so it survives restarts; a TTL keeps running across them. Allowlisted VMs
and the hourly quarantine limit apply to quarantines by hand too (docs/playbooks.md).`,
  );

  common(q.command("list"))
    .description("quarantines in force")
    .addHelpText("after", "\nExamples:\n  hv quarantine list\n  hv quarantine list --json | jq -r .vm")
    .action(async (opts: Common) => {
      const ctx = openResponse(opts);
      const rows = activeEnforcements(ctx.db, "quarantine");
      await ctx.close();
      const out = new LineWriter();
      if (!opts.json) out.line(`${"VM".padEnd(24)} ${"SINCE".padEnd(19)} ${"EXPIRES".padEnd(19)} ${"BY".padEnd(24)} ${"ACTION".padStart(6)} KEEPS`);
      for (const e of rows) out.line(opts.json ? JSON.stringify(quarantineJson(e)) : formatQuarantine(e));
      if (!opts.json && rows.length === 0) out.line("no VM is quarantined");
      await out.end();
    });

  common(q.command("release <vm>"))
    .description("end a VM's quarantine now: its traffic flows again (recorded as a release_vm action by you)")
    .option("--by <name>", "who releases it (default: $SUDO_USER, else you)")
    .addHelpText("after", "\nExamples:\n  sudo hv quarantine release web1\n  hv quarantine release web1 --by alice --json\nExit code 1 when the firewall could not be synced (the release is recorded; the agent applies it).")
    .action(async (vm: string, opts: Common) => {
      const ctx = openResponse(opts);
      const by = opts.by ?? actingUser();
      try {
        const done = await releaseQuarantineByHand(ctx.db, ctx.env, vm, by);
        if (!done) throw new Error(`${vm} is not quarantined (hv quarantine list)`);
        writeSafe(process.stdout, opts.json ? JSON.stringify(done.row) + "\n" : `${done.row.result ?? ""} (action ${done.row.id})\n`);
        if (!done.synced) process.exitCode = 1;
      } finally {
        await ctx.close();
      }
    });

  common(q.command("add <vm>"))
    .description("quarantine a VM by hand (through the response engine: the allowlist and the hourly limit apply)")
    .option("--ttl <duration>", "release it after this long (30m, 2h, 1d); default: until released")
    .option("--keep <addr>", "an address/CIDR the VM may still reach (comma list, repeatable)", collect)
    .option("--by <name>", "who quarantines it (default: $SUDO_USER, else you)")
    .addHelpText("after", "\nExamples:\n  sudo hv quarantine add web1\n  sudo hv quarantine add web1 --ttl 2h --keep 10.0.0.5,10.0.0.6\nExit code 1 when it was refused or failed.")
    .action(async (vm: string, opts: Common & { ttl?: string; keep?: string[] }) => {
      checkName(vm, "VM name");
      const ttlMs = opts.ttl === undefined ? undefined : parsePlaybookDuration(opts.ttl);
      if (opts.ttl !== undefined && ttlMs === undefined) throw new InputError(`--ttl ${DURATION_HINT}, got ${JSON.stringify(opts.ttl)}`);
      const ctx = openResponse(opts);
      try {
        const a = await ctx.responder.act({
          action: "quarantine_vm",
          target: { kind: "vm", name: vm },
          params: opts.keep?.length ? { keep: opts.keep } : {},
          ...(ttlMs !== undefined ? { ttlMs } : {}),
          by: opts.by ?? actingUser(),
        });
        writeSafe(process.stdout, opts.json ? JSON.stringify(a) + "\n" : `action ${a.id} quarantine_vm on ${vm}: ${a.status}${a.result ? ` — ${a.result}` : ""}\n`);
        if (a.status !== "done") process.exitCode = 1;
      } finally {
        await ctx.close();
      }
    });
}

const time = (ms: number | null): string => (ms === null ? "-" : new Date(ms).toISOString().slice(0, 19).replace("T", " "));

function quarantineJson(e: Enforcement): Record<string, unknown> {
  return { vm: e.target, since: e.created, expires: e.expires, by: e.createdBy, action: e.actionId, keep: e.detail.keep ?? [], taps: e.detail.taps ?? [], enforcement: e.id };
}

function formatQuarantine(e: Enforcement): string {
  const keep = Array.isArray(e.detail.keep) ? (e.detail.keep as string[]).join(",") : "";
  return `${e.target.padEnd(24)} ${time(e.created).padEnd(19)} ${(e.expires === null ? "until released" : time(e.expires)).padEnd(19)} ${(e.createdBy ?? "-").padEnd(24)} ${String(e.actionId ?? "-").padStart(6)} ${keep || "-"}`;
}
