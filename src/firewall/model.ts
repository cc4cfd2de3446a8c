// The shape of one of hv's tables, the same whether it was built from the desired state or read
// back from the kernel, so the two can be compared field by field.

import type { Interval, IpFamily } from "./addresses.js";
import type { FeedMode, FeedPath } from "./state.js";

export type TableFamily = "inet" | "netdev";

export interface ChainModel {
  name: string;
  type: string;
  hook: string;
  prio: number;
  policy: string;
  /** netdev chains only. nft 1.0.6 does not list it in JSON; the chain name (tap_DEV) carries it too. */
  dev?: string;
}

export interface SetModel {
  name: string;
  family: IpFamily;
  flags: string[];
  /** Collapsed and sorted. */
  intervals: Interval[];
}

export interface RuleModel {
  chain: string;
  comment: string;
  /** nft JSON statements; counters with their values stripped. */
  expr: unknown[];
  /** Read back from the kernel only. */
  counter?: { packets: number; bytes: number };
}

export interface TableModel {
  family: TableFamily;
  name: string;
  chains: ChainModel[];
  sets: SetModel[];
  rules: RuleModel[];
}

/** What a rule's comment says about it: `hv feed=NAME path=PATH dir=saddr|daddr mode=MODE`. */
export interface RuleTag {
  feed: string;
  path: FeedPath;
  dir: "saddr" | "daddr";
  family: IpFamily;
  mode: FeedMode;
}

export function ruleComment(tag: RuleTag): string {
  return `hv feed=${tag.feed} path=${tag.path} dir=${tag.dir} family=${tag.family} mode=${tag.mode}`;
}

export function parseRuleComment(comment: string): RuleTag | undefined {
  const m = /^hv feed=(\S+) path=(input|forward|output|taps) dir=(saddr|daddr) family=(ip6?) mode=(monitor|enforce)$/.exec(comment);
  if (!m) return undefined;
  return { feed: m[1]!, path: m[2] as FeedPath, dir: m[3] as "saddr" | "daddr", family: m[4] as IpFamily, mode: m[5] as FeedMode };
}

// The response sections (quarantine, block, rate limit) tag their rules the same way, so status
// attributes drops to a VM or to the block list, and spots what hv did not write. nft caps a
// comment at 128 bytes: VM names are at most 64 characters, device names 15.

/** Where a quarantine rule sits: the tap's ingress (what the VM sends), its egress (what it receives), or the forward chain by interface name. */
export type QuarantineDir = "ingress" | "egress" | "forward-in" | "forward-out";

/** Every rule hv writes, by what its comment says. */
export type HvRuleTag =
  | ({ kind: "feed" } & RuleTag)
  /** verdict keep: traffic of a kept address (or ARP/NDP) accepted before the drop. */
  | { kind: "quarantine"; vm: string; dev: string; dir: QuarantineDir; verdict: "drop" | "keep" }
  | { kind: "block"; path: FeedPath; dev?: string; dir: "saddr" | "daddr"; family: IpFamily }
  | { kind: "ratelimit"; vm: string; dev: string; dir: "ingress" | "egress" };

export function quarantineComment(t: { vm: string; dev: string; dir: QuarantineDir; verdict: "drop" | "keep" }): string {
  return `hv quarantine=${t.vm} dev=${t.dev} dir=${t.dir} ${t.verdict}`;
}

export function blockComment(t: { path: FeedPath; dev?: string; dir: "saddr" | "daddr"; family: IpFamily }): string {
  return `hv block path=${t.path}${t.dev ? ` dev=${t.dev}` : ""} dir=${t.dir} family=${t.family}`;
}

export function rateLimitComment(t: { vm: string; dev: string; dir: "ingress" | "egress" }): string {
  return `hv ratelimit=${t.vm} dev=${t.dev} dir=${t.dir}`;
}

export function parseHvComment(comment: string): HvRuleTag | undefined {
  const feed = parseRuleComment(comment);
  if (feed) return { kind: "feed", ...feed };
  let m = /^hv quarantine=(\S+) dev=(\S+) dir=(ingress|egress|forward-in|forward-out) (drop|keep)$/.exec(comment);
  if (m) return { kind: "quarantine", vm: m[1]!, dev: m[2]!, dir: m[3] as QuarantineDir, verdict: m[4] as "drop" | "keep" };
  m = /^hv block path=(input|forward|output|taps)(?: dev=(\S+))? dir=(saddr|daddr) family=(ip6?)$/.exec(comment);
  if (m) return { kind: "block", path: m[1] as FeedPath, ...(m[2] ? { dev: m[2] } : {}), dir: m[3] as "saddr" | "daddr", family: m[4] as IpFamily };
  m = /^hv ratelimit=(\S+) dev=(\S+) dir=(ingress|egress)$/.exec(comment);
  if (m) return { kind: "ratelimit", vm: m[1]!, dev: m[2]!, dir: m[3] as "ingress" | "egress" };
  return undefined;
}

/** JSON with object keys sorted, so two equal expressions give the same text. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  if (value && typeof value === "object") {
    const keys = Object.keys(value).sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson((value as Record<string, unknown>)[k])}`).join(",")}}`;
  }
  return JSON.stringify(value ?? null);
}
