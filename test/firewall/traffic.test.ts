// Real TCP traffic through hv's rules in namespaces: a "host" (hv's tables), a "remote" holding a
// listed address (203.0.113.7), and a "vm" behind a veth standing in for its tap device.
//
//   vm (10.211.0.2) ── tap0 │ host │ h0 ── r0 remote (10.210.0.2, 203.0.113.7)
//
// enforce drops, monitor lets through; both count, on input, output, forward and the tap's ingress.

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { reconcile } from "../../src/firewall/reconcile.js";
import { readStatus, type StatusRule } from "../../src/firewall/status.js";
import type { FeedMode, FeedPath, FirewallState } from "../../src/firewall/state.js";
import { addNetns, deleteAllNetns, link, listen, requireNetnsNft, sh, tcpConnects } from "../helpers/netns-fw.js";

const can = await requireNetnsNft();
const LISTED = "203.0.113.7";
const UNLISTED = "10.210.0.2";
const PORT = 8080;
const LISTED6 = "2001:db8:210::7";
const PORT6 = 8086;

describe.skipIf(!can)("traffic through hv's rules", () => {
  let host: string;
  let remote: string;
  let vm: string;
  const stops: Array<() => Promise<void>> = [];

  beforeAll(async () => {
    host = await addNetns("host");
    remote = await addNetns("remote");
    vm = await addNetns("vm");
    await link({ ns: host, dev: "h0", addrs: ["10.210.0.1/24", "2001:db8:210::1/64"] }, { ns: remote, dev: "r0", addrs: ["10.210.0.2/24", `${LISTED}/32`, `${LISTED6}/64`] });
    await link({ ns: host, dev: "tap0", addrs: ["10.211.0.1/24"] }, { ns: vm, dev: "eth0", addrs: ["10.211.0.2/24"] });
    await sh(host, ["ip", "route", "add", "203.0.113.0/24", "via", "10.210.0.2"]);
    await sh(host, ["sysctl", "-qw", "net.ipv4.ip_forward=1"]);
    await sh(remote, ["ip", "route", "add", "default", "via", "10.210.0.1"]);
    await sh(vm, ["ip", "route", "add", "default", "via", "10.211.0.1"]);
    stops.push(await listen(remote, "0.0.0.0", PORT), await listen(host, "0.0.0.0", PORT), await listen(remote, "::", PORT6));
  });

  afterAll(async () => {
    for (const stop of stops) await stop();
    await deleteAllNetns();
  });

  const state = (mode: FeedMode, paths: FeedPath[]): FirewallState => ({ sets: [{ name: "bad", mode, paths, v4: [`${LISTED}/32`, "198.51.100.0/24"], v6: [`${LISTED6}/128`] }], taps: ["tap0"] });

  async function rule(path: FeedPath, dir: "saddr" | "daddr", family: "ip" | "ip6" = "ip"): Promise<StatusRule> {
    const found = (await readStatus({ netns: host })).rules.find((r) => r.path === path && r.dir === dir && r.family === family);
    if (!found) throw new Error(`no ${path} ${dir} rule`);
    return found;
  }

  it("without hv's rules, every connection of the scenario works", async () => {
    expect(await tcpConnects(host, LISTED, PORT)).toBe(true);
    expect(await tcpConnects(host, LISTED6, PORT6)).toBe(true);
    expect(await tcpConnects(vm, LISTED, PORT)).toBe(true);
    expect(await tcpConnects(vm, UNLISTED, PORT)).toBe(true);
  });

  it("enforce on input/output drops the host's traffic with a listed address and counts it", async () => {
    await reconcile(state("enforce", ["input", "output"]), { netns: host });
    expect(await tcpConnects(host, LISTED, PORT)).toBe(false);
    expect((await rule("output", "daddr")).packets).toBeGreaterThan(0);
    // From the listed address to the host: the input rule (saddr) drops it.
    const fromListed = await sh(remote, ["ncat", "-z", "-w", "1.5", "-s", LISTED, "10.210.0.1", String(PORT)], { reject: false });
    expect(fromListed.code).not.toBe(0);
    expect((await rule("input", "saddr")).packets).toBeGreaterThan(0);
    expect(await tcpConnects(host, UNLISTED, PORT)).toBe(true);
    // IPv6: the ip6 rule of the same feed.
    expect(await tcpConnects(host, LISTED6, PORT6)).toBe(false);
    expect((await rule("output", "daddr", "ip6")).packets).toBeGreaterThan(0);
  });

  it("monitor on input/output lets it through and still counts", async () => {
    const r = await reconcile(state("monitor", ["input", "output"]), { netns: host });
    expect(r.action).toBe("updated"); // the mode is in the rules: their chains are written again
    expect((await rule("output", "daddr")).packets).toBe(0);
    expect(await tcpConnects(host, LISTED, PORT)).toBe(true);
    const out = await rule("output", "daddr");
    expect(out.mode).toBe("monitor");
    expect(out.packets).toBeGreaterThan(0);
    expect((await rule("input", "saddr")).packets).toBeGreaterThan(0); // the replies come back from the listed address
  });

  it("forward: a routed VM's connection to a listed address is dropped (enforce) or counted (monitor)", async () => {
    await reconcile(state("enforce", ["forward"]), { netns: host });
    expect(await tcpConnects(vm, LISTED, PORT)).toBe(false);
    expect(await tcpConnects(vm, UNLISTED, PORT)).toBe(true);
    expect((await rule("forward", "daddr")).packets).toBeGreaterThan(0);
    await reconcile(state("monitor", ["forward"]), { netns: host });
    expect(await tcpConnects(vm, LISTED, PORT)).toBe(true);
    expect((await rule("forward", "daddr")).packets).toBeGreaterThan(0);
    expect((await rule("forward", "saddr")).packets).toBeGreaterThan(0);
  });

  it("taps: the netdev ingress chain on the VM's device drops (enforce) or counts (monitor)", async () => {
    await reconcile(state("enforce", ["taps"]), { netns: host });
    const status = await readStatus({ netns: host });
    expect(status.chains.filter((c) => c.table === "netdev hv").map((c) => c.name)).toEqual(["tap_tap0"]);
    expect(status.rules.some((r) => r.table === "inet hv")).toBe(false);
    expect(await tcpConnects(vm, LISTED, PORT)).toBe(false);
    expect(await tcpConnects(vm, UNLISTED, PORT)).toBe(true);
    const dropped = await rule("taps", "daddr");
    expect(dropped.table).toBe("netdev hv");
    expect(dropped.packets).toBeGreaterThan(0);

    await reconcile(state("monitor", ["taps"]), { netns: host });
    expect(await tcpConnects(vm, LISTED, PORT)).toBe(true);
    expect((await rule("taps", "daddr")).packets).toBeGreaterThan(0);
  });

  it("a tap that does not exist is left out and reported, the rest still applies", async () => {
    const r = await reconcile({ ...state("enforce", ["taps"]), taps: ["tap0", "vnet99"] }, { netns: host });
    expect(r.missingTaps).toEqual(["vnet99"]);
    expect(await tcpConnects(vm, LISTED, PORT)).toBe(false);
  });
});
