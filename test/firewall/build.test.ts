// Builder and collapse, without nft: the collapsed intervals cover exactly the input's addresses,
// and the commands describe hv's tables only.

import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { collapse, elementToInterval, formatAddress, intervalsKey, intervalToElement, parseAddress, parseEntry, type Interval } from "../../src/firewall/addresses.js";
import { buildTables, FirewallStateError, replaceTablesCommands, setContentCommands } from "../../src/firewall/build.js";
import { parseRuleComment } from "../../src/firewall/model.js";
import { planReconcile } from "../../src/firewall/reconcile.js";
import type { ObservedTable } from "../../src/firewall/observe.js";
import type { FirewallState } from "../../src/firewall/state.js";

// Small address space (v4 within 10.0.0.0/24) so random CIDRs overlap and touch often.
const smallV4 = fc.tuple(fc.integer({ min: 0, max: 255 }), fc.integer({ min: 24, max: 32 })).map(([host, len]) => `10.0.0.${host}/${len}`);

function covered(intervals: Interval[], n: bigint): boolean {
  return intervals.some((iv) => iv.start <= n && n <= iv.end);
}

describe("collapse", () => {
  it("covers exactly the addresses of the input, with sorted, disjoint, non-adjacent intervals", () => {
    fc.assert(
      fc.property(fc.array(smallV4, { maxLength: 40 }), (entries) => {
        const input = entries.map((e) => parseEntry(e)!.interval);
        const out = collapse(input);
        for (let i = 1; i < out.length; i++) expect(out[i]!.start > out[i - 1]!.end + 1n).toBe(true);
        for (let host = 0n; host < 256n; host++) {
          const n = (10n << 24n) | host;
          expect(covered(out, n)).toBe(covered(input, n));
        }
      }),
    );
  });

  it("round-trips through nft elements (address, prefix or range) for v4 and v6", () => {
    const v6 = fc.tuple(fc.bigInt({ min: 0n, max: (1n << 128n) - 1n }), fc.integer({ min: 0, max: 128 })).map(([n, len]) => `${formatAddress(n, "ip6")}/${len}`);
    fc.assert(
      fc.property(fc.array(v6, { maxLength: 20 }), (entries) => {
        const out = collapse(entries.map((e) => parseEntry(e)!.interval));
        for (const iv of out) expect(elementToInterval(intervalToElement(iv, "ip6"), "ip6")).toEqual(iv);
      }),
    );
    const iv = { start: parseAddress("192.0.2.1")!.n, end: parseAddress("192.0.2.9")!.n };
    expect(intervalToElement(iv, "ip")).toEqual({ range: ["192.0.2.1", "192.0.2.9"] });
    expect(intervalToElement(parseEntry("198.51.100.77/24")!.interval, "ip")).toEqual({ prefix: { addr: "198.51.100.0", len: 24 } });
  });

  it("merges adjacent networks and formats IPv6 canonically", () => {
    const out = collapse(["192.0.2.0/25", "192.0.2.128/25", "192.0.2.7"].map((e) => parseEntry(e)!.interval));
    expect(out.map((iv) => intervalToElement(iv, "ip"))).toEqual([{ prefix: { addr: "192.0.2.0", len: 24 } }]);
    expect(formatAddress(parseAddress("2001:0db8:0:0:1:0:0:1")!.n, "ip6")).toBe("2001:db8::1:0:0:1");
    expect(parseEntry("10.0.0.1/33")).toBeUndefined();
    expect(parseAddress("1.2.3.256")).toBeUndefined();
  });
});

const state: FirewallState = {
  sets: [
    { name: "drop-list", mode: "enforce", paths: ["input", "forward", "taps"], v4: ["203.0.113.0/25", "203.0.113.128/25"], v6: ["2001:db8::/32"] },
    { name: "watch", mode: "monitor", paths: ["output"], v4: ["198.51.100.7"], v6: [] },
  ],
  taps: ["vnet0", "vnet1"],
};

describe("buildTables", () => {
  it("creates feed sets, rules tagged with the feed, and a netdev chain per tap with copies of the tap feeds' sets", () => {
    const [inet, netdev] = buildTables(state);
    expect(inet!.sets.map((s) => s.name)).toEqual(["feed_drop-list_v4", "feed_drop-list_v6", "feed_watch_v4", "feed_watch_v6"]);
    expect(inet!.sets[0]!.intervals).toHaveLength(1); // two /25 collapsed into one /24
    const input = inet!.rules.filter((r) => r.chain === "input");
    expect(input.map((r) => parseRuleComment(r.comment))).toEqual([
      { feed: "drop-list", path: "input", dir: "saddr", family: "ip", mode: "enforce" },
      { feed: "drop-list", path: "input", dir: "saddr", family: "ip6", mode: "enforce" },
    ]);
    expect(input[0]!.expr).toContainEqual({ drop: null });
    const out = inet!.rules.filter((r) => r.chain === "output");
    expect(out).toHaveLength(2);
    expect(out.every((r) => !r.expr.some((s) => JSON.stringify(s) === '{"drop":null}'))).toBe(true);
    expect(inet!.rules.filter((r) => r.chain === "forward")).toHaveLength(4);
    expect(netdev!.family).toBe("netdev");
    expect(netdev!.chains.map((c) => [c.name, c.hook, c.dev])).toEqual([["tap_vnet0", "ingress", "vnet0"], ["tap_vnet1", "ingress", "vnet1"]]);
    expect(netdev!.sets.map((s) => s.name)).toEqual(["feed_drop-list_v4", "feed_drop-list_v6"]);
  });

  it("leaves the netdev table out when no feed uses taps", () => {
    expect(buildTables({ sets: [state.sets[1]!], taps: ["vnet0"] })).toHaveLength(1);
  });

  it("refuses bad entries and names with an error naming the feed and value", () => {
    expect(() => buildTables({ sets: [{ ...state.sets[1]!, v4: ["not-an-ip"] }], taps: [] })).toThrow(/feed watch: "not-an-ip"/);
    expect(() => buildTables({ sets: [{ ...state.sets[1]!, v4: ["2001:db8::1"] }], taps: [] })).toThrow(FirewallStateError);
    expect(() => buildTables({ sets: [{ ...state.sets[1]!, name: "bad name" }], taps: [] })).toThrow(/feed name/);
  });

  it("only ever names hv's own tables in the commands", () => {
    const names = { inet: "hvx", netdev: "hvy" };
    expect(() => replaceTablesCommands(buildTables(state), names)).toThrow(/not one of hv's tables/);
    const cmds = replaceTablesCommands(buildTables(state, names), names);
    const tables = new Set<string>();
    JSON.stringify(cmds, (k, v: unknown) => {
      if ((k === "table" && typeof v === "string") || (k === "name" && typeof v === "string" && v.startsWith("hv"))) tables.add(v);
      return v;
    });
    expect([...tables].sort()).toEqual(["hvx", "hvy"]);
    expect(cmds.some((c) => "flush" in c && "ruleset" in (c.flush as object))).toBe(false);
  });

  it("puts a set's update in one batch: flush first, then every element in chunks", () => {
    const v4 = Array.from({ length: 50_000 }, (_, i) => formatAddress(BigInt(0x0a000000 + i * 2), "ip"));
    const [inet] = buildTables({ sets: [{ name: "big", mode: "enforce", paths: ["input"], v4, v6: [] }], taps: [] });
    const cmds = setContentCommands("inet", "hv", inet!.sets[0]!);
    expect(Object.keys(cmds[0]!)).toEqual(["flush"]);
    const elems = cmds.slice(1).flatMap((c) => ((c.add as { element: { elem: unknown[] } }).element.elem));
    expect(elems).toHaveLength(50_000);
    expect(cmds.length).toBeGreaterThan(2);
  });
});

describe("planReconcile", () => {
  const desired = buildTables(state);
  const asObserved = (tables: typeof desired): ObservedTable[] =>
    tables.map((t) => ({ ...t, rules: [...t.rules], chains: t.chains.map(({ dev: _dev, ...c }) => c), sets: t.sets.map((s) => ({ ...s, type: s.family === "ip" ? "ipv4_addr" : "ipv6_addr", elements: s.intervals.length, unreadable: 0 })) }));

  it("writes nothing when equal, only set contents when only they differ, only a changed chain, whole tables when missing", () => {
    expect(planReconcile(desired, asObserved(desired)).action).toBe("unchanged");
    const changed = buildTables({ ...state, sets: [{ ...state.sets[0]!, v4: ["203.0.113.9"] }, state.sets[1]!] });
    const plan = planReconcile(changed, asObserved(desired));
    expect(plan.action).toBe("updated-sets");
    expect(plan.updatedSets).toEqual(["inet hv feed_drop-list_v4", "netdev hv feed_drop-list_v4"]);
    const withoutRule = asObserved(desired);
    withoutRule[0]!.rules.splice(0, 1);
    // A rule deleted by hand: only its chain is written again.
    const fixRule = planReconcile(desired, withoutRule);
    expect(fixRule.action).toBe("updated");
    expect(fixRule.tables.map((t) => [t.table, t.action, t.chains])).toEqual([["inet hv", "updated", ["input"]], ["netdev hv", "unchanged", []]]);
    expect(planReconcile(desired, []).action).toBe("replaced");
  });

  it("property: equal states plan nothing; states differing only in entries plan exactly the changed sets", () => {
    const entry4 = fc.tuple(fc.integer({ min: 0, max: 255 }), fc.integer({ min: 28, max: 32 })).map(([h, l]) => `192.0.2.${h}/${l}`);
    const entry6 = fc.integer({ min: 0, max: 255 }).map((h) => `2001:db8::${h.toString(16)}`);
    const feed = fc.record({
      mode: fc.constantFrom("monitor" as const, "enforce" as const),
      paths: fc.subarray(["input", "forward", "output", "taps"] as const, { minLength: 1 }),
      v4: fc.array(entry4, { maxLength: 6 }),
      v6: fc.array(entry6, { maxLength: 3 }),
      v4b: fc.array(entry4, { maxLength: 6 }),
    });
    fc.assert(
      fc.property(fc.array(feed, { minLength: 1, maxLength: 4 }), fc.subarray(["vnet0", "vnet1"]), (feeds, taps) => {
        const a: FirewallState = { sets: feeds.map((f, i) => ({ name: `f${i}`, mode: f.mode, paths: [...f.paths], v4: f.v4, v6: f.v6 })), taps };
        const b: FirewallState = { ...a, sets: a.sets.map((s, i) => ({ ...s, v4: feeds[i]!.v4b })) };
        const ta = buildTables(a);
        const tb = buildTables(b);
        expect(planReconcile(ta, asObserved(ta)).action).toBe("unchanged");
        const plan = planReconcile(tb, asObserved(ta));
        const changed = tb.flatMap((t) => t.sets.filter((s) => intervalsKey(s.intervals) !== intervalsKey(ta.find((x) => x.family === t.family)!.sets.find((x) => x.name === s.name)!.intervals)).map((s) => `${t.family} hv ${s.name}`));
        expect(plan.action).toBe(changed.length ? "updated-sets" : "unchanged");
        expect(plan.updatedSets).toEqual(changed);
      }),
    );
  });
});
