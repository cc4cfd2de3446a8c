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

/** JSON with object keys sorted, so two equal expressions give the same text. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  if (value && typeof value === "object") {
    const keys = Object.keys(value).sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson((value as Record<string, unknown>)[k])}`).join(",")}}`;
  }
  return JSON.stringify(value ?? null);
}
