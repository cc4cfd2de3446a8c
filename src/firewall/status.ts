// What hv's tables hold right now, with each rule's counters attributed to its feed and path, or
// to the quarantined VM, the block list, the rate-limited VM it belongs to.

import { elementToInterval, formatAddress, intervalToElement, type IpFamily } from "./addresses.js";
import { parseHvComment, type RuleModel } from "./model.js";
import { readTables, type ObservedTable } from "./observe.js";
import { DEFAULT_TABLES, FEED_PATHS, type FeedMode, type FeedPath, type NftOptions } from "./state.js";

export interface StatusRule {
  table: string;
  chain: string;
  /** What wrote the rule (from its comment); absent for a rule hv did not write. */
  kind?: "feed" | "quarantine" | "block" | "ratelimit";
  feed?: string;
  /** Quarantined or rate-limited VM. */
  vm?: string;
  dev?: string;
  path?: FeedPath;
  /** saddr|daddr (feeds, blocks); ingress|egress|forward-in|forward-out (quarantine, rate limit). */
  dir?: string;
  family?: "ip" | "ip6";
  mode?: FeedMode;
  /** Quarantine rules: drop, or keep (a kept address, ARP or NDP accepted). */
  verdict?: "drop" | "keep";
  /** A rule without hv's comment (added by hand): reconcile will remove it. */
  foreign: boolean;
  packets: number;
  bytes: number;
}

export interface FeedStatus {
  feed: string;
  mode: FeedMode;
  paths: FeedPath[];
  /** Elements per family in the inet table (ranges and prefixes count one each). */
  v4Elements: number;
  v6Elements: number;
  packets: number;
  bytes: number;
}

export interface QuarantineStatus {
  vm: string;
  taps: string[];
  /** Addresses/CIDRs still allowed. */
  keep: string[];
  /** Dropped while quarantined (all drop rules of the VM). */
  packets: number;
  bytes: number;
  /** Let through to/from kept addresses (and ARP/NDP). */
  keptPackets: number;
}

export interface BlockStatus {
  v4Elements: number;
  v6Elements: number;
  paths: FeedPath[];
  packets: number;
  bytes: number;
}

export interface RateLimitStatus {
  vm: string;
  taps: string[];
  bytesPerSecond: number;
  /** Dropped over the limit. */
  packets: number;
  bytes: number;
}

export interface FirewallStatus {
  netns?: string;
  tables: Array<{ family: string; name: string; present: boolean }>;
  chains: Array<{ table: string; name: string; hook: string; prio: number; policy: string; dev?: string; rules: number }>;
  sets: Array<{ table: string; name: string; type: string; elements: number }>;
  rules: StatusRule[];
  feeds: FeedStatus[];
  quarantines: QuarantineStatus[];
  /** Absent when nothing is blocked. */
  blocks?: BlockStatus;
  rateLimits: RateLimitStatus[];
}

export async function readStatus(opts: NftOptions = {}): Promise<FirewallStatus> {
  const names = opts.tables ?? DEFAULT_TABLES;
  const tables = await readTables(opts);
  const status: FirewallStatus = {
    ...(opts.netns ? { netns: opts.netns } : {}),
    tables: [["inet", names.inet], ["netdev", names.netdev]].map(([family, name]) => ({ family: family!, name: name!, present: tables.some((t) => t.family === family && t.name === name) })),
    chains: [],
    sets: [],
    rules: [],
    feeds: [],
    quarantines: [],
    rateLimits: [],
  };
  for (const t of tables) {
    const table = `${t.family} ${t.name}`;
    for (const c of t.chains) {
      // nft 1.0.6 does not list a netdev chain's device in JSON; hv's chains carry it in their rules' comments and in their names.
      const dev = c.dev ?? (t.family === "netdev" ? chainDevice(c.name, t.rules) : undefined);
      status.chains.push({ table, name: c.name, hook: c.hook, prio: c.prio, policy: c.policy, ...(dev ? { dev } : {}), rules: t.rules.filter((r) => r.chain === c.name).length });
    }
    for (const s of t.sets) status.sets.push({ table, name: s.name, type: s.type, elements: s.elements });
    for (const r of t.rules) {
      const tag = parseHvComment(r.comment);
      status.rules.push({ table, chain: r.chain, ...(tag ?? {}), foreign: !tag, packets: r.counter?.packets ?? 0, bytes: r.counter?.bytes ?? 0 });
    }
  }
  status.quarantines = quarantineStatus(tables);
  status.rateLimits = rateLimitStatus(tables);
  const blocks = blockStatus(status.rules, tables);
  if (blocks) status.blocks = blocks;
  const inet = tables.find((t) => t.family === "inet");
  for (const r of status.rules) {
    if (r.kind !== "feed" || !r.feed || !r.mode || !r.path) continue;
    let f = status.feeds.find((x) => x.feed === r.feed);
    if (!f) {
      const count = (suffix: string): number => inet?.sets.find((s) => s.name === `feed_${r.feed}_${suffix}`)?.elements ?? 0;
      f = { feed: r.feed, mode: r.mode, paths: [], v4Elements: count("v4"), v6Elements: count("v6"), packets: 0, bytes: 0 };
      status.feeds.push(f);
    }
    if (!f.paths.includes(r.path)) f.paths.push(r.path);
    f.packets += r.packets;
    f.bytes += r.bytes;
  }
  status.feeds.sort((a, b) => (a.feed < b.feed ? -1 : a.feed > b.feed ? 1 : 0));
  return status;
}

/** The device of a netdev chain hv wrote: from its rules' comments, else from a feed chain's name (tap_DEV). */
function chainDevice(chain: string, rules: RuleModel[]): string | undefined {
  for (const r of rules) {
    if (r.chain !== chain) continue;
    const tag = parseHvComment(r.comment);
    if (tag && "dev" in tag && tag.dev) return tag.dev;
  }
  return chain.startsWith("tap_") ? chain.slice(4) : undefined;
}

function sortByVm<T extends { vm: string }>(list: T[]): T[] {
  return list.sort((a, b) => (a.vm < b.vm ? -1 : a.vm > b.vm ? 1 : 0));
}

/** The address a rule matches with `ip|ip6 saddr|daddr X` (a kept address), as text. */
function matchedAddress(r: RuleModel): string | undefined {
  for (const stmt of r.expr) {
    const m = (stmt as { match?: { left?: { payload?: { protocol?: string; field?: string } }; right?: unknown } }).match;
    const p = m?.left?.payload;
    if (!p || (p.protocol !== "ip" && p.protocol !== "ip6") || (p.field !== "saddr" && p.field !== "daddr")) continue;
    const family = p.protocol as IpFamily;
    const iv = elementToInterval(m!.right, family);
    if (!iv) continue;
    const el = intervalToElement(iv, family);
    if (typeof el === "string") return el;
    if ("prefix" in el) return `${el.prefix.addr}/${el.prefix.len}`;
    return `${formatAddress(iv.start, family)}-${formatAddress(iv.end, family)}`;
  }
  return undefined;
}

function quarantineStatus(tables: ObservedTable[]): QuarantineStatus[] {
  const byVm = new Map<string, QuarantineStatus>();
  for (const t of tables) {
    for (const r of t.rules) {
      const tag = parseHvComment(r.comment);
      if (tag?.kind !== "quarantine") continue;
      let q = byVm.get(tag.vm);
      if (!q) byVm.set(tag.vm, (q = { vm: tag.vm, taps: [], keep: [], packets: 0, bytes: 0, keptPackets: 0 }));
      if (!q.taps.includes(tag.dev)) q.taps.push(tag.dev);
      if (tag.verdict === "drop") {
        q.packets += r.counter?.packets ?? 0;
        q.bytes += r.counter?.bytes ?? 0;
      } else {
        q.keptPackets += r.counter?.packets ?? 0;
        const addr = matchedAddress(r);
        if (addr && !q.keep.includes(addr)) q.keep.push(addr);
      }
    }
  }
  return sortByVm([...byVm.values()].map((q) => ({ ...q, taps: q.taps.sort() })));
}

function rateLimitStatus(tables: ObservedTable[]): RateLimitStatus[] {
  const byVm = new Map<string, RateLimitStatus>();
  for (const t of tables) {
    for (const r of t.rules) {
      const tag = parseHvComment(r.comment);
      if (tag?.kind !== "ratelimit") continue;
      const limit = r.expr.map((s) => (s as { limit?: { rate?: number } }).limit).find((l) => l);
      let q = byVm.get(tag.vm);
      if (!q) byVm.set(tag.vm, (q = { vm: tag.vm, taps: [], bytesPerSecond: Number(limit?.rate ?? 0), packets: 0, bytes: 0 }));
      if (!q.taps.includes(tag.dev)) q.taps.push(tag.dev);
      q.packets += r.counter?.packets ?? 0;
      q.bytes += r.counter?.bytes ?? 0;
    }
  }
  return sortByVm([...byVm.values()].map((q) => ({ ...q, taps: q.taps.sort() })));
}

function blockStatus(rules: StatusRule[], tables: ObservedTable[]): BlockStatus | undefined {
  const mine = rules.filter((r) => r.kind === "block");
  if (mine.length === 0) return undefined;
  const inet = tables.find((t) => t.family === "inet");
  const count = (name: string): number => inet?.sets.find((s) => s.name === name)?.elements ?? 0;
  const paths = FEED_PATHS.filter((p) => mine.some((r) => r.path === p));
  return { v4Elements: count("block_v4"), v6Elements: count("block_v6"), paths, packets: mine.reduce((n, r) => n + r.packets, 0), bytes: mine.reduce((n, r) => n + r.bytes, 0) };
}
