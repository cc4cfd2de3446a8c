// Desired state → table models → nft JSON commands.
//
// inet hv: per feed, sets feed_NAME_v4 / feed_NAME_v6 matched in base chains input/forward/output
// (priority filter - 10, policy accept); the response sections (response.ts) add their own base
// chains (block_*, quarantine_*) and the block sets.
// netdev hv: per VM tap, base chains on its device — tap_DEV for feeds on the taps path (with a
// copy of those feeds' sets: a rule can only reference a set of its own table), and the response
// chains (block_DEV, quarantine_DEV_ingress/_egress, ratelimit_DEV_ingress/_egress).
// Every chain is a base chain of its own that drops what it must and accepts the rest, so chains
// never depend on each other: reconcile can add, rewrite or remove one without touching the
// others (and their counters), and their order on a hook does not matter.

import { collapse, intervalToElement, parseEntry, type Interval, type IpFamily } from "./addresses.js";
import type { ChainModel, RuleModel, SetModel, TableFamily, TableModel } from "./model.js";
import { ruleComment } from "./model.js";
import type { NftCommand } from "./nft.js";
import { addResponse, validateResponse } from "./response.js";
import { DEFAULT_TABLES, type FeedPath, type FeedSet, type FirewallState, type TableNames } from "./state.js";

export class FirewallStateError extends Error {
  override name = "FirewallStateError";
}

export const BASE_PRIORITY = -10;
const FEED_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
export const DEV_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,14}$/;
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
  return entryIntervals(`feed ${feed}`, entries, family);
}

/** The same for any list of entries; `what` names the list in the error. */
export function entryIntervals(what: string, entries: string[], family: IpFamily): Interval[] {
  const out: Interval[] = [];
  for (const e of entries) {
    const parsed = parseEntry(e);
    if (!parsed) throw new FirewallStateError(`${what}: "${e}" is not an address or CIDR`);
    if (parsed.family !== family) throw new FirewallStateError(`${what}: "${e}" is not an ${family === "ip" ? "IPv4" : "IPv6"} entry`);
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
  validateResponse(state);
}

// A feed's collapsed intervals per FeedSet object: a syncer that keeps its feed sets between
// reconciles (src/firewall/sync.ts) parses and collapses a 100k-entry feed once per version,
// not on every quarantine. Callers never change a FeedSet they have handed over.
const feedIntervalCache = new WeakMap<FeedSet, { v4: Interval[]; v6: Interval[] }>();

function feedSets(f: FeedSet): SetModel[] {
  let iv = feedIntervalCache.get(f);
  if (!iv) {
    iv = { v4: feedIntervals(f.name, f.v4, "ip"), v6: feedIntervals(f.name, f.v6, "ip6") };
    feedIntervalCache.set(f, iv);
  }
  return [
    { name: setName(f.name, "ip"), family: "ip", flags: ["interval"], intervals: iv.v4 },
    { name: setName(f.name, "ip6"), family: "ip6", flags: ["interval"], intervals: iv.v6 },
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

export interface BuildOptions {
  /** Whether a tap device exists: netdev chains are built only for those (default: every tap). */
  present?: (dev: string) => boolean;
}

/** The tables the desired state asks for; a table with nothing in it is left out. */
export function buildTables(state: FirewallState, names: TableNames = DEFAULT_TABLES, opts: BuildOptions = {}): TableModel[] {
  validate(state);
  const present = opts.present ?? (() => true);
  const inet: TableModel = { family: "inet", name: names.inet, chains: [], sets: [], rules: [] };
  const netdev: TableModel = { family: "netdev", name: names.netdev, chains: [], sets: [], rules: [] };
  addFeeds(state, inet, netdev, present);
  addResponse(state, inet, netdev, present);
  // Nothing to enforce or count: hv keeps no tables at all, so a host without block feeds or
  // enforcements carries no trace of hv in its ruleset (and reconcile removes tables left over).
  return [inet, netdev].filter((t) => t.chains.length > 0);
}

function addFeeds(state: FirewallState, inet: TableModel, netdev: TableModel, present: (dev: string) => boolean): void {
  const feeds = [...state.sets].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  if (feeds.length === 0) return;
  inet.chains.push(...HOOK_CHAINS.map((hook): ChainModel => ({ name: hook, type: "filter", hook, prio: BASE_PRIORITY, policy: "accept" })));
  inet.sets.push(...feeds.flatMap(feedSets));
  inet.rules.push(...HOOK_CHAINS.flatMap((hook) => feeds.filter((f) => f.paths.includes(hook)).flatMap((f) => feedRules(hook, f, hook))));
  const tapFeeds = feeds.filter((f) => f.paths.includes("taps"));
  const taps = [...new Set(state.taps)].filter(present).sort();
  if (tapFeeds.length === 0 || taps.length === 0) return;
  netdev.chains.push(...taps.map((dev): ChainModel => ({ name: tapChainName(dev), type: "filter", hook: "ingress", prio: BASE_PRIORITY, policy: "accept", dev })));
  netdev.sets.push(...inet.sets.filter((s) => tapFeeds.some((f) => s.name === setName(f.name, s.family))));
  netdev.rules.push(...taps.flatMap((dev) => tapFeeds.flatMap((f) => feedRules(tapChainName(dev), f, "taps"))));
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

/** `add set` and its elements (a new set needs no flush). */
export function addSetCommands(family: TableFamily, table: string, s: SetModel): NftCommand[] {
  const cmds: NftCommand[] = [{ add: { set: { ...ref(family, table), name: s.name, type: s.family === "ip" ? "ipv4_addr" : "ipv6_addr", flags: s.flags } } }];
  if (s.intervals.length > 0) cmds.push(...setContentCommands(family, table, s).slice(1));
  return cmds;
}

/** `add chain` and its rules, in order. */
export function addChainCommands(family: TableFamily, table: string, c: ChainModel, rules: RuleModel[]): NftCommand[] {
  const cmds: NftCommand[] = [{ add: { chain: { ...ref(family, table), name: c.name, type: c.type, hook: c.hook, prio: c.prio, policy: c.policy, ...(c.dev ? { dev: c.dev } : {}) } } }];
  for (const r of rules.filter((x) => x.chain === c.name)) cmds.push({ add: { rule: { ...ref(family, table), chain: r.chain, comment: r.comment, expr: r.expr } } });
  return cmds;
}

/** `flush chain` + `delete chain` (older kernels refuse to delete a chain that still has rules). */
export function deleteChainCommands(family: TableFamily, table: string, chain: string): NftCommand[] {
  return [{ flush: { chain: { ...ref(family, table), name: chain } } }, { delete: { chain: { ...ref(family, table), name: chain } } }];
}

/** Sets first (rules reference them), then chains with their rules. */
export function createTableCommands(t: TableModel): NftCommand[] {
  const cmds: NftCommand[] = [{ add: { table: { family: t.family, name: t.name } } }];
  for (const s of t.sets) cmds.push(...addSetCommands(t.family, t.name, s));
  for (const c of t.chains) cmds.push(...addChainCommands(t.family, t.name, c, t.rules));
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
