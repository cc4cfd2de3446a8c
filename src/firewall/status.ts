// What hv's tables hold right now, with each rule's counters attributed to its feed and path.

import { parseRuleComment } from "./model.js";
import { readTables } from "./observe.js";
import { DEFAULT_TABLES, type FeedMode, type FeedPath, type NftOptions } from "./state.js";

export interface StatusRule {
  table: string;
  chain: string;
  feed?: string;
  path?: FeedPath;
  dir?: "saddr" | "daddr";
  family?: "ip" | "ip6";
  mode?: FeedMode;
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

export interface FirewallStatus {
  netns?: string;
  tables: Array<{ family: string; name: string; present: boolean }>;
  chains: Array<{ table: string; name: string; hook: string; prio: number; policy: string; dev?: string; rules: number }>;
  sets: Array<{ table: string; name: string; type: string; elements: number }>;
  rules: StatusRule[];
  feeds: FeedStatus[];
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
  };
  for (const t of tables) {
    const table = `${t.family} ${t.name}`;
    for (const c of t.chains) {
      // nft 1.0.6 does not list a netdev chain's device in JSON; hv's tap chains are named after it.
      const dev = c.dev ?? (t.family === "netdev" && c.name.startsWith("tap_") ? c.name.slice(4) : undefined);
      status.chains.push({ table, name: c.name, hook: c.hook, prio: c.prio, policy: c.policy, ...(dev ? { dev } : {}), rules: t.rules.filter((r) => r.chain === c.name).length });
    }
    for (const s of t.sets) status.sets.push({ table, name: s.name, type: s.type, elements: s.elements });
    for (const r of t.rules) {
      const tag = parseRuleComment(r.comment);
      status.rules.push({ table, chain: r.chain, ...(tag ?? {}), foreign: !tag, packets: r.counter?.packets ?? 0, bytes: r.counter?.bytes ?? 0 });
    }
  }
  const inet = tables.find((t) => t.family === "inet");
  for (const r of status.rules) {
    if (!r.feed || !r.mode || !r.path) continue;
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
