// Reads hv's tables back from the kernel (`nft -j list table FAMILY NAME`) into table models.

import { collapse, elementToInterval, type Interval, type IpFamily } from "./addresses.js";
import type { ChainModel, RuleModel, SetModel, TableFamily, TableModel } from "./model.js";
import { listObjects, type NftObject } from "./nft.js";
import { DEFAULT_TABLES, type NftOptions } from "./state.js";

export interface ObservedSet extends SetModel {
  /** The kernel's type, as listed (hv's sets are ipv4_addr/ipv6_addr). */
  type: string;
  /** Elements as listed (ranges and prefixes count one each). */
  elements: number;
  /** Listed elements hv could not read back (a shape it never writes). */
  unreadable: number;
}

export interface ObservedTable extends TableModel {
  sets: ObservedSet[];
}

/** Both of hv's tables as the kernel has them; a missing table is left out. */
export async function readTables(opts: NftOptions = {}): Promise<ObservedTable[]> {
  const names = opts.tables ?? DEFAULT_TABLES;
  const out: ObservedTable[] = [];
  for (const [family, name] of [["inet", names.inet], ["netdev", names.netdev]] as const) {
    const objects = await listObjects(["table", family, name], opts);
    if (objects) out.push(tableFromObjects(family, name, objects));
  }
  return out;
}

export function tableFromObjects(family: TableFamily, name: string, objects: NftObject[]): ObservedTable {
  const table: ObservedTable = { family, name, chains: [], sets: [], rules: [] };
  for (const o of objects) {
    if (o.chain) table.chains.push(chainFrom(o.chain));
    else if (o.set) table.sets.push(setFrom(o.set));
    else if (o.rule) table.rules.push(ruleFrom(o.rule));
  }
  return table;
}

function chainFrom(c: Record<string, unknown>): ChainModel {
  const dev = Array.isArray(c.dev) ? c.dev.join(",") : typeof c.dev === "string" ? c.dev : undefined;
  return {
    name: String(c.name),
    type: String(c.type ?? ""),
    hook: String(c.hook ?? ""),
    prio: typeof c.prio === "number" ? c.prio : NaN,
    policy: String(c.policy ?? ""),
    ...(dev ? { dev } : {}),
  };
}

function setFrom(s: Record<string, unknown>): ObservedSet {
  const type = String(s.type);
  const family: IpFamily = type === "ipv6_addr" ? "ip6" : "ip";
  const elems = Array.isArray(s.elem) ? s.elem : [];
  const intervals: Interval[] = [];
  let unreadable = 0;
  for (const el of elems) {
    const iv = elementToInterval(el, family);
    if (iv) intervals.push(iv);
    else unreadable++;
  }
  const flags = Array.isArray(s.flags) ? s.flags.map(String).sort() : typeof s.flags === "string" ? [s.flags] : [];
  return { name: String(s.name), type, family, flags, intervals: collapse(intervals), elements: elems.length, unreadable };
}

function ruleFrom(r: Record<string, unknown>): RuleModel {
  const exprIn = Array.isArray(r.expr) ? r.expr : [];
  let counter: RuleModel["counter"];
  const expr = exprIn.map((stmt: unknown) => {
    const s = stmt as Record<string, unknown>;
    if (s && typeof s === "object" && "counter" in s) {
      const c = s.counter as { packets?: number; bytes?: number } | null;
      if (c && typeof c === "object") counter = { packets: Number(c.packets ?? 0), bytes: Number(c.bytes ?? 0) };
      return { counter: null };
    }
    if (s && typeof s === "object" && "limit" in s) return { limit: limitInBytes(s.limit as Record<string, unknown>) };
    return stmt;
  });
  return { chain: String(r.chain), comment: typeof r.comment === "string" ? r.comment : "", expr, ...(counter ? { counter } : {}) };
}

const BYTE_UNITS: Record<string, number> = { bytes: 1, kbytes: 1024, mbytes: 1024 * 1024 };

/** nft lists `limit rate 1048576 bytes/second` as 1 mbytes; hv writes bytes, so compare in bytes. */
function limitInBytes(limit: Record<string, unknown>): Record<string, unknown> {
  const unit = typeof limit.rate_unit === "string" ? BYTE_UNITS[limit.rate_unit] : undefined;
  if (unit === undefined || typeof limit.rate !== "number") return limit;
  return { ...limit, rate: limit.rate * unit, rate_unit: "bytes" };
}
