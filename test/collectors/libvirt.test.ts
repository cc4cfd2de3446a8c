// The libvirt collector against the real libvirtd: a domain's lifecycle events in order, the
// inventory (qemu pid, tap device, MAC), and a libvirtd restart in the middle, which the collector
// reports as a gap and survives by reconnecting.
//
// The domain is a TCG guest with no OS and no disk on an isolated 10.x network: it starts in well
// under a second, which is all a lifecycle needs (the booting test guest is not needed here).

import { describe, it, expect } from "vitest";
import { execa } from "execa";
import { existsSync, readFileSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { LibvirtCollector } from "../../src/collectors/libvirt/collector.js";
import type { LibvirtEvent } from "../../src/collectors/libvirt/events.js";
import { createIsolatedNetwork, ensureLibvirtd, libvirtSkipReason, removeDomain, removeNetwork, URI, virsh, waitFor } from "../helpers/libvirt.js";

const unavailable = libvirtSkipReason(); // loud skip; throws under CI=true


describe("libvirt collector against the real libvirtd", () => {
  it.skipIf(unavailable !== undefined)("sees a domain's lifecycle in order, keeps the inventory, and reconnects after libvirtd restarts", { timeout: 120_000 }, async () => {
    await ensureLibvirtd();
    const tag = randomBytes(3).toString("hex");
    const dom = `hvtest-lvcol-${tag}`;
    const net = `hvtest-lvnet-${tag}`;
    const mac = `52:54:00:${tag.slice(0, 2)}:${tag.slice(2, 4)}:${tag.slice(4, 6)}`;
    const reports: string[] = [];
    const collector = new LibvirtCollector({ uri: URI, backoffMs: 200, maxBackoffMs: 1000, onReport: (t) => reports.push(t) });
    const events: LibvirtEvent[] = [];
    const abort = new AbortController();
    const running = collector.run((item) => void events.push(item.event as LibvirtEvent), abort.signal);
    const xmlDir = await execa("mktemp", ["-d"]).then((r) => r.stdout);
    try {
      await waitFor(() => collector.stats.connected, 10_000, "the collector to connect");
      // An isolated network (no <forward>, 10.x): nothing leaves the host.
      await createIsolatedNetwork(net);
      await execa("sh", ["-c", `cat > ${xmlDir}/dom.xml`], {
        input: `<domain type='qemu'><name>${dom}</name><memory unit='MiB'>64</memory><vcpu>1</vcpu>
          <os><type arch='x86_64' machine='pc'>hvm</type></os>
          <devices><emulator>/usr/bin/qemu-system-x86_64</emulator>
            <interface type='network'><source network='${net}'/><mac address='${mac}'/><model type='virtio'/></interface>
          </devices></domain>`,
      });
      await virsh("define", `${xmlDir}/dom.xml`);
      const uuid = (await virsh("domuuid", dom)).trim();
      await virsh("start", dom);

      // The inventory follows the lifecycle event: qemu pid, tap device, MAC.
      await waitFor(() => collector.inventory.byName(dom)?.qemuPid !== undefined, 10_000, "the inventory to have the qemu pid");
      const rec = collector.inventory.byName(dom)!;
      const pid = Number(readFileSync(`/run/libvirt/qemu/${dom}.pid`, "utf8").trim());
      expect(rec.qemuPid).toBe(pid);
      expect(readFileSync(`/proc/${pid}/cmdline`, "utf8")).toContain(`guest=${dom}`);
      expect(rec.uuid).toBe(uuid);
      expect(rec.interfaces).toHaveLength(1);
      const iface = rec.interfaces[0]!;
      expect(iface.mac).toBe(mac);
      expect(iface.network).toBe(net);
      expect(iface.tap).toMatch(/^vnet\d+$/);
      expect(existsSync(`/sys/class/net/${iface.tap}`)).toBe(true);
      // The host side of a tap device has the guest's MAC with the first byte set to fe.
      expect(readFileSync(`/sys/class/net/${iface.tap}/address`, "utf8").trim()).toBe(`fe${mac.slice(2)}`);
      expect(collector.inventory.byTap(iface.tap!)?.name).toBe(dom);
      expect(collector.inventory.byPid(pid)?.name).toBe(dom);

      await virsh("suspend", dom);
      await virsh("resume", dom);
      await waitFor(() => events.filter((e) => e.vm?.name === dom && e.event.action === "resumed").length >= 2, 10_000, "resumed");

      // libvirtd goes away and comes back: virsh event exits, the collector reconnects.
      await execa("pkill", ["-x", "libvirtd"]);
      await waitFor(() => collector.stats.disconnects >= 1, 10_000, "the collector to notice");
      // -d forks: with pipes, the daemon would hold them open and execa would wait for ever.
      await execa("libvirtd", ["-d"], { reject: false, stdio: "ignore" });
      await waitFor(() => events.some((e) => e.event.action === "reconnected"), 30_000, "the collector to reconnect");

      await virsh("suspend", dom);
      await virsh("resume", dom);
      await virsh("destroy", dom);
      await virsh("undefine", dom);
      await waitFor(() => events.some((e) => e.vm?.name === dom && e.event.action === "undefined"), 10_000, "undefined");
      await waitFor(() => collector.inventory.byName(dom) === undefined, 5000, "the inventory to drop the domain");

      const seen = events.filter((e) => e.vm?.name === dom || e.libvirt.event === "connection").map((e) => e.event.action);
      const expected = ["defined", "started", "suspended", "resumed", "disconnected", "reconnected", "suspended", "resumed", "stopped", "undefined"];
      expect(isSubsequence(expected, seen), `got ${seen.join(" ")}`).toBe(true);
      // Every event of the domain carries its uuid, including the one that removed it.
      for (const e of events.filter((e) => e.vm?.name === dom)) expect(e.vm?.uuid).toBe(uuid);
      const gap = events.find((e) => e.event.action === "reconnected")!.libvirt.gap!;
      expect(gap.ms).toBeGreaterThan(0);
      expect(gap.reason).toMatch(/Disconnected|closed|end of file/i);
      expect(collector.stats.unknown).toBe(0);
      expect(reports.some((r) => r.startsWith("lost the event stream"))).toBe(true);
    } finally {
      abort.abort();
      await running;
      await removeDomain(dom);
      await removeNetwork(net);
      await execa("rm", ["-rf", xmlDir]);
    }
  });
});

function isSubsequence(want: string[], got: string[]): boolean {
  let i = 0;
  for (const g of got) if (g === want[i]) i++;
  return i === want.length;
}
