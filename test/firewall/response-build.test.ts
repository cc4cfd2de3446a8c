// The response sections (quarantine, blocks, rate limits) as tables, and the per-table, per-chain
// reconcile plan, without nft.

import { describe, expect, it } from "vitest";
import { formatAddress } from "../../src/firewall/addresses.js";
import { buildTables, FirewallStateError } from "../../src/firewall/build.js";
import { parseHvComment, type TableModel } from "../../src/firewall/model.js";
import { tableFromObjects, type ObservedTable } from "../../src/firewall/observe.js";
import { planReconcile } from "../../src/firewall/reconcile.js";
import type { FirewallState } from "../../src/firewall/state.js";

const asObserved = (tables: TableModel[]): ObservedTable[] =>
  tables.map((t) => ({
    ...t,
    rules: t.rules.map((r) => ({ ...r })),
    chains: t.chains.map(({ dev: _dev, ...c }) => c),
    sets: t.sets.map((s) => ({ ...s, type: s.family === "ip" ? "ipv4_addr" : "ipv6_addr", elements: s.intervals.length, unreadable: 0 })),
  }));

const chain = (t: TableModel | undefined, name: string) => t?.rules.filter((r) => r.chain === name) ?? [];
const verdicts = (rules: TableModel["rules"]) => rules.map((r) => JSON.stringify(r.expr[r.expr.length - 1]));
const byFamily = (tables: TableModel[], family: "inet" | "netdev") => tables.find((t) => t.family === family);

describe("quarantine", () => {
  const state: FirewallState = { sets: [], taps: [], quarantines: [{ vm: "web1", taps: ["vnet3"], keep: ["10.0.0.5", "2001:db8::9"] }] };

  it("drops everything on the tap's ingress and egress and in forward, after accepting ARP/NDP and the kept addresses", () => {
    const tables = buildTables(state);
    const netdev = byFamily(tables, "netdev")!;
    expect(netdev.chains.map((c) => [c.name, c.hook, c.dev])).toEqual([
      ["quarantine_vnet3_ingress", "ingress", "vnet3"],
      ["quarantine_vnet3_egress", "egress", "vnet3"],
    ]);
    const ingress = chain(netdev, "quarantine_vnet3_ingress");
    expect(ingress.map((r) => parseHvComment(r.comment))).toEqual([
      ...Array(5).fill({ kind: "quarantine", vm: "web1", dev: "vnet3", dir: "ingress", verdict: "keep" }),
      { kind: "quarantine", vm: "web1", dev: "vnet3", dir: "ingress", verdict: "drop" },
    ]);
    expect(JSON.stringify(ingress[0]!.expr)).toContain('"arp"');
    expect(JSON.stringify(ingress[1]!.expr)).toContain("nd-neighbor-solicit");
    expect(ingress[3]!.expr[0]).toEqual({ match: { op: "==", left: { payload: { protocol: "ip", field: "daddr" } }, right: "10.0.0.5" } });
    expect(verdicts(ingress)).toEqual([...Array(5).fill('{"accept":null}'), '{"drop":null}']);
    // Everything counts: the drops are what status reports per VM.
    expect(ingress.every((r) => r.expr.some((s) => JSON.stringify(s) === '{"counter":null}'))).toBe(true);
    expect(ingress[5]!.expr).toEqual([{ counter: null }, { drop: null }]);
    // What the VM receives: the far end is the source.
    expect(JSON.stringify(chain(netdev, "quarantine_vnet3_egress")[3]!.expr)).toContain('"saddr"');

    const fwd = chain(byFamily(tables, "inet"), "quarantine_vnet3");
    expect(byFamily(tables, "inet")!.chains).toEqual([{ name: "quarantine_vnet3", type: "filter", hook: "forward", prio: -10, policy: "accept" }]);
    expect(fwd.map((r) => `${parseHvComment(r.comment)!.kind === "quarantine" ? (parseHvComment(r.comment) as { dir: string }).dir : ""} ${JSON.stringify(r.expr[r.expr.length - 1])}`)).toEqual([
      'forward-in {"accept":null}',
      'forward-in {"accept":null}',
      'forward-out {"accept":null}',
      'forward-out {"accept":null}',
      'forward-in {"drop":null}',
      'forward-out {"drop":null}',
    ]);
    expect(fwd[4]!.expr[0]).toEqual({ match: { op: "==", left: { meta: { key: "iifname" } }, right: "vnet3" } });
  });

  it("without keep addresses: no ARP, only the drops", () => {
    const netdev = byFamily(buildTables({ ...state, quarantines: [{ vm: "web1", taps: ["vnet3"], keep: [] }] }), "netdev")!;
    expect(verdicts(chain(netdev, "quarantine_vnet3_ingress"))).toEqual(['{"drop":null}']);
  });

  it("a tap that is not present gets no netdev chains, but its forward rules stay (they match by name)", () => {
    const tables = buildTables(state, undefined, { present: () => false });
    expect(tables.map((t) => t.family)).toEqual(["inet"]);
    expect(tables[0]!.chains.map((c) => c.name)).toEqual(["quarantine_vnet3"]);
  });

  it("refuses what would not fit or contradicts itself, naming the VM", () => {
    const q = (over: object) => ({ sets: [], taps: [], quarantines: [{ vm: "web1", taps: ["vnet3"], keep: [], ...over }] });
    expect(() => buildTables(q({ vm: "has space" }))).toThrow(/VM name "has space"/);
    expect(() => buildTables(q({ vm: "x".repeat(65) }))).toThrow(FirewallStateError);
    expect(() => buildTables(q({ keep: ["10.0.0.999"] }))).toThrow(/quarantine of web1: keep "10.0.0.999"/);
    expect(() => buildTables(q({ taps: ["bad name"] }))).toThrow(/tap device "bad name"/);
    expect(() => buildTables({ sets: [], taps: [], quarantines: [{ vm: "a", taps: ["vnet1"], keep: [] }, { vm: "b", taps: ["vnet1"], keep: [] }] })).toThrow(/tap vnet1 belongs to both a and b/);
    expect(() => buildTables({ sets: [], taps: [], rateLimits: [{ vm: "a", taps: ["vnet1"], bytesPerSecond: 0 }] })).toThrow(/bytesPerSecond/);
  });
});

describe("blocks and rate limits", () => {
  it("blocks: two interval sets, dropped on input (saddr), output (daddr), forward (both) and every known tap's ingress (daddr)", () => {
    const tables = buildTables({ sets: [], taps: ["vnet0"], blocks: { v4: ["192.0.2.0/25", "192.0.2.128/25"], v6: [] }, quarantines: [{ vm: "q", taps: ["vnet5"], keep: [] }] });
    const inet = byFamily(tables, "inet")!;
    expect(inet.sets.map((s) => [s.name, s.intervals.length])).toEqual([["block_v4", 1], ["block_v6", 0]]);
    const tags = (name: string, t = inet) => chain(t, name).map((r) => parseHvComment(r.comment));
    expect(tags("block_input")).toEqual([
      { kind: "block", path: "input", dir: "saddr", family: "ip" },
      { kind: "block", path: "input", dir: "saddr", family: "ip6" },
    ]);
    expect(tags("block_output").map((t) => (t as { dir: string }).dir)).toEqual(["daddr", "daddr"]);
    expect(tags("block_forward").map((t) => (t as { dir: string }).dir)).toEqual(["saddr", "saddr", "daddr", "daddr"]);
    expect(verdicts(inet.rules.filter((r) => r.chain.startsWith("block_")))).toEqual(Array(8).fill('{"drop":null}'));
    const netdev = byFamily(tables, "netdev")!;
    expect(netdev.sets.map((s) => s.name)).toEqual(["block_v4", "block_v6"]);
    // The quarantined VM's tap is a known tap too.
    expect(netdev.chains.filter((c) => c.name.startsWith("block_")).map((c) => [c.name, c.hook, c.dev])).toEqual([["block_vnet0", "ingress", "vnet0"], ["block_vnet5", "ingress", "vnet5"]]);
    expect(tags("block_vnet0", netdev)).toEqual([
      { kind: "block", path: "taps", dev: "vnet0", dir: "daddr", family: "ip" },
      { kind: "block", path: "taps", dev: "vnet0", dir: "daddr", family: "ip6" },
    ]);
  });

  it("rate limits: limit rate over N bytes/second drop on the tap's ingress and egress", () => {
    const [netdev, ...rest] = buildTables({ sets: [], taps: [], rateLimits: [{ vm: "bulk", taps: ["vnet2"], bytesPerSecond: 250_000 }] });
    expect(rest).toEqual([]);
    expect(netdev!.chains.map((c) => [c.name, c.hook])).toEqual([["ratelimit_vnet2_ingress", "ingress"], ["ratelimit_vnet2_egress", "egress"]]);
    expect(netdev!.rules[0]!.expr).toEqual([{ limit: { rate: 250_000, burst: 0, per: "second", inv: true, rate_unit: "bytes", burst_unit: "bytes" } }, { counter: null }, { drop: null }]);
    expect(parseHvComment(netdev!.rules[1]!.comment)).toEqual({ kind: "ratelimit", vm: "bulk", dev: "vnet2", dir: "egress" });
  });

  it("nothing in force, nothing blocked: no tables at all", () => {
    expect(buildTables({ sets: [], taps: ["vnet0"], quarantines: [], rateLimits: [], blocks: { v4: [], v6: [] } })).toEqual([]);
  });

  it("a limit nft lists in mbytes reads back as the same rule (no endless rewrite)", () => {
    const [netdev] = buildTables({ sets: [], taps: [], rateLimits: [{ vm: "bulk", taps: ["vnet2"], bytesPerSecond: 3 * 1024 * 1024 }] });
    // What `nft -j list table netdev hv` prints for it (nft 1.0.6).
    const listed = tableFromObjects("netdev", "hv", [
      ...netdev!.chains.map((c) => ({ chain: { family: "netdev", table: "hv", name: c.name, handle: 1, type: c.type, hook: c.hook, prio: c.prio, policy: c.policy } })),
      ...netdev!.rules.map((r) => ({
        rule: { family: "netdev", table: "hv", chain: r.chain, handle: 2, comment: r.comment, expr: [{ limit: { rate: 3, burst: 0, per: "second", inv: true, rate_unit: "mbytes", burst_unit: "bytes" } }, { counter: { packets: 7, bytes: 9000 } }, { drop: null }] },
      })),
    ]);
    expect(planReconcile([netdev!], [listed]).action).toBe("unchanged");
    expect(listed.rules[0]!.counter).toEqual({ packets: 7, bytes: 9000 });
  });
});

describe("per-table, per-chain reconcile plan", () => {
  const bigFeed = { name: "big", mode: "enforce" as const, paths: ["input" as const, "forward" as const, "taps" as const], v4: Array.from({ length: 2000 }, (_, i) => formatAddress(BigInt(0xc6336400 + i * 2), "ip")), v6: [] };
  const base: FirewallState = { sets: [bigFeed], taps: ["vnet0", "vnet1"] };
  const commandText = (cmds: unknown[]) => cmds.map((c) => JSON.stringify(c)).join("\n");

  it("a quarantine added next to a feed: its chains are added, no set or other chain is written", () => {
    const before = buildTables(base);
    const after = buildTables({ ...base, quarantines: [{ vm: "web1", taps: ["vnet1"], keep: [] }] });
    const plan = planReconcile(after, asObserved(before));
    expect(plan.action).toBe("updated");
    expect(plan.tables.map((t) => [t.table, t.action, t.chains])).toEqual([
      ["inet hv", "updated", ["quarantine_vnet1"]],
      ["netdev hv", "updated", ["quarantine_vnet1_egress", "quarantine_vnet1_ingress"]],
    ]);
    const text = commandText(plan.commands);
    expect(text).not.toMatch(/feed_big|"delete"|"flush"|"name":"input"|"name":"tap_vnet0"/);
    // Released again: only its chains go.
    const release = planReconcile(before, asObserved(after));
    expect(release.tables.map((t) => t.chains)).toEqual([["quarantine_vnet1"], ["quarantine_vnet1_egress", "quarantine_vnet1_ingress"]]);
    expect(commandText(release.commands)).not.toMatch(/feed_big|"add"/);
  });

  it("the first block adds the block sets and chains; the next ones change set contents only", () => {
    const one = buildTables({ ...base, blocks: { v4: ["203.0.113.9"], v6: [] } });
    const first = planReconcile(one, asObserved(buildTables(base)));
    expect(first.action).toBe("updated");
    expect(commandText(first.commands)).not.toMatch(/feed_big/);
    const two = buildTables({ ...base, blocks: { v4: ["203.0.113.9", "198.51.100.0/24"], v6: ["2001:db8::1"] } });
    const next = planReconcile(two, asObserved(one));
    expect(next.action).toBe("updated-sets");
    expect(next.updatedSets).toEqual(["inet hv block_v4", "inet hv block_v6", "netdev hv block_v4", "netdev hv block_v6"]);
    // Unblocking the last address with nothing else in force leaves no tables at all.
    const last = planReconcile([], asObserved(buildTables({ sets: [], taps: [], blocks: { v4: ["203.0.113.9"], v6: [] } })));
    expect(last.tables.map((t) => [t.table, t.action])).toEqual([["inet hv", "deleted"]]);
    expect(last.commands).toEqual([{ delete: { table: { family: "inet", name: "hv" } } }]);
  });

  it("a set declared differently takes the chains that use it along; a foreign chain is removed", () => {
    const want = buildTables(base);
    const have = asObserved(want);
    have[0]!.sets[0]!.flags = [];
    have[0]!.chains.push({ name: "mine", type: "filter", hook: "input", prio: 0, policy: "accept" });
    const plan = planReconcile(want, have);
    expect(plan.tables[0]!.chains).toEqual(["forward", "input", "mine"]);
    const text = commandText(plan.commands);
    expect(text.indexOf('"delete":{"set"')).toBeGreaterThan(text.lastIndexOf('"delete":{"chain"'));
    expect(text.indexOf('"add":{"set"')).toBeGreaterThan(text.indexOf('"delete":{"set"'));
  });
});
