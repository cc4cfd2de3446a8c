import { existsSync } from "node:fs";
import type { Command } from "commander";
import { loadAgentConfig } from "../agent/config.js";
import { syncFirewall } from "../firewall/sync.js";
import { buildAllowlist } from "../events/allowlist.js";
import { tapsFromLibvirt } from "../playbooks/env.js";
import { VirshBackend } from "../vm/virsh.js";
import { libvirtTaps } from "../firewall/devices.js";
import { flushHvTables } from "../firewall/reconcile.js";
import { DEFAULT_TABLES, type NftOptions } from "../firewall/state.js";
import { readStatus, type FirewallStatus } from "../firewall/status.js";
import { openStateStore, openStore, stateDirOf, storePath } from "../store/open.js";
import { activeEnforcements } from "../store/enforcements.js";
import { listFeeds } from "../store/feeds.js";
import { emit, table } from "./vm.js";

// `hv firewall`: hv's own nftables tables (inet hv, netdev hv) — what they hold, bringing them in
// line with the store, removing them. No other table is ever read or written.

interface FwOptions {
  json?: boolean;
  netns?: string;
  table?: string;
}

function nftOptions(opts: FwOptions): NftOptions {
  return { ...(opts.netns ? { netns: opts.netns } : {}), tables: opts.table ? { inet: opts.table, netdev: opts.table } : DEFAULT_TABLES };
}

function common(cmd: Command): Command {
  return cmd
    .option("--json", "print the result as JSON")
    .option("--netns <name>", "work in this network namespace (ip netns exec NAME nft …)")
    .option("--table <name>", "name of hv's inet and netdev tables", DEFAULT_TABLES.inet);
}

export function registerFirewall(program: Command): void {
  const fw = program.command("firewall").description("hv's nftables tables: feed blocklists, VM quarantines, blocked addresses, VM rate limits");
  fw.addHelpText(
    "after",
    `
Examples:
  hv firewall status                       feeds, quarantines, blocks, rate limits; packets/bytes matched or dropped
  hv firewall status --json
  hv firewall reconcile                    apply what the store says (block feeds, enforcements), taps vnetN found here
  hv firewall reconcile --tap vnet0 --tap vnet3 --dry-run
  hv firewall flush                        remove hv's tables (and nothing else)`,
  );

  common(fw.command("status").description("tables, chains, sets; counters per feed, per quarantined or rate-limited VM, for blocked addresses"))
    .option("--state-dir <dir>", "where the store lives: says whether tables that are absent should exist")
    .addHelpText("after", "\nExamples:\n  hv firewall status\n  hv firewall status --json | jq '.quarantines'\n  hv firewall status --netns lab")
    .action(async (opts: FwOptions & { stateDir?: string }) => {
      const status = await readStatus(nftOptions(opts));
      emit(opts, status, formatStatus(status, () => storeWants(stateDirOf(opts.stateDir))));
    });

  common(fw.command("reconcile").description("make hv's tables hold the store's enabled block feeds and active enforcements (no-op when they already do)"))
    .option("--state-dir <dir>", "where the store lives (default: the config's stateDir, else hv's default state directory)")
    .option("--config <file>", "agent config: its stateDir, and its response.allowlist is left out of the tables (default $HV_CONFIG, else /etc/hv/hv.yaml when it exists)")
    .option("--tap <dev...>", "VM tap devices for feeds on the taps path and blocks (default: the vnetN devices present)")
    .option("--dry-run", "say what would be written, write nothing")
    .addHelpText(
      "after",
      "\nQuarantined and rate-limited VMs get the taps libvirt reports for them now, else the taps stored\nwith the enforcement. Allowlisted VMs and addresses (config response.allowlist, plus this host's\naddresses and management network) are never put in the tables.\n\nExamples:\n  hv firewall reconcile\n  hv firewall reconcile --json\n  hv firewall reconcile --tap vnet0 --dry-run",
    )
    .action(async (opts: FwOptions & { stateDir?: string; config?: string; tap?: string[]; dryRun?: boolean }) => {
      const nft = nftOptions(opts);
      const taps = opts.tap ?? (await libvirtTaps(nft));
      const config = opts.config ? loadAgentConfig(opts.config) : {};
      const allowlist = buildAllowlist(config.response?.allowlist ?? {});
      const db = openStateStore(stateDirOf(opts.stateDir, config));
      try {
        const r = await syncFirewall(db, { ...nft, taps, allowlist, vmTaps: libvirtVmTaps, dryRun: opts.dryRun });
        const lines = [`${opts.dryRun ? "would be " : ""}${r.action}${r.reason ? `: ${r.reason}` : ""}${r.updatedSets.length ? `: ${r.updatedSets.join(", ")}` : ""} (${r.commands} nft commands, ${r.ms} ms)`];
        if (r.missingTaps.length) lines.push(`taps not present, left out: ${r.missingTaps.join(", ")}`);
        for (const s of r.skipped.slice(0, 10)) lines.push(`skipped ${s.feed ?? `${s.enforcement?.kind} ${s.enforcement?.target}`}: ${s.value} (${s.reason})`);
        if (r.skipped.length > 10) lines.push(`… ${r.skipped.length - 10} more skipped`);
        emit(opts, r, lines);
      } finally {
        db.close();
      }
    });

  common(fw.command("flush").description("remove hv's tables (inet and netdev); other tables are not touched"))
    .addHelpText("after", "\nExamples:\n  hv firewall flush\n  hv firewall flush --netns lab --json")
    .action(async (opts: FwOptions) => {
      const nft = nftOptions(opts);
      await flushHvTables(nft);
      emit(opts, { flushed: [`inet ${nft.tables!.inet}`, `netdev ${nft.tables!.netdev}`] }, `removed inet ${nft.tables!.inet} and netdev ${nft.tables!.netdev}`);
    });
}

/** A VM's taps as libvirt reports them now; undefined (use the stored taps) when libvirt cannot tell. */
async function libvirtVmTaps(vm: string): Promise<string[] | undefined> {
  try {
    return await tapsFromLibvirt(new VirshBackend(), vm);
  } catch {
    return undefined;
  }
}

/**
 * What the store asks hv's tables to hold: enabled block feeds and active enforcements. Without
 * tables that is the difference between "all released, nothing to do" and "reconcile needed".
 */
function storeWants(stateDir: string): { feeds: number; enforcements: number } | undefined {
  const path = storePath(stateDir);
  if (!existsSync(path)) return { feeds: 0, enforcements: 0 };
  try {
    const db = openStore(path);
    try {
      return { feeds: listFeeds(db).filter((f) => f.enabled && f.action === "block").length, enforcements: activeEnforcements(db).length };
    } finally {
      db.close();
    }
  } catch {
    return undefined;
  }
}

function formatStatus(s: FirewallStatus, wants: () => { feeds: number; enforcements: number } | undefined): string[] {
  const lines = [`tables: ${s.tables.map((t) => `${t.family} ${t.name} (${t.present ? "present" : "absent"})`).join(", ")}${s.netns ? `  [netns ${s.netns}]` : ""}`];
  if (!s.tables.some((t) => t.present)) {
    const w = wants();
    if (w === undefined) return [...lines, "hv has no tables here (the store could not be read to say whether it should): hv firewall reconcile --dry-run tells"];
    if (w.feeds + w.enforcements === 0) return [...lines, "hv has no tables here, and the store has nothing to enforce (no block feed, no quarantine, block or rate limit): nothing to do"];
    return [...lines, `hv has no tables here, but the store has ${w.feeds} block feed(s) and ${w.enforcements} enforcement(s): run hv firewall reconcile`];
  }
  lines.push("");
  lines.push(
    ...(s.feeds.length
      ? table(["FEED", "MODE", "PATHS", "V4", "V6", "PACKETS", "BYTES"], s.feeds.map((f) => [f.feed, f.mode, f.paths.join(","), String(f.v4Elements), String(f.v6Elements), String(f.packets), String(f.bytes)]))
      : ["no feed rules"]),
  );
  if (s.quarantines.length) {
    lines.push("", ...table(["QUARANTINED VM", "TAPS", "KEEP", "DROPPED PACKETS", "DROPPED BYTES"], s.quarantines.map((q) => [q.vm, q.taps.join(","), q.keep.join(",") || "-", String(q.packets), String(q.bytes)])));
  }
  if (s.blocks) {
    const b = s.blocks;
    lines.push("", ...table(["BLOCKED", "V4", "V6", "PATHS", "DROPPED PACKETS", "DROPPED BYTES"], [["block_ip", String(b.v4Elements), String(b.v6Elements), b.paths.join(","), String(b.packets), String(b.bytes)]]));
  }
  if (s.rateLimits.length) {
    lines.push("", ...table(["RATE-LIMITED VM", "TAPS", "BYTES/S", "DROPPED PACKETS", "DROPPED BYTES"], s.rateLimits.map((r) => [r.vm, r.taps.join(","), String(r.bytesPerSecond), String(r.packets), String(r.bytes)])));
  }
  lines.push("", ...table(["TABLE", "CHAIN", "HOOK", "PRIO", "POLICY", "RULES"], s.chains.map((c) => [c.table, c.name, c.hook + (c.dev ? ` ${c.dev}` : ""), String(c.prio), c.policy, String(c.rules)])));
  if (s.rules.length) {
    lines.push("", ...table(["TABLE", "CHAIN", "FOR", "DIR", "FAMILY", "MODE", "PACKETS", "BYTES"], s.rules.map((r) => [r.table, r.chain, r.foreign ? "(not hv's)" : ruleOwner(r), r.dir ?? "", r.family ?? "", r.mode ?? r.verdict ?? "", String(r.packets), String(r.bytes)])));
  }
  const foreign = s.rules.filter((r) => r.foreign).length;
  if (foreign) lines.push("", `${foreign} rule(s) hv did not write: hv firewall reconcile removes them`);
  return lines;
}

function ruleOwner(r: FirewallStatus["rules"][number]): string {
  if (r.kind === "feed") return r.feed ?? "";
  if (r.kind === "quarantine") return `quarantine ${r.vm}`;
  if (r.kind === "ratelimit") return `ratelimit ${r.vm}`;
  return "block";
}
