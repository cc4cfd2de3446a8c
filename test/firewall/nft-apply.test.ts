// hv's tables in a real nft, inside a network namespace this test creates: sets applied and read
// back, atomic updates, reconcile after hand edits, and another table left byte-identical.

import { execa } from "execa";
import { chmod, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { formatAddress } from "../../src/firewall/addresses.js";
import { applyCommands, listObjects, NftError } from "../../src/firewall/nft.js";
import { flushHvTables, reconcile } from "../../src/firewall/reconcile.js";
import { readStatus } from "../../src/firewall/status.js";
import type { FirewallState } from "../../src/firewall/state.js";
import { waitFor } from "../helpers/libvirt.js";
import { addNetns, deleteAllNetns, listTableText, requireNetnsNft, sh } from "../helpers/netns-fw.js";

const can = await requireNetnsNft();

// Someone else's table, with its own set and rules: hv must never change a byte of it.
const BYSTANDER = `table inet bystander {
  set allow4 { type ipv4_addr; flags interval; elements = { 192.0.2.0/24, 10.9.0.1 }; }
  chain input {
    type filter hook input priority 0; policy accept;
    ip saddr @allow4 accept
    tcp dport 9999 drop
  }
}
`;

async function setElements(ns: string, table: string, set: string, family = "inet"): Promise<unknown[]> {
  const objs = await listObjects(["set", family, table, set], { netns: ns });
  return ((objs?.find((o) => o.set)?.set?.elem as unknown[] | undefined) ?? []);
}

describe.skipIf(!can)("nft layer in a namespace", () => {
  let ns: string;
  let bystanderBefore: string;
  let tmp: string;

  beforeAll(async () => {
    ns = await addNetns("apply");
    tmp = await mkdtemp(join(tmpdir(), "hvfw-"));
    await execa("ip", ["netns", "exec", ns, "nft", "-f", "-"], { input: BYSTANDER });
    bystanderBefore = await listTableText(ns, "inet", "bystander");
  });

  afterAll(async () => {
    try {
      // The last check of all: everything hv did in this namespace left the other table as it was.
      if (bystanderBefore) expect(await listTableText(ns, "inet", "bystander")).toBe(bystanderBefore);
    } finally {
      await deleteAllNetns();
      if (tmp) await rm(tmp, { recursive: true, force: true });
    }
  });

  const state = (v4: string[], mode: "monitor" | "enforce" = "enforce"): FirewallState => ({
    sets: [{ name: "t1", mode, paths: ["input", "output"], v4, v6: ["2001:db8:1::/48", "2001:db8:1:5::1"] }],
    taps: [],
  });

  it("applies a feed set that nft lists back collapsed", async () => {
    const r = await reconcile(state(["203.0.113.0/25", "203.0.113.128/25", "198.51.100.7", "198.51.100.8"]), { netns: ns });
    expect(r.action).toBe("replaced");
    expect(await setElements(ns, "hv", "feed_t1_v4")).toEqual([{ range: ["198.51.100.7", "198.51.100.8"] }, { prefix: { addr: "203.0.113.0", len: 24 } }]);
    expect(await setElements(ns, "hv", "feed_t1_v6")).toEqual([{ prefix: { addr: "2001:db8:1::", len: 48 } }]);
    const status = await readStatus({ netns: ns });
    expect(status.feeds).toEqual([expect.objectContaining({ feed: "t1", mode: "enforce", paths: ["input", "output"], v4Elements: 2, v6Elements: 1 })]);
    expect(status.tables).toEqual([{ family: "inet", name: "hv", present: true }, { family: "netdev", name: "hv", present: false }]);
  });

  it("updates a set in one nft invocation; a refused batch leaves the previous contents", async () => {
    // A wrapper that logs each nft invocation, so the test counts them.
    const log = join(tmp, "nft.log");
    const wrapper = join(tmp, "nft-wrapper.sh");
    await writeFile(wrapper, `#!/bin/sh\necho "$*" >> ${log}\nexec nft "$@"\n`);
    await chmod(wrapper, 0o755);
    const r = await reconcile(state(["203.0.113.9"]), { netns: ns, nft: wrapper });
    expect(r.action).toBe("updated-sets");
    expect(r.updatedSets).toEqual(["inet hv feed_t1_v4"]);
    const calls = (await readFile(log, "utf8")).trim().split("\n");
    expect(calls.filter((c) => c.includes(" -f "))).toHaveLength(1);
    expect(await setElements(ns, "hv", "feed_t1_v4")).toEqual(["203.0.113.9"]);

    const bad = [
      { flush: { set: { family: "inet", table: "hv", name: "feed_t1_v4" } } },
      { add: { element: { family: "inet", table: "hv", name: "feed_t1_v4", elem: ["192.0.2.1", "192.0.2.300"] } } },
    ];
    await expect(applyCommands(bad, { netns: ns })).rejects.toThrow(NftError);
    expect(await setElements(ns, "hv", "feed_t1_v4")).toEqual(["203.0.113.9"]);
  });

  // hv replaces a set's contents with `flush set` + `add element` in ONE nft transaction; the
  // kernel's packet path sees a transaction all at once (nf_tables generation masks), so a packet
  // meets the old contents or the new, never a partial or empty set. That — packets, not listings —
  // is the guarantee: `nft list set` is not a snapshot (its netlink dump comes in chunks, and a
  // commit between two chunks shows a mix of both generations; seen here with nft alone on a busy
  // machine: 2 of 35 reads counted 25,528 and 25,024 of 20,000). So the test sends packets all
  // through the updates and counts, after hv's output hook, what got out.
  it("while 20k-element updates go in, no packet to an address in every version of the set gets out, and listings are never empty", async () => {
    const big = (offset: number): string[] => Array.from({ length: 20_000 }, (_, i) => formatAddress(BigInt(0x0a400000 + (i + offset) * 4), "ip"));
    const blocked = formatAddress(BigInt(0x0a400000 + 10_000 * 4), "ip"); // index 10,000: in every round below
    const control = formatAddress(BigInt(0x0a400000 + 90_000 * 4), "ip"); // in none
    await reconcile(state(big(0)), { netns: ns });
    // The packets leave through a veth with static neighbours; a witness table counts them in
    // postrouting, which only packets hv's output chain let through reach.
    await sh(ns, ["ip", "link", "add", "w0", "type", "veth", "peer", "name", "w1"]);
    for (const dev of ["w0", "w1"]) await sh(ns, ["ip", "link", "set", dev, "up"]);
    await sh(ns, ["ip", "addr", "add", "10.63.0.1/24", "dev", "w0"]);
    await sh(ns, ["ip", "route", "add", "10.64.0.0/12", "dev", "w0"]);
    for (const a of [blocked, control]) await sh(ns, ["ip", "neigh", "replace", a, "lladdr", "02:00:00:00:00:01", "dev", "w0", "nud", "permanent"]);
    await execa("ip", ["netns", "exec", ns, "nft", "-f", "-"], {
      input: `table inet witness {\n chain post {\n type filter hook postrouting priority 100; policy accept;\n ip daddr ${blocked} counter\n ip daddr ${control} counter\n }\n}\n`,
    });
    const sender = execa("ip", ["netns", "exec", ns, "python3", "-c", [
      "import socket, sys",
      "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)",
      "while True:",
      "  for a in sys.argv[1:]:",
      "    try: s.sendto(b'x', (a, 9))",
      "    except OSError: pass",
    ].join("\n"), blocked, control], { reject: false });
    const witness = async (): Promise<number[]> => {
      const text = (await sh(ns, ["nft", "list", "table", "inet", "witness"])).stdout;
      return [blocked, control].map((a) => Number(new RegExp(`ip daddr ${a.replaceAll(".", "\\.")} counter packets (\\d+)`).exec(text)?.[1] ?? NaN));
    };
    let stop = false;
    const seen: number[] = [];
    const reader = (async () => {
      while (!stop) {
        const r = await sh(ns, ["nft", "-j", "list", "set", "inet", "hv", "feed_t1_v4"]);
        seen.push((r.stdout.match(/"10\.\d+\.\d+\.\d+"/g) ?? []).length);
      }
    })();
    try {
      // Traffic flows before the first update (the control address's packets get out).
      await waitFor(async () => (await witness())[1]! > 100, 30_000, "the sender's packets to reach the witness");
      for (let round = 1; round <= 4; round++) {
        const r = await reconcile(state(big(round * 1000)), { netns: ns });
        expect(r.action).toBe("updated-sets");
      }
      const before = (await witness())[1]!;
      await waitFor(async () => (await witness())[1]! > before + 100, 30_000, "more packets after the last update");
    } finally {
      stop = true;
      sender.kill("SIGKILL");
      await sender;
      await reader;
    }
    const [blockedOut, controlOut] = await witness();
    expect(controlOut).toBeGreaterThan(200);
    expect(blockedOut).toBe(0);
    expect(seen.length).toBeGreaterThan(0);
    expect(Math.min(...seen)).toBeGreaterThan(0);
    await sh(ns, ["nft", "delete", "table", "inet", "witness"]);
    await sh(ns, ["ip", "link", "del", "w0"]);
  });

  it("loads 100k elements (v4 and v6) in one transaction and reads them all back", async () => {
    const v4 = Array.from({ length: 90_000 }, (_, i) => formatAddress(BigInt(0x0b000000 + i * 2), "ip"));
    const v6 = Array.from({ length: 10_000 }, (_, i) => `${formatAddress((0x20010db8n << 96n) + (BigInt(i * 2) << 64n), "ip6")}/64`);
    const r = await reconcile({ sets: [{ name: "big", mode: "monitor", paths: ["input"], v4, v6 }], taps: [] }, { netns: ns, tables: { inet: "hvbig", netdev: "hvbig" } });
    expect(r.action).toBe("replaced");
    expect(await setElements(ns, "hvbig", "feed_big_v4")).toHaveLength(90_000);
    expect(await setElements(ns, "hvbig", "feed_big_v6")).toHaveLength(10_000);
    expect((await reconcile({ sets: [{ name: "big", mode: "monitor", paths: ["input"], v4, v6 }], taps: [] }, { netns: ns, tables: { inet: "hvbig", netdev: "hvbig" } })).action).toBe("unchanged");
    await flushHvTables({ netns: ns, tables: { inet: "hvbig", netdev: "hvbig" } });
  });

  it("restores a set or rule deleted by hand; leaves equal tables (and their counters) alone", async () => {
    await reconcile(state(["203.0.113.9", "10.9.9.9"]), { netns: ns });
    // Traffic from this namespace to a listed address counts on the output rule.
    await sh(ns, ["ip", "link", "add", "d0", "type", "veth", "peer", "name", "d1"]);
    await sh(ns, ["ip", "addr", "add", "10.9.9.1/24", "dev", "d0"]);
    await sh(ns, ["ip", "link", "set", "d0", "up"]);
    await sh(ns, ["ip", "link", "set", "d1", "up"]);
    await sh(ns, ["ncat", "-z", "-w", "0.5", "10.9.9.9", "80"], { reject: false });
    const before = (await readStatus({ netns: ns })).feeds[0]!;
    expect(before.packets).toBeGreaterThan(0);
    const handlesBefore = await sh(ns, ["nft", "-a", "list", "chain", "inet", "hv", "output"]);

    const same = await reconcile(state(["10.9.9.9", "203.0.113.9"]), { netns: ns });
    expect(same.action).toBe("unchanged");
    expect(same.commands).toBe(0);
    const after = (await readStatus({ netns: ns })).feeds[0]!;
    expect(after.packets).toBe(before.packets);
    expect((await sh(ns, ["nft", "-a", "list", "chain", "inet", "hv", "output"])).stdout).toBe(handlesBefore.stdout);

    // A rule deleted by hand.
    const handle = /comment "hv feed=t1 path=output dir=daddr family=ip mode=enforce" # handle (\d+)/.exec(handlesBefore.stdout)![1]!;
    await sh(ns, ["nft", "delete", "rule", "inet", "hv", "output", "handle", handle]);
    expect((await readStatus({ netns: ns })).rules.filter((r) => r.chain === "output" && r.family === "ip")).toHaveLength(0);
    const fixed = await reconcile(state(["10.9.9.9", "203.0.113.9"]), { netns: ns });
    // Only the damaged chain is written again; the other chains keep their rules (and handles).
    expect(fixed.action).toBe("updated");
    expect(fixed.tables.map((t) => t.chains)).toEqual([["output"]]);
    expect((await readStatus({ netns: ns })).rules.filter((r) => r.chain === "output" && r.family === "ip")).toHaveLength(1);

    // A set deleted by hand (its rules first, as nft requires).
    await sh(ns, ["nft", "flush", "chain", "inet", "hv", "input"]);
    await sh(ns, ["nft", "flush", "chain", "inet", "hv", "output"]);
    await sh(ns, ["nft", "delete", "set", "inet", "hv", "feed_t1_v6"]);
    const again = await reconcile(state(["10.9.9.9", "203.0.113.9"]), { netns: ns });
    expect(again.action).toBe("updated");
    expect(again.reason).toMatch(/sets feed_t1_v6/);
    expect(await setElements(ns, "hv", "feed_t1_v6")).toHaveLength(1);
    expect((await readStatus({ netns: ns })).rules).toHaveLength(4);

    // A rule added by hand to hv's table is removed.
    await sh(ns, ["nft", "add", "rule", "inet", "hv", "input", "tcp", "dport", "22", "drop"]);
    expect((await reconcile(state(["10.9.9.9", "203.0.113.9"]), { netns: ns })).action).toBe("updated");
    expect((await readStatus({ netns: ns })).rules.some((r) => r.foreign)).toBe(false);
    // A table deleted by hand comes back whole.
    await sh(ns, ["nft", "delete", "table", "inet", "hv"]);
    expect((await reconcile(state(["10.9.9.9", "203.0.113.9"]), { netns: ns })).action).toBe("replaced");
    expect((await readStatus({ netns: ns })).rules).toHaveLength(4);
  });

  it("flush removes hv's tables and nothing else", async () => {
    await flushHvTables({ netns: ns });
    const tables = (await listObjects(["tables"], { netns: ns }))!.map((o) => `${String(o.table!.family)} ${String(o.table!.name)}`);
    expect(tables).toEqual(["inet bystander"]);
    expect(await listTableText(ns, "inet", "bystander")).toBe(bystanderBefore);
    expect((await readStatus({ netns: ns })).tables.every((t) => !t.present)).toBe(true);
  });
});
