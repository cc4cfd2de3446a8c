// VM rate limit with real nft and a real TCP transfer, in namespaces (prefix hvfwqr):
//
//   vm (10.220.0.2) ── hvfwqr-t0 (10.220.0.1) host
//
// The same 8 MB transfer, each under the same 4 s cap, once without and once with a 256 KiB/s
// limit: with the limit fewer bytes arrive and the limit's drop counter counts. No assertion on
// how long anything takes.

import { execa } from "execa";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { reconcile } from "../../src/firewall/reconcile.js";
import { readStatus } from "../../src/firewall/status.js";
import type { FirewallState } from "../../src/firewall/state.js";
import { NetnsLab } from "../helpers/netns.js";
import { requireNetnsNft } from "../helpers/netns-fw.js";

const can = await requireNetnsNft();
const lab = new NetnsLab("hvfwqr");
const SIZE = 8 * 1024 * 1024;
const LIMIT = 256 * 1024;

describe.skipIf(!can)("VM rate limit in a namespace", () => {
  let host: string;
  let vm: string;
  let port = 7200;

  beforeAll(async () => {
    await lab.cleanup();
    host = await lab.namespace("host");
    vm = await lab.namespace("vm");
    await lab.link({ ns: host, ifname: "hvfwqr-t0", ip: "10.220.0.1/24" }, { ns: vm, ifname: "eth0", ip: "10.220.0.2/24" });
  });

  afterAll(async () => {
    await lab.cleanup();
  });

  /** Sends SIZE bytes from `from` to `to` (sender cut off after 4 s); returns the bytes that arrived. */
  async function transfer(from: string, to: string, toAddr: string): Promise<number> {
    const p = port++;
    const receiver = execa("ip", ["netns", "exec", to, "sh", "-c", `ncat -l ${toAddr} ${p} | wc -c`], { reject: false });
    for (let i = 0; i < 50; i++) {
      if (String((await lab.exec(to, "ss", ["-Htln", `sport = :${p}`], { reject: false })).stdout).trim()) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    await lab.exec(from, "sh", ["-c", `head -c ${SIZE} /dev/zero | timeout 4 ncat --send-only ${toAddr} ${p}`], { reject: false });
    const killer = setTimeout(() => receiver.kill("SIGKILL"), 10_000);
    const r = await receiver;
    clearTimeout(killer);
    return Number(String(r.stdout).trim() || "0");
  }

  const state = (limited: boolean): FirewallState => ({ sets: [], taps: [], ...(limited ? { rateLimits: [{ vm: "bulk", taps: ["hvfwqr-t0"], bytesPerSecond: LIMIT }] } : {}) });

  it("what the VM receives (tap egress) is throttled: fewer bytes arrive, the drop counter counts", async () => {
    const free = await transfer(host, vm, "10.220.0.2");
    expect(free).toBe(SIZE);
    await reconcile(state(true), { netns: host });
    const limited = await transfer(host, vm, "10.220.0.2");
    expect(limited).toBeLessThan(free);
    const status = await readStatus({ netns: host });
    expect(status.rateLimits).toEqual([expect.objectContaining({ vm: "bulk", taps: ["hvfwqr-t0"], bytesPerSecond: LIMIT })]);
    const egress = status.rules.find((r) => r.kind === "ratelimit" && r.dir === "egress")!;
    expect(egress.packets).toBeGreaterThan(0);
  });

  it("what the VM sends (tap ingress) is throttled too; removing the limit removes the throttle", async () => {
    const limited = await transfer(vm, host, "10.220.0.1");
    expect(limited).toBeLessThan(SIZE);
    expect((await readStatus({ netns: host })).rules.find((r) => r.kind === "ratelimit" && r.dir === "ingress")!.packets).toBeGreaterThan(0);
    const r = await reconcile(state(false), { netns: host });
    expect(r.action).toBe("replaced"); // the netdev table goes: nothing else is in force
    expect(await transfer(vm, host, "10.220.0.1")).toBe(SIZE);
  });
});
