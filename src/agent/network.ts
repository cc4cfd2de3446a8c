// The network side of the running agent: flow collectors (conntrack, NetFlow/IPFIX), the threat
// intel detector over the store's feeds, the feed schedule, and hv's nft tables kept in line with
// the block feeds. Everything here degrades to "say why and go on": a host without conntrack or
// nft still monitors its audit stream.

import { onAbort } from "../events/abort.js";
import { readFileSync } from "node:fs";
import type Database from "better-sqlite3";
import { ConntrackCollector } from "../collectors/flows/conntrack.js";
import { NetflowCollector } from "../collectors/flows/netflow/collector.js";
import type { Collector } from "../events/collector.js";
import type { Inventory } from "../events/inventory.js";
import { startFeedScheduler } from "../feeds/schedule.js";
import { listFeeds } from "../store/feeds.js";
import type { SyncResult } from "../feeds/sync.js";
import { buildAllowlist } from "../events/allowlist.js";
import type { AgentConfig } from "./config.js";
import { createFirewallSyncer, type FirewallSyncer, type FirewallSyncResult } from "../firewall/sync.js";
import { createStoreIntel, type StoreIntel } from "./intel.js";
import { hasNetAdmin, onPath } from "./system.js";

export interface NetworkOptions {
  db: Database.Database;
  config: AgentConfig;
  /** Watching this host now (not replaying a file): only then are collectors, schedules and nft started. */
  live: boolean;
  inventory: Inventory;
  report: (text: string) => void;
}

export interface NetworkSetup {
  collectors: Collector[];
  intel: StoreIntel;
  /** hv's nft tables from the store (feeds, quarantines, blocks, rate limits); absent without nft and CAP_NET_ADMIN. */
  firewall?: FirewallSyncer;
  conntrack?: ConntrackCollector;
  netflow?: NetflowCollector;
  /** Starts the feed schedule and the firewall reconcile; both stop with the signal. */
  start(signal: AbortSignal): void;
  /** Waits for a feed sync still running when the signal aborted (it uses the store). */
  close(): Promise<void>;
}

const TAP_CHECK_MS = 30_000;
const FEED_CHECK_MS = 60_000;
const NOTHING_TRACKED_AFTER_MS = 30_000;

export function setUpNetwork(opts: NetworkOptions): NetworkSetup {
  const { config, report, db } = opts;
  const intel = createStoreIntel(db);
  const collectors: Collector[] = [];
  const conntrack = opts.live ? conntrackCollector(config, report) : undefined;
  if (conntrack) collectors.push(conntrack);
  const nf = config.flows?.netflow;
  const netflow = opts.live && nf ? new NetflowCollector({ ...nf, onReport: (t) => report(`netflow: ${t}`) }) : undefined;
  if (netflow) collectors.push(netflow);

  const firewall = opts.live ? firewallSyncer(opts) : undefined;
  let scheduler: { idle(): Promise<void> } | undefined;

  const start = (signal: AbortSignal): void => {
    if (!opts.live) return;
    if (conntrack) warnWhenNothingTracked(conntrack, report, signal);
    // At start the store says what must be in force (quarantines outlive the agent that made them).
    if (firewall) void reconcileNow(firewall, report);
    if (firewall) watchTaps(opts.inventory, firewall, report, signal);
    // Feeds change through the schedule below and through the CLI (`hv feeds add|sync|remove`
    // against the same store): one check of the stored versions serves both.
    const feedsChanged = watchFeeds(db, signal, () => {
      const n = intel.reload();
      report(`feeds changed: intel index now ${n} indicators`);
      if (firewall) void reconcileNow(firewall, report);
    });
    if (config.feeds?.schedule === false) return;
    scheduler = startFeedScheduler(db, {
      signal,
      sync: { allowlist: config.feeds?.allowlist },
      onError: (err) => report(`feeds: ${err.message}`),
      onResult: (r) => {
        describeSync(r, report);
        feedsChanged();
      },
    });
  };
  return { collectors, intel, firewall, conntrack, netflow, start, close: async () => await scheduler?.idle() };
}

function conntrackCollector(config: AgentConfig, report: (t: string) => void): ConntrackCollector | undefined {
  const wanted = config.flows?.conntrack;
  if (wanted === false) return undefined;
  const missing = !onPath("conntrack") ? "conntrack is not installed" : !hasNetAdmin() ? "reading conntrack events needs root or CAP_NET_ADMIN" : undefined;
  if (missing) {
    // Asked for explicitly: say why it is off. By default: say it once, quietly.
    report(`flows: ${missing}; no conntrack flows${wanted ? "" : " (set flows.conntrack: false to silence this)"}`);
    return undefined;
  }
  return new ConntrackCollector({ onReport: (t) => report(`conntrack: ${t}`) });
}

function firewallSyncer(opts: NetworkOptions): FirewallSyncer | undefined {
  if (opts.config.firewall?.enabled === false) return undefined;
  if (!onPath("nft") || !hasNetAdmin()) {
    if (opts.config.firewall?.enabled) opts.report("firewall: needs nft and root or CAP_NET_ADMIN; block feeds and quarantines are not applied");
    return undefined;
  }
  const fw = opts.config.firewall ?? {};
  return createFirewallSyncer(opts.db, {
    taps: tapsOf(opts.inventory),
    // A quarantined VM that restarted has new taps: the live inventory knows them.
    vmTaps: (vm) => tapsOfVm(opts.inventory, vm),
    allowlist: buildAllowlist(opts.config.response?.allowlist ?? {}),
    ...(fw.tables ? { tables: fw.tables } : {}),
    ...(fw.netns ? { netns: fw.netns } : {}),
  });
}

/** A VM's tap devices as the inventory knows them; undefined when it knows none. */
export function tapsOfVm(inventory: Inventory, vm: string): string[] | undefined {
  const rec = inventory.byName(vm);
  const taps = rec?.interfaces.map((i) => i.tap).filter((t): t is string => !!t);
  return taps && taps.length > 0 ? taps : undefined;
}

function tapsOf(inventory: Inventory): string[] {
  return [...new Set(inventory.all().flatMap((vm) => vm.interfaces.map((i) => i.tap).filter((t): t is string => !!t)))].sort();
}

async function reconcileNow(firewall: FirewallSyncer, report: (t: string) => void): Promise<void> {
  try {
    describeReconcile(await firewall.sync(), report);
  } catch (err) {
    report(`firewall: ${err instanceof Error ? err.message : String(err)}`);
  }
}

function describeReconcile(r: FirewallSyncResult, report: (t: string) => void): void {
  if (r.action === "unchanged" && r.missingTaps.length === 0) return;
  const what =
    r.action === "replaced"
      ? `tables rewritten (${r.reason ?? "changed"})`
      : r.action === "updated"
        ? `chains updated (${r.reason ?? "changed"})`
        : r.action === "updated-sets"
          ? `sets updated: ${r.updatedSets.join(", ")}`
          : "tables as expected";
  report(`firewall: ${what}${r.missingTaps.length ? `; taps not present: ${r.missingTaps.join(", ")}` : ""}`);
}

/**
 * The kernel tracks connections only in a namespace where some rule uses conntrack (ct state, NAT:
 * libvirt's NAT networks and most host firewalls do). With none, conntrack -E is silent forever;
 * say so instead of looking like a quiet network.
 */
function warnWhenNothingTracked(conntrack: ConntrackCollector, report: (t: string) => void, signal: AbortSignal): void {
  const timer = setTimeout(() => {
    if (conntrack.stats.events > 0) return;
    let count: string | undefined;
    try {
      count = readFileSync("/proc/sys/net/netfilter/nf_conntrack_count", "utf8").trim();
    } catch {
      count = undefined;
    }
    if (count === undefined || count === "0") {
      report("conntrack: no connection is tracked on this host (no firewall rule uses conntrack), so no flows are seen; a rule such as `ct state established,related accept` in any table turns tracking on");
    }
  }, NOTHING_TRACKED_AFTER_MS);
  timer.unref();
  onAbort(signal, () => clearTimeout(timer));
}

/** VMs start and stop: the tap list changes, and with it the netdev chains. */
function watchTaps(inventory: Inventory, firewall: FirewallSyncer, report: (t: string) => void, signal: AbortSignal): void {
  let last = tapsOf(inventory).join(",");
  const timer = setInterval(() => {
    const taps = tapsOf(inventory);
    if (taps.join(",") === last) return;
    last = taps.join(",");
    firewall.setTaps(taps);
    void reconcileNow(firewall, report);
  }, TAP_CHECK_MS);
  timer.unref();
  onAbort(signal, () => clearInterval(timer));
}

/** Calls `onChange` when the stored feeds (their sets, specs or presence) change; returns a check-now function. */
function watchFeeds(db: Database.Database, signal: AbortSignal, onChange: () => void): () => void {
  const fingerprint = (): string => listFeeds(db).map((f) => `${f.name}:${f.version}:${f.enabled}:${f.action}:${f.block?.mode ?? ""}:${f.block?.paths.join("+") ?? ""}`).join(",");
  let last = fingerprint();
  const check = (): void => {
    const now = fingerprint();
    if (now === last) return;
    last = now;
    onChange();
  };
  const timer = setInterval(check, FEED_CHECK_MS);
  timer.unref();
  onAbort(signal, () => clearInterval(timer));
  return check;
}

function describeSync(r: SyncResult, report: (t: string) => void): void {
  if (r.status === "updated") report(`feed ${r.feed}: ${r.entries} entries (+${r.added} -${r.removed}, ${r.rejected} rejected)`);
  else if (r.status === "rejected" || r.status === "failed") report(`feed ${r.feed}: ${r.status}${r.reason ? ` (${r.reason})` : ""}; the last good set stays`);
}
