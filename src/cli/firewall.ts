import { join } from "node:path";
import type { Command } from "commander";
import { defaultStateDir } from "../agent/config.js";
import { syncFirewall } from "../agent/firewall-sync.js";
import { libvirtTaps } from "../firewall/devices.js";
import { flushHvTables } from "../firewall/reconcile.js";
import { DEFAULT_TABLES, type NftOptions } from "../firewall/state.js";
import { readStatus, type FirewallStatus } from "../firewall/status.js";
import { openStore } from "../store/open.js";
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
  const fw = program.command("firewall").description("hv's nftables tables: feed blocklists on the host paths and VM taps");
  fw.addHelpText(
    "after",
    `
Examples:
  hv firewall status                       feeds, modes, element counts, packets/bytes matched
  hv firewall status --json
  hv firewall reconcile                    apply what the store says (block feeds), taps vnetN found here
  hv firewall reconcile --tap vnet0 --tap vnet3 --dry-run
  hv firewall flush                        remove hv's tables (and nothing else)`,
  );

  common(fw.command("status").description("tables, chains, sets and per-feed counters"))
    .addHelpText("after", "\nExamples:\n  hv firewall status\n  hv firewall status --json | jq '.feeds'\n  hv firewall status --netns lab")
    .action(async (opts: FwOptions) => {
      const status = await readStatus(nftOptions(opts));
      emit(opts, status, formatStatus(status));
    });

  common(fw.command("reconcile").description("make hv's tables hold the enabled block feeds of the store (no-op when they already do)"))
    .option("--state-dir <dir>", "where the store lives", defaultStateDir())
    .option("--tap <dev...>", "VM tap devices for feeds on the taps path (default: the vnetN devices present)")
    .option("--dry-run", "say what would be written, write nothing")
    .addHelpText("after", "\nExamples:\n  hv firewall reconcile\n  hv firewall reconcile --json\n  hv firewall reconcile --tap vnet0 --dry-run")
    .action(async (opts: FwOptions & { stateDir: string; tap?: string[]; dryRun?: boolean }) => {
      const nft = nftOptions(opts);
      const taps = opts.tap ?? (await libvirtTaps(nft));
      const db = openStore(join(opts.stateDir, "hv.db"));
      try {
        const r = await syncFirewall(db, { ...nft, taps, dryRun: opts.dryRun });
        const lines = [`${opts.dryRun ? "would be " : ""}${r.action}${r.reason ? `: ${r.reason}` : ""}${r.updatedSets.length ? `: ${r.updatedSets.join(", ")}` : ""} (${r.commands} nft commands, ${r.ms} ms)`];
        if (r.missingTaps.length) lines.push(`taps not present, left out: ${r.missingTaps.join(", ")}`);
        for (const s of r.skipped.slice(0, 10)) lines.push(`skipped ${s.feed}: ${s.value} (${s.reason})`);
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

function formatStatus(s: FirewallStatus): string[] {
  const lines = [`tables: ${s.tables.map((t) => `${t.family} ${t.name} (${t.present ? "present" : "absent"})`).join(", ")}${s.netns ? `  [netns ${s.netns}]` : ""}`];
  if (!s.tables.some((t) => t.present)) return [...lines, "hv has no tables here: run hv firewall reconcile"];
  lines.push("");
  lines.push(
    ...(s.feeds.length
      ? table(["FEED", "MODE", "PATHS", "V4", "V6", "PACKETS", "BYTES"], s.feeds.map((f) => [f.feed, f.mode, f.paths.join(","), String(f.v4Elements), String(f.v6Elements), String(f.packets), String(f.bytes)]))
      : ["no feed rules"]),
  );
  lines.push("", ...table(["TABLE", "CHAIN", "HOOK", "PRIO", "POLICY", "RULES"], s.chains.map((c) => [c.table, c.name, c.hook + (c.dev ? ` ${c.dev}` : ""), String(c.prio), c.policy, String(c.rules)])));
  if (s.rules.length) {
    lines.push("", ...table(["TABLE", "CHAIN", "FEED", "DIR", "FAMILY", "MODE", "PACKETS", "BYTES"], s.rules.map((r) => [r.table, r.chain, r.foreign ? "(not hv's)" : r.feed ?? "", r.dir ?? "", r.family ?? "", r.mode ?? "", String(r.packets), String(r.bytes)])));
  }
  const foreign = s.rules.filter((r) => r.foreign).length;
  if (foreign) lines.push("", `${foreign} rule(s) hv did not write: hv firewall reconcile removes them`);
  return lines;
}
