// The response sections of the desired state — VM quarantines, blocked addresses (block_ip), VM
// rate limits — as chains, sets and rules in hv's two tables, next to the feed chains.
//
// Each section gets base chains of its own rather than rules in the feed chains: a quarantine
// added or released adds or removes its chains and nothing else, so a 100k-element feed set (and
// every other chain's counters) stays as it is. Blocks live in two sets (block_v4/block_v6) that
// exist whenever any address is blocked: adding or removing one is a set update.
//
// inet:   set block_v4, block_v6; chain block_input/block_output/block_forward (hook input/…)
//         chain quarantine_DEV (hook forward: iifname/oifname DEV, the routed path)
// netdev: set block_v4, block_v6 (copies); chain block_DEV (ingress, daddr) for every known tap
//         chain quarantine_DEV_ingress / quarantine_DEV_egress (everything the VM sends / receives)
//         chain ratelimit_DEV_ingress / ratelimit_DEV_egress (limit rate over N bytes/second drop)

import { intervalToElement, parseEntry, type Interval, type IpFamily } from "./addresses.js";
import { BASE_PRIORITY, DEV_NAME, entryIntervals, FirewallStateError } from "./build.js";
import { blockComment, quarantineComment, rateLimitComment, type ChainModel, type QuarantineDir, type RuleModel, type SetModel, type TableModel } from "./model.js";
import type { FeedPath, FirewallState, Quarantine, RateLimit } from "./state.js";

/** Printable ASCII without space, quote and backslash, at most 64: it goes into rule comments (128 bytes). */
export const VM_NAME = /^[\x21\x23-\x5b\x5d-\x7e]{1,64}$/;
export const BLOCK_SETS: Record<IpFamily, string> = { ip: "block_v4", ip6: "block_v6" };
const BLOCK_HOOKS = ["input", "forward", "output"] as const;

export function quarantineChainName(dev: string, hook: "ingress" | "egress" | "forward"): string {
  return hook === "forward" ? `quarantine_${dev}` : `quarantine_${dev}_${hook}`;
}

export function rateLimitChainName(dev: string, hook: "ingress" | "egress"): string {
  return `ratelimit_${dev}_${hook}`;
}

export function blockChainName(hookOrDev: string): string {
  return `block_${hookOrDev}`;
}

export function validateResponse(state: FirewallState): void {
  const vmSections: Array<[string, Array<{ vm: string; taps: string[] }>]> = [
    ["quarantine", state.quarantines ?? []],
    ["rate limit", state.rateLimits ?? []],
  ];
  for (const [what, list] of vmSections) {
    const vms = new Set<string>();
    const owner = new Map<string, string>();
    for (const q of list) {
      if (!VM_NAME.test(q.vm)) throw new FirewallStateError(`${what}: VM name "${q.vm}" must be 1-64 printable characters without spaces, quotes or backslashes (it goes into rule comments)`);
      if (vms.has(q.vm)) throw new FirewallStateError(`${what}: VM ${q.vm} appears twice`);
      vms.add(q.vm);
      for (const t of q.taps) {
        if (!DEV_NAME.test(t)) throw new FirewallStateError(`${what} of ${q.vm}: tap device "${t}" is not a valid interface name`);
        const other = owner.get(t);
        if (other !== undefined && other !== q.vm) throw new FirewallStateError(`${what}: tap ${t} belongs to both ${other} and ${q.vm}`);
        owner.set(t, q.vm);
      }
    }
  }
  for (const q of state.quarantines ?? []) keepIntervals(q);
  for (const r of state.rateLimits ?? []) {
    if (!Number.isSafeInteger(r.bytesPerSecond) || r.bytesPerSecond < 1) throw new FirewallStateError(`rate limit of ${r.vm}: bytesPerSecond must be a whole number ≥ 1, not ${r.bytesPerSecond}`);
  }
  if (state.blocks) blockSets(state.blocks);
}

function keepIntervals(q: Quarantine): Record<IpFamily, Interval[]> {
  const byFamily: Record<IpFamily, string[]> = { ip: [], ip6: [] };
  for (const k of q.keep) {
    const parsed = parseEntry(k);
    if (!parsed) throw new FirewallStateError(`quarantine of ${q.vm}: keep "${k}" is not an address or CIDR`);
    byFamily[parsed.family].push(k);
  }
  return { ip: entryIntervals(`quarantine of ${q.vm} keep`, byFamily.ip, "ip"), ip6: entryIntervals(`quarantine of ${q.vm} keep`, byFamily.ip6, "ip6") };
}

function blockSets(blocks: { v4: string[]; v6: string[] }): SetModel[] {
  return [
    { name: BLOCK_SETS.ip, family: "ip", flags: ["interval"], intervals: entryIntervals("block", blocks.v4, "ip") },
    { name: BLOCK_SETS.ip6, family: "ip6", flags: ["interval"], intervals: entryIntervals("block", blocks.v6, "ip6") },
  ];
}

function baseChain(name: string, hook: string, dev?: string): ChainModel {
  return { name, type: "filter", hook, prio: BASE_PRIORITY, policy: "accept", ...(dev ? { dev } : {}) };
}

function addrMatch(family: IpFamily, field: "saddr" | "daddr", right: unknown): unknown {
  return { match: { op: "==", left: { payload: { protocol: family, field } }, right } };
}

function ifMatch(key: "iifname" | "oifname", dev: string): unknown {
  return { match: { op: "==", left: { meta: { key } }, right: dev } };
}

/** Adds the block, quarantine and rate-limit chains, sets and rules for `present` taps (forward rules for every tap). */
export function addResponse(state: FirewallState, inet: TableModel, netdev: TableModel, present: (dev: string) => boolean): void {
  const quarantines = [...(state.quarantines ?? [])].sort((a, b) => (a.vm < b.vm ? -1 : a.vm > b.vm ? 1 : 0));
  const rateLimits = [...(state.rateLimits ?? [])].sort((a, b) => (a.vm < b.vm ? -1 : a.vm > b.vm ? 1 : 0));
  const knownTaps = [...new Set([...state.taps, ...quarantines.flatMap((q) => q.taps), ...rateLimits.flatMap((r) => r.taps)])].filter(present).sort();
  if (state.blocks && state.blocks.v4.length + state.blocks.v6.length > 0) addBlocks(blockSets(state.blocks), knownTaps, inet, netdev);
  for (const q of quarantines) addQuarantine(q, inet, netdev, present);
  for (const r of rateLimits) addRateLimit(r, netdev, present);
}

function addBlocks(sets: SetModel[], taps: string[], inet: TableModel, netdev: TableModel): void {
  const rule = (chain: string, path: FeedPath, dir: "saddr" | "daddr", family: IpFamily, dev?: string): RuleModel => ({
    chain,
    comment: blockComment({ path, ...(dev ? { dev } : {}), dir, family }),
    expr: [addrMatch(family, dir, `@${BLOCK_SETS[family]}`), { counter: null }, { drop: null }],
  });
  inet.sets.push(...sets);
  for (const hook of BLOCK_HOOKS) {
    const chain = blockChainName(hook);
    inet.chains.push(baseChain(chain, hook));
    const dirs: Array<"saddr" | "daddr"> = hook === "input" ? ["saddr"] : hook === "output" ? ["daddr"] : ["saddr", "daddr"];
    for (const dir of dirs) for (const family of ["ip", "ip6"] as const) inet.rules.push(rule(chain, hook, dir, family));
  }
  if (taps.length === 0) return;
  netdev.sets.push(...sets.map((s) => ({ ...s })));
  for (const dev of taps) {
    const chain = blockChainName(dev);
    netdev.chains.push(baseChain(chain, "ingress", dev));
    // What the VM sends: the remote end is the destination (as for the feeds' taps path).
    for (const family of ["ip", "ip6"] as const) netdev.rules.push(rule(chain, "taps", "daddr", family, dev));
  }
}

function addQuarantine(q: Quarantine, inet: TableModel, netdev: TableModel, present: (dev: string) => boolean): void {
  const keep = keepIntervals(q);
  const kept = (["ip", "ip6"] as const).flatMap((family) => keep[family].map((iv) => ({ family, right: intervalToElement(iv, family) })));
  const rule = (chain: string, dev: string, dir: QuarantineDir, verdict: "drop" | "keep", match: unknown[]): RuleModel => ({
    chain,
    comment: quarantineComment({ vm: q.vm, dev, dir, verdict }),
    expr: [...match, { counter: null }, verdict === "drop" ? { drop: null } : { accept: null }],
  });
  for (const dev of [...new Set(q.taps)].sort()) {
    if (present(dev)) {
      for (const hook of ["ingress", "egress"] as const) {
        const chain = quarantineChainName(dev, hook);
        // Ingress is what the VM sends (the far end is the destination); egress what it receives.
        const field = hook === "ingress" ? "daddr" : "saddr";
        netdev.chains.push(baseChain(chain, hook, dev));
        // The VM must still resolve the kept hosts: ARP for IPv4, neighbour discovery for IPv6.
        if (keep.ip.length) netdev.rules.push(rule(chain, dev, hook, "keep", [{ match: { op: "==", left: { meta: { key: "protocol" } }, right: "arp" } }]));
        if (keep.ip6.length) {
          for (const type of ["nd-neighbor-solicit", "nd-neighbor-advert"]) {
            netdev.rules.push(rule(chain, dev, hook, "keep", [{ match: { op: "==", left: { payload: { protocol: "icmpv6", field: "type" } }, right: type } }]));
          }
        }
        for (const k of kept) netdev.rules.push(rule(chain, dev, hook, "keep", [addrMatch(k.family, field, k.right)]));
        netdev.rules.push(rule(chain, dev, hook, "drop", []));
      }
    }
    // The routed path, by name: it matches as soon as a device of that name appears, even before
    // the agent has seen it and added the netdev chains.
    const chain = quarantineChainName(dev, "forward");
    inet.chains.push(baseChain(chain, "forward"));
    for (const k of kept) inet.rules.push(rule(chain, dev, "forward-in", "keep", [ifMatch("iifname", dev), addrMatch(k.family, "daddr", k.right)]));
    for (const k of kept) inet.rules.push(rule(chain, dev, "forward-out", "keep", [ifMatch("oifname", dev), addrMatch(k.family, "saddr", k.right)]));
    inet.rules.push(rule(chain, dev, "forward-in", "drop", [ifMatch("iifname", dev)]));
    inet.rules.push(rule(chain, dev, "forward-out", "drop", [ifMatch("oifname", dev)]));
  }
}

/** nft lists a byte rate in the largest unit that divides it (observe.ts turns it back into bytes). */
export function limitStatement(bytesPerSecond: number): unknown {
  return { limit: { rate: bytesPerSecond, burst: 0, per: "second", inv: true, rate_unit: "bytes", burst_unit: "bytes" } };
}

function addRateLimit(r: RateLimit, netdev: TableModel, present: (dev: string) => boolean): void {
  for (const dev of [...new Set(r.taps)].filter(present).sort()) {
    for (const hook of ["ingress", "egress"] as const) {
      const chain = rateLimitChainName(dev, hook);
      netdev.chains.push(baseChain(chain, hook, dev));
      netdev.rules.push({ chain, comment: rateLimitComment({ vm: r.vm, dev, dir: hook }), expr: [limitStatement(r.bytesPerSecond), { counter: null }, { drop: null }] });
    }
  }
}
