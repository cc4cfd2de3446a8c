// Desired state → table models → nft JSON commands.
//
// inet hv: base chains input/forward/output (priority filter - 10, policy accept) and, per feed,
// sets feed_NAME_v4 / feed_NAME_v6 with one rule per path, direction and family.
// netdev hv: only when some feed uses the taps path and there are taps — one ingress chain per tap
// (tap_DEV) and a copy of those feeds' sets (a rule can only reference a set of its own table).

import { collapse, intervalToElement, parseEntry, type Interval, type IpFamily } from "./addresses.js";
import type { ChainModel, RuleModel, SetModel, TableFamily, TableModel } from "./model.js";
import { ruleComment } from "./model.js";
import type { NftCommand } from "./nft.js";
import { DEFAULT_TABLES, type FeedPath, type FeedSet, type FirewallState, type TableNames } from "./state.js";

export class FirewallStateError extends Error {
  override name = "FirewallStateError";
}

export const BASE_PRIORITY = -10;
const FEED_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
const DEV_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,14}$/;
const HOOK_CHAINS: Array<Exclude<FeedPath, "taps">> = ["input", "forward", "output"];
/** Elements per `add element` command; all of them still go in the same transaction. */
const ELEMENT_CHUNK = 20_000;

export function setName(feed: string, family: IpFamily): string {
  return `feed_${feed}_${family === "ip" ? "v4" : "v6"}`;
}

export function tapChainName(dev: string): string {
  return `tap_${dev}`;
}

/** Parses and collapses a feed's entries; a bad entry or a family mismatch is an error naming both. */
export function feedIntervals(feed: string, entries: string[], family: IpFamily): Interval[] {
  const out: Interval[] = [];
  for (const e of entries) {
    const parsed = parseEntry(e);
    if (!parsed) throw new FirewallStateError(`feed ${feed}: "${e}" is not an address or CIDR`);
    if (parsed.family !== family) throw new FirewallStateError(`feed ${feed}: "${e}" is not an ${family === "ip" ? "IPv4" : "IPv6"} entry`);
    out.push(parsed.interval);
  }
  return collapse(out);
}

function validate(state: FirewallState): void {
  const seen = new Set<string>();
  for (const f of state.sets) {
    if (!FEED_NAME.test(f.name)) throw new FirewallStateError(`feed name "${f.name}" must match ${FEED_NAME} to name nft sets and comments`);
    if (seen.has(f.name)) throw new FirewallStateError(`feed ${f.name} appears twice`);
    seen.add(f.name);
    if (f.mode !== "monitor" && f.mode !== "enforce") throw new FirewallStateError(`feed ${f.name}: mode must be monitor or enforce`);
  }
  for (const t of state.taps) if (!DEV_NAME.test(t)) throw new FirewallStateError(`tap device "${t}" is not a valid interface name`);
}

function feedSets(f: FeedSet): SetModel[] {
  return [
    { name: setName(f.name, "ip"), family: "ip", flags: ["interval"], intervals: feedIntervals(f.name, f.v4, "ip") },
    { name: setName(f.name, "ip6"), family: "ip6", flags: ["interval"], intervals: feedIntervals(f.name, f.v6, "ip6") },
  ];
}

function matchRule(chain: string, f: FeedSet, path: FeedPath, dir: "saddr" | "daddr", family: IpFamily): RuleModel {
  const expr: unknown[] = [
    { match: { op: "==", left: { payload: { protocol: family, field: dir } }, right: `@${setName(f.name, family)}` } },
    { counter: null },
  ];
  if (f.mode === "enforce") expr.push({ drop: null });
  return { chain, comment: ruleComment({ feed: f.name, path, dir, family, mode: f.mode }), expr };
}

/** Which directions a path matches: the remote end of the packet on that path. */
function directions(path: FeedPath): Array<"saddr" | "daddr"> {
  if (path === "input") return ["saddr"];
  if (path === "output") return ["daddr"];
  if (path === "forward") return ["saddr", "daddr"];
  // A tap's ingress sees what the VM sends: the remote end is the destination. Replies to a
  // listed host's packets leave the VM through the same tap, so both directions of a
  // connection are cut.
  return ["daddr"];
}

function feedRules(chain: string, f: FeedSet, path: FeedPath): RuleModel[] {
  const rules: RuleModel[] = [];
  for (const dir of directions(path)) for (const family of ["ip", "ip6"] as const) rules.push(matchRule(chain, f, path, dir, family));
  return rules;
}

/** The tables the desired state asks for (inet always; netdev only when taps are used). */
export function buildTables(state: FirewallState, names: TableNames = DEFAULT_TABLES): TableModel[] {
  validate(state);
  const feeds = [...state.sets].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  // Nothing to enforce or count: hv keeps no tables at all, so a host without block feeds carries
  // no trace of hv in its ruleset (and reconcile removes tables left from feeds since removed).
  if (feeds.length === 0) return [];
  const inet: TableModel = {
    family: "inet",
    name: names.inet,
    chains: HOOK_CHAINS.map((hook): ChainModel => ({ name: hook, type: "filter", hook, prio: BASE_PRIORITY, policy: "accept" })),
    sets: feeds.flatMap(feedSets),
    rules: HOOK_CHAINS.flatMap((hook) => feeds.filter((f) => f.paths.includes(hook)).flatMap((f) => feedRules(hook, f, hook))),
  };
  const tables = [inet];
  const tapFeeds = feeds.filter((f) => f.paths.includes("taps"));
  const taps = [...new Set(state.taps)].sort();
  if (tapFeeds.length > 0 && taps.length > 0) {
    tables.push({
      family: "netdev",
      name: names.netdev,
      chains: taps.map((dev): ChainModel => ({ name: tapChainName(dev), type: "filter", hook: "ingress", prio: BASE_PRIORITY, policy: "accept", dev })),
      sets: inet.sets.filter((s) => tapFeeds.some((f) => s.name === setName(f.name, s.family))),
      rules: taps.flatMap((dev) => tapFeeds.flatMap((f) => feedRules(tapChainName(dev), f, "taps"))),
    });
  }
  return tables;
}

function ref(family: TableFamily, table: string): { family: TableFamily; table: string } {
  return { family, table };
}

/** `flush set` + `add element` (chunked) for one set: inside one batch, readers never see it empty. */
export function setContentCommands(family: TableFamily, table: string, set: SetModel): NftCommand[] {
  const cmds: NftCommand[] = [{ flush: { set: { ...ref(family, table), name: set.name } } }];
  for (let i = 0; i < set.intervals.length; i += ELEMENT_CHUNK) {
    const elem = set.intervals.slice(i, i + ELEMENT_CHUNK).map((iv) => intervalToElement(iv, set.family));
    cmds.push({ add: { element: { ...ref(family, table), name: set.name, elem } } });
  }
  return cmds;
}

function createTableCommands(t: TableModel): NftCommand[] {
  const cmds: NftCommand[] = [{ add: { table: { family: t.family, name: t.name } } }];
  for (const c of t.chains) {
    cmds.push({ add: { chain: { ...ref(t.family, t.name), name: c.name, type: c.type, hook: c.hook, prio: c.prio, policy: c.policy, ...(c.dev ? { dev: c.dev } : {}) } } });
  }
  for (const s of t.sets) {
    cmds.push({ add: { set: { ...ref(t.family, t.name), name: s.name, type: s.family === "ip" ? "ipv4_addr" : "ipv6_addr", flags: s.flags } } });
    if (s.intervals.length > 0) cmds.push(...setContentCommands(t.family, t.name, s).slice(1));
  }
  for (const r of t.rules) cmds.push({ add: { rule: { ...ref(t.family, t.name), chain: r.chain, comment: r.comment, expr: r.expr } } });
  return cmds;
}

/**
 * One transaction that deletes hv's tables (whether or not they exist: `add` first makes the
 * delete safe) and creates the desired ones. Only tables named in `names` are touched.
 */
export function replaceTablesCommands(tables: TableModel[], names: TableNames = DEFAULT_TABLES): NftCommand[] {
  const cmds: NftCommand[] = [];
  for (const t of tables) {
    if (t.name !== (t.family === "inet" ? names.inet : names.netdev)) throw new FirewallStateError(`table ${t.family} ${t.name} is not one of hv's tables (${names.inet}, ${names.netdev})`);
  }
  for (const [family, name] of [["inet", names.inet], ["netdev", names.netdev]] as const) {
    cmds.push({ add: { table: { family, name } } }, { delete: { table: { family, name } } });
  }
  for (const t of tables) cmds.push(...createTableCommands(t));
  return cmds;
}

/** One transaction that deletes hv's tables (and nothing else). */
export function deleteTablesCommands(names: TableNames = DEFAULT_TABLES): NftCommand[] {
  return replaceTablesCommands([], names);
}
