// VM quarantine with real nft and real traffic, in namespaces (prefix hvfwq):
//
//   vm0 (10.215.0.10) ── hvfwq-t0 ┐
//                                 ├ br0 (10.215.0.1, the kept "management host")   host
//   peer (10.215.0.20) ─ hvfwq-t1 ┘
//   vm1 (10.217.0.2) ─── hvfwq-t2 (10.217.0.1, routed, no bridge)                  host
//   far (10.216.0.2) ─── hvfwq-h0 (10.216.0.1)                                      host
//
// The "VMs" are namespaces behind veth pairs whose host ends stand for their tap devices. Every
// namespace runs a TCP listener; "reaches" is a TCP connect (ncat) within 1.5 s.

import { execa } from "execa";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { reconcile } from "../../src/firewall/reconcile.js";
import { readStatus } from "../../src/firewall/status.js";
import type { FirewallState, Quarantine } from "../../src/firewall/state.js";
import { NetnsLab } from "../helpers/netns.js";
import { listen, requireNetnsNft, tcpConnects } from "../helpers/netns-fw.js";

const can = await requireNetnsNft();
const lab = new NetnsLab("hvfwq");
const PORT = 7070;

describe.skipIf(!can)("VM quarantine in a namespace", () => {
  let host: string;
  let vm0: string;
  let peer: string;
  let vm1: string;
  let far: string;
  const stops: Array<() => Promise<void>> = [];

  beforeAll(async () => {
    await lab.cleanup();
    host = await lab.namespace("host");
    vm0 = await lab.namespace("vm0");
    peer = await lab.namespace("peer");
    vm1 = await lab.namespace("vm1");
    far = await lab.namespace("far");
    await lab.exec(host, "ip", ["link", "add", "br0", "type", "bridge"]);
    await lab.exec(host, "ip", ["addr", "add", "10.215.0.1/24", "dev", "br0"]);
    await lab.exec(host, "ip", ["link", "set", "br0", "up"]);
    await lab.link({ ns: host, ifname: "hvfwq-t0" }, { ns: vm0, ifname: "eth0", ip: "10.215.0.10/24" });
    await lab.link({ ns: host, ifname: "hvfwq-t1" }, { ns: peer, ifname: "eth0", ip: "10.215.0.20/24" });
    for (const dev of ["hvfwq-t0", "hvfwq-t1"]) await lab.exec(host, "ip", ["link", "set", dev, "master", "br0"]);
    await lab.link({ ns: host, ifname: "hvfwq-t2", ip: "10.217.0.1/24" }, { ns: vm1, ifname: "eth0", ip: "10.217.0.2/24" });
    await lab.link({ ns: host, ifname: "hvfwq-h0", ip: "10.216.0.1/24" }, { ns: far, ifname: "eth0", ip: "10.216.0.2/24" });
    await lab.exec(host, "sysctl", ["-qw", "net.ipv4.ip_forward=1"]);
    await lab.exec(vm1, "ip", ["route", "add", "default", "via", "10.217.0.1"]);
    await lab.exec(far, "ip", ["route", "add", "default", "via", "10.216.0.1"]);
    await lab.exec(vm0, "ip", ["route", "add", "default", "via", "10.215.0.1"]);
    for (const ns of [host, vm0, peer, vm1, far]) stops.push(await listen(ns, "0.0.0.0", PORT));
  });

  afterAll(async () => {
    for (const stop of stops) await stop();
    await lab.cleanup();
  });

  const reaches = (ns: string, addr: string): Promise<boolean> => tcpConnects(ns, addr, PORT);
  const state = (quarantines: Quarantine[]): FirewallState => ({ sets: [], taps: ["hvfwq-t0", "hvfwq-t1", "hvfwq-t2"], quarantines });
  const Q0: Quarantine = { vm: "vm0", taps: ["hvfwq-t0"], keep: ["10.215.0.1"] };
  const Q1: Quarantine = { vm: "vm1", taps: ["hvfwq-t2"], keep: [] };
  const handles = async (family: string, chain: string): Promise<string> => String((await lab.exec(host, "nft", ["-a", "list", "chain", family, "hv", chain])).stdout).replace(/counter packets \d+ bytes \d+/g, "counter");

  it("without hv's tables every path works", async () => {
    expect(await reaches(vm0, "10.215.0.20")).toBe(true);
    expect(await reaches(peer, "10.215.0.10")).toBe(true);
    expect(await reaches(vm0, "10.215.0.1")).toBe(true);
    expect(await reaches(far, "10.217.0.2")).toBe(true);
    expect(await reaches(vm1, "10.216.0.2")).toBe(true);
  });

  it("a quarantined VM can neither send nor receive, except with its kept address; the drops are counted", async () => {
    const r = await reconcile(state([Q0]), { netns: host });
    expect(r.action).toBe("replaced");
    expect(await reaches(vm0, "10.215.0.20")).toBe(false);
    expect(await reaches(peer, "10.215.0.10")).toBe(false);
    // The kept host still answers (ARP is let through for it), both ways.
    expect(await lab.exec(vm0, "ip", ["neigh", "flush", "all"]).then(() => reaches(vm0, "10.215.0.1"))).toBe(true);
    expect(await reaches(host, "10.215.0.10")).toBe(true);
    // The other VM on the bridge is not affected.
    expect(await reaches(peer, "10.215.0.1")).toBe(true);
    const status = await readStatus({ netns: host });
    expect(status.quarantines).toEqual([expect.objectContaining({ vm: "vm0", taps: ["hvfwq-t0"], keep: ["10.215.0.1"] })]);
    expect(status.quarantines[0]!.packets).toBeGreaterThan(0);
    expect(status.quarantines[0]!.keptPackets).toBeGreaterThan(0);
    const drop = (dir: string) => status.rules.find((x) => x.kind === "quarantine" && x.dir === dir && x.verdict === "drop")!;
    expect(drop("ingress").packets).toBeGreaterThan(0); // vm0's SYNs
    expect(drop("egress").packets).toBeGreaterThan(0); // peer's SYNs to vm0
  });

  it("a second quarantine adds its chains only: the first one's rules (handles) and counters stay; the routed path drops in forward", async () => {
    const before = await readStatus({ netns: host });
    const h0 = await handles("netdev", "quarantine_hvfwq-t0_ingress");
    const r = await reconcile(state([Q0, Q1]), { netns: host });
    expect(r.action).toBe("updated");
    expect(r.tables.map((t) => [t.table, t.chains])).toEqual([
      ["inet hv", ["quarantine_hvfwq-t2"]],
      ["netdev hv", ["quarantine_hvfwq-t2_egress", "quarantine_hvfwq-t2_ingress"]],
    ]);
    expect(await handles("netdev", "quarantine_hvfwq-t0_ingress")).toBe(h0);
    expect(await reaches(far, "10.217.0.2")).toBe(false);
    expect(await reaches(vm1, "10.216.0.2")).toBe(false);
    const after = await readStatus({ netns: host });
    expect(after.quarantines.find((q) => q.vm === "vm0")!.packets).toBeGreaterThanOrEqual(before.quarantines[0]!.packets);
    // Routed to the VM: the forward chain's oifname rule drops it before it reaches the tap.
    const fwdOut = after.rules.find((x) => x.kind === "quarantine" && x.vm === "vm1" && x.dir === "forward-out")!;
    expect(fwdOut.packets).toBeGreaterThan(0);
    const vm1Status = after.quarantines.find((q) => q.vm === "vm1")!;
    expect(vm1Status).toEqual(expect.objectContaining({ taps: ["hvfwq-t2"], keep: [] }));
    expect(vm1Status.packets).toBeGreaterThan(0);
  });

  it("release restores the VM's traffic and leaves the other quarantine in force", async () => {
    const r = await reconcile(state([Q1]), { netns: host });
    expect(r.action).toBe("updated");
    expect(await reaches(vm0, "10.215.0.20")).toBe(true);
    expect(await reaches(peer, "10.215.0.10")).toBe(true);
    expect(await reaches(far, "10.217.0.2")).toBe(false);
    expect((await readStatus({ netns: host })).quarantines.map((q) => q.vm)).toEqual(["vm1"]);
    // Nothing left in force: no hv tables at all.
    expect((await reconcile(state([]), { netns: host })).action).toBe("replaced");
    expect((await execa("ip", ["netns", "exec", host, "nft", "list", "tables"])).stdout.trim()).toBe("");
    expect(await reaches(far, "10.217.0.2")).toBe(true);
  });
});
