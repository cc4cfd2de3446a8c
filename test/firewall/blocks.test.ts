// block_ip end to end: enforcements in a real SQLite store → syncFirewall → nft in a namespace
// (prefix hvfwqb) → real TCP traffic. Also: a block change is a set update, and a quarantine next
// to a large feed set leaves the feed's set and rules (handles, counters) alone.
//
//   vm (10.219.0.2) ── hvfwqb-t0 (10.219.0.1) │ host │ hvfwqb-h0 (10.218.0.1) ── remote (10.218.0.2, 203.0.113.7, 198.51.100.9)

import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type Database from "better-sqlite3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { syncFirewall } from "../../src/firewall/sync.js";
import { buildAllowlist } from "../../src/events/allowlist.js";
import { formatAddress } from "../../src/firewall/addresses.js";
import { readStatus } from "../../src/firewall/status.js";
import { validateFeedSpec } from "../../src/feeds/spec.js";
import { enforce, releaseEnforcement } from "../../src/store/enforcements.js";
import { addFeed, applyFeedSet } from "../../src/store/feeds.js";
import { openStore } from "../../src/store/open.js";
import { NetnsLab } from "../helpers/netns.js";
import { listen, requireNetnsNft, tcpConnects } from "../helpers/netns-fw.js";

const can = await requireNetnsNft();
const lab = new NetnsLab("hvfwqb");
const PORT = 7071;
const BLOCKED = "203.0.113.7";

describe.skipIf(!can)("block_ip and the per-table reconcile", () => {
  let host: string;
  let vm: string;
  let remote: string;
  let dir: string;
  let db: Database.Database;
  const stops: Array<() => Promise<void>> = [];
  const allowlist = buildAllowlist({ networks: ["198.51.100.0/25"], hostAddresses: false, managementInterfaces: [] });
  const sync = () => syncFirewall(db, { netns: host, taps: ["hvfwqb-t0"], allowlist });
  const handles = async (family: string, chain: string): Promise<string> => String((await lab.exec(host, "nft", ["-a", "list", "chain", family, "hv", chain])).stdout).replace(/counter packets \d+ bytes \d+/g, "counter");

  beforeAll(async () => {
    await lab.cleanup();
    host = await lab.namespace("host");
    vm = await lab.namespace("vm");
    remote = await lab.namespace("remote");
    await lab.link({ ns: host, ifname: "hvfwqb-h0", ip: "10.218.0.1/24" }, { ns: remote, ifname: "eth0", ip: ["10.218.0.2/24", `${BLOCKED}/32`, "198.51.100.9/32"] });
    await lab.link({ ns: host, ifname: "hvfwqb-t0", ip: "10.219.0.1/24" }, { ns: vm, ifname: "eth0", ip: "10.219.0.2/24" });
    await lab.exec(host, "sysctl", ["-qw", "net.ipv4.ip_forward=1"]);
    for (const net of ["203.0.113.0/24", "198.51.100.0/24"]) await lab.exec(host, "ip", ["route", "add", net, "via", "10.218.0.2"]);
    await lab.exec(remote, "ip", ["route", "add", "default", "via", "10.218.0.1"]);
    await lab.exec(vm, "ip", ["route", "add", "default", "via", "10.219.0.1"]);
    for (const ns of [host, remote]) stops.push(await listen(ns, "0.0.0.0", PORT));
    dir = await mkdtemp(join(tmpdir(), "hvfwqb-"));
    db = openStore(join(dir, "hv.db"));
  });

  afterAll(async () => {
    db?.close();
    for (const stop of stops) await stop();
    await lab.cleanup();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("a blocked address is unreachable on input, output, forward and from the VM's tap; others are not", async () => {
    expect(await tcpConnects(host, BLOCKED, PORT)).toBe(true);
    enforce(db, { kind: "block", target: BLOCKED, createdBy: "test" });
    const r = await sync();
    expect(r.action).toBe("replaced");
    expect(await tcpConnects(host, BLOCKED, PORT)).toBe(false); // output
    const fromBlocked = await lab.exec(remote, "ncat", ["-z", "-w", "1.5", "-s", BLOCKED, "10.218.0.1", String(PORT)], { reject: false });
    expect(fromBlocked.exitCode).not.toBe(0); // input
    expect(await tcpConnects(vm, BLOCKED, PORT)).toBe(false); // the tap's ingress
    expect(await tcpConnects(vm, "10.218.0.2", PORT)).toBe(true);
    expect(await tcpConnects(host, "10.218.0.2", PORT)).toBe(true);
    const status = await readStatus({ netns: host });
    expect(status.blocks).toEqual(expect.objectContaining({ v4Elements: 1, v6Elements: 0, paths: ["input", "forward", "output", "taps"] }));
    const count = (path: string, dir: string) => status.rules.find((x) => x.kind === "block" && x.path === path && x.dir === dir && x.family === "ip")!.packets;
    expect(count("output", "daddr")).toBeGreaterThan(0);
    expect(count("input", "saddr")).toBeGreaterThan(0);
    expect(count("taps", "daddr")).toBeGreaterThan(0);
  });

  it("the routed path: with the tap chain gone (tap unknown), forward drops it", async () => {
    const r = await syncFirewall(db, { netns: host, taps: [], allowlist });
    expect(r.tables.map((t) => [t.table, t.action])).toEqual([["inet hv", "unchanged"], ["netdev hv", "deleted"]]);
    expect(await tcpConnects(vm, BLOCKED, PORT)).toBe(false);
    const fwd = (await readStatus({ netns: host })).rules.find((x) => x.kind === "block" && x.path === "forward" && x.dir === "daddr" && x.family === "ip")!;
    expect(fwd.packets).toBeGreaterThan(0);
    await sync();
  });

  it("adding and removing a block is a set update: rules and their counters stay", async () => {
    const before = await handles("inet", "block_output");
    const packets = (await readStatus({ netns: host })).blocks!.packets;
    enforce(db, { kind: "block", target: "198.51.100.9" });
    // Allowlisted (overlaps 198.51.100.0/25): left out, with the reason.
    const r = await sync();
    expect(r.action).toBe("unchanged");
    expect(r.skipped).toEqual([expect.objectContaining({ value: "198.51.100.9", reason: expect.stringMatching(/^allowlisted: .*198\.51\.100\.0\/25/) })]);
    expect(await tcpConnects(host, "198.51.100.9", PORT)).toBe(true);

    enforce(db, { kind: "block", target: "2001:db8:5::/48" });
    enforce(db, { kind: "block", target: "10.218.0.2" });
    const add = await sync();
    expect(add.action).toBe("updated-sets");
    expect(add.updatedSets).toEqual(["inet hv block_v4", "inet hv block_v6", "netdev hv block_v4", "netdev hv block_v6"]);
    expect(await tcpConnects(host, "10.218.0.2", PORT)).toBe(false);
    releaseEnforcement(db, "block", "10.218.0.2", "test", "done");
    const remove = await sync();
    expect(remove.action).toBe("updated-sets");
    expect(await tcpConnects(host, "10.218.0.2", PORT)).toBe(true);
    expect(await handles("inet", "block_output")).toBe(before);
    expect((await readStatus({ netns: host })).blocks!.packets).toBeGreaterThan(packets);
  });

  it("a quarantine next to a large feed set adds its chains; the feed's set and rules (handles, counters) stay", async () => {
    const v4 = Array.from({ length: 20_000 }, (_, i) => formatAddress(BigInt(0x0b000000 + i * 2), "ip"));
    addFeed(db, validateFeedSpec({ name: "big", url: "http://127.0.0.1:9/x.txt", format: "plain", action: "block", block: { mode: "monitor", paths: ["output", "taps"] } }));
    applyFeedSet(db, "big", [...v4.map((value) => ({ value, kind: "ip" as const })), { value: "10.218.0.2", kind: "ip" }], { now: Date.now(), rejected: 0 });
    expect((await sync()).action).toBe("updated");
    expect(await tcpConnects(host, "10.218.0.2", PORT)).toBe(true); // monitor: counted
    const feedRule = async () => (await readStatus({ netns: host })).rules.find((x) => x.kind === "feed" && x.path === "output" && x.family === "ip")!;
    const counted = (await feedRule()).packets;
    expect(counted).toBeGreaterThan(0);
    const outputBefore = await handles("inet", "output");
    const tapBefore = await handles("netdev", "tap_hvfwqb-t0");

    enforce(db, { kind: "quarantine", target: "vm", detail: { taps: ["hvfwqb-t0"], keep: [] } });
    const r = await sync();
    expect(r.action).toBe("updated");
    expect(r.updatedSets).toEqual([]);
    expect(r.tables.map((t) => [t.table, t.chains])).toEqual([
      ["inet hv", ["quarantine_hvfwqb-t0"]],
      ["netdev hv", ["quarantine_hvfwqb-t0_egress", "quarantine_hvfwqb-t0_ingress"]],
    ]);
    expect(r.commands).toBeLessThan(20);
    expect(await handles("inet", "output")).toBe(outputBefore);
    expect(await handles("netdev", "tap_hvfwqb-t0")).toBe(tapBefore);
    expect((await feedRule()).packets).toBe(counted);
    expect(await tcpConnects(vm, "10.218.0.2", PORT)).toBe(false);
    releaseEnforcement(db, "quarantine", "vm", "test", "done");
    expect((await sync()).action).toBe("updated");
    expect(await tcpConnects(vm, "10.218.0.2", PORT)).toBe(true);
  });
});
