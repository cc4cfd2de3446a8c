// Live migration for real: two libvirt hosts on this machine, each a libvirtd + virtlogd in mount,
// network and UTS namespaces of their own with private libvirt directories and a veth between them
// (test/helpers/libvirt-pair.ts). A running TCG guest that pings its router every second (hv.ping)
// is moved by `hv vm migrate` from a to b over a UNIX-socket connection to each daemon, with its
// disk copied (--copy-storage) and the memory sent over the veth (--migrate-uri), and back from b
// to a peer to peer (b's libvirtd connects to a's over TCP, auth_tcp=none). It never reboots (one
// boot marker on its console), keeps answering, and the libvirt collector on each side reports it
// leaving and arriving with the same uuid. Unsafe migrations — local disks without --copy-storage,
// a passed-through PCI device, host-passthrough CPU — are refused with their reasons, touching
// nothing.
//
// Needs root, libvirt + QEMU, unshare/nsenter and the test guest; skipped loudly otherwise, a
// failure under CI=true. Run under the host-wide lock: flock /tmp/hv-system.lock npx vitest run test/vm/migrate.test.ts

import { execa } from "execa";
import { randomBytes } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { chmod, mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LibvirtCollector } from "../../src/collectors/libvirt/collector.js";
import type { HvEvent } from "../../src/events/event.js";
import { HV_BUILT, mustSucceed, runHv, type HvResult } from "../helpers/hv-cli.js";
import { BOOT_MARKER, buildTestGuest, guestFiles, libvirtSkipReason, testGuestXml, waitFor, waitForBoot } from "../helpers/libvirt.js";
import { startLibvirtPair, whyNoPair, type LibvirtPair, type PairHost } from "../helpers/libvirt-pair.js";

const TAG = randomBytes(3).toString("hex");
const ROOT = `/var/lib/hvtest-mig-${TAG}`;
const VM = `hvtest-mig-${TAG}-vm`;
const PT = `hvtest-mig-${TAG}-pt`;
const NET = `hvtest-mig-${TAG}-net`;
const skip = libvirtSkipReason({ guest: true }) ?? whyNoPairLoud();

function whyNoPairLoud(): string | undefined {
  const reason = whyNoPair();
  if (reason === undefined) return undefined;
  if (process.env.CI === "true") throw new Error(`migration tests cannot run under CI: ${reason}`);
  console.warn(`\n*** SKIPPING migration tests: ${reason} ***\n`);
  return reason;
}

let pair: LibvirtPair;
let stateDir = "";
let serialLog = "";
let uuid = "";
const events: Record<"a" | "b", HvEvent[]> = { a: [], b: [] };
const collectors: Array<{ abort: AbortController; done: Promise<void>; collector: LibvirtCollector }> = [];

const hv = (args: string[]): Promise<HvResult> => runHv(args, { stateDir, timeoutMs: 600_000 });
const pings = (): number => (readFileSync(serialLog, "utf8").match(/HV-PING ok/g) ?? []).length;
const boots = (): number => readFileSync(serialLog, "utf8").split(BOOT_MARKER).length - 1;
const runningOn = async (h: PairHost): Promise<string[]> => (await pair.virsh(h, "list", "--name")).split("\n").map((s) => s.trim()).filter(Boolean);

describe.skipIf(skip !== undefined)("hv vm migrate between two real libvirt hosts", () => {
  beforeAll(async () => {
    if (!existsSync(HV_BUILT)) throw new Error(`${HV_BUILT} is missing: run npm run build`);
    await buildTestGuest();
    pair = await startLibvirtPair(ROOT);
    stateDir = join(ROOT, "state");
    const shared = join(ROOT, "shared");
    await mkdir(shared, { recursive: true });
    await chmod(ROOT, 0o755);
    await chmod(shared, 0o777);
    serialLog = join(shared, "vm.serial.log");
    // The same isolated network on both hosts — same subnet, bridge name and bridge MAC, as a
    // migration network segment would be — so the guest's router answers on either side.
    const subnet = `10.${200 + Math.floor(Math.random() * 50)}.${1 + Math.floor(Math.random() * 250)}`;
    const netXml = join(shared, "net.xml");
    await writeFile(netXml, `<network><name>${NET}</name><bridge name='hvtm${TAG}' stp='off' delay='0'/><mac address='52:54:00:${TAG.slice(0, 2)}:${TAG.slice(2, 4)}:${TAG.slice(4, 6)}'/><ip address='${subnet}.1' netmask='255.255.255.0'><dhcp><range start='${subnet}.10' end='${subnet}.100'/></dhcp></ip></network>\n`);
    for (const h of [pair.a, pair.b]) {
      await pair.virsh(h, "net-create", netXml);
      // A pool over the private images directory on each host: libvirt makes the destination disk there.
      await pair.virsh(h, "pool-create-as", `hvtest-mig-${TAG}-images`, "dir", "--target", "/var/lib/libvirt/images");
    }
    const inside = "/var/lib/libvirt/images/" + `${VM}.qcow2`;
    await execa("qemu-img", ["create", "-q", "-f", "qcow2", join(pair.a.base, "lib", "images", `${VM}.qcow2`), "64M"]);
    await pair.virsh(pair.a, "pool-refresh", `hvtest-mig-${TAG}-images`);
    const xml = testGuestXml(VM, guestFiles(), inside, serialLog, { network: NET, cmdlineExtra: "hv.ping" }).replace("append='off'", "append='on'");
    const file = join(shared, "vm.xml");
    await writeFile(file, xml);
    await pair.virsh(pair.a, "define", file);
    await pair.virsh(pair.a, "start", VM);
    uuid = (await pair.virsh(pair.a, "domuuid", VM)).trim();
    await waitForBoot(serialLog, BOOT_MARKER, 120_000);
    await waitFor(() => pings() >= 2, 60_000, "the guest's first pings");
    for (const h of [pair.a, pair.b]) {
      const collector = new LibvirtCollector({ uri: h.uri });
      const abort = new AbortController();
      const done = collector.run((e) => void events[h.label].push(e.event), abort.signal);
      collectors.push({ abort, done, collector });
      await waitFor(() => collector.stats.connected, 30_000, `the collector on ${h.label}`);
    }
  }, 300_000);

  afterAll(async () => {
    for (const c of collectors) c.abort.abort();
    await Promise.allSettled(collectors.map((c) => c.done));
    await pair?.stop();
  }, 180_000);

  it("refuses a live migration of local disks without --copy-storage, and says why; nothing moves", async () => {
    const args = ["vm", "migrate", VM, pair.b.uri, "--uri", pair.a.uri, "--live", "--migrate-uri", `tcp://${pair.b.address}`];
    const r = await hv(args);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/refusing to migrate .*disk vda \(\/var\/lib\/libvirt\/images\/.*\) is on local storage \(storage pool hvtest-mig-.*-images, type dir\): .*--copy-storage/);
    const check = await hv([...args, "--check", "--json"]);
    expect(check.code).toBe(1);
    expect(check.json).toMatchObject({ ok: false, problems: [expect.stringMatching(/on local storage/)] });
    expect(await runningOn(pair.a)).toContain(VM);
    expect(await runningOn(pair.b)).not.toContain(VM);
  }, 120_000);

  it("refuses to migrate a guest with a passed-through PCI device and a host-passthrough CPU, naming both", async () => {
    // libvirt would not start such a guest here (no such PCI device, no KVM): its definition is
    // enough, served by libvirt's test driver from a file.
    const node = join(ROOT, "shared", "pt-node.xml");
    await writeFile(node, `<node><domain type='test'><name>${PT}</name><memory>131072</memory><os><type>hvm</type></os><cpu mode='host-passthrough'/><devices>
      <hostdev mode='subsystem' type='pci' managed='yes'><source><address domain='0x0000' bus='0x01' slot='0x00' function='0x0'/></source></hostdev>
    </devices></domain></node>\n`);
    const source = `test://${node}`;
    const r = await hv(["vm", "migrate", PT, pair.b.uri, "--uri", source, "--live", "--copy-storage"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/refusing to migrate .*host passthrough: PCI device 0000:01:00\.0 is passed through/);
    expect(r.stderr).toMatch(/host-passthrough/);
    expect((await pair.virsh(pair.b, "list", "--all", "--name")).includes(PT)).toBe(false);
    // --allow-host-cpu lifts only the CPU objection.
    const c = await hv(["vm", "migrate", PT, pair.b.uri, "--uri", source, "--check", "--allow-host-cpu", "--json"]);
    expect(c.code).toBe(1);
    expect((c.json as { problems: string[] }).problems).toEqual([expect.stringMatching(/PCI device 0000:01:00\.0/)]);
  }, 120_000);

  it("migrates the running guest live from a to b with its disk; it keeps answering and never reboots", async () => {
    const before = pings();
    const r = mustSucceed(["vm", "migrate"], await hv(["vm", "migrate", VM, pair.b.uri, "--uri", pair.a.uri, "--live", "--copy-storage", "--migrate-uri", `tcp://${pair.b.address}`, "--json"]));
    const s = r.json as { uuid: string; live: boolean; copyStorage: boolean; job?: { dataTotal?: number; dataProcessed?: number } };
    expect(s).toMatchObject({ uuid, live: true, copyStorage: true });
    // Progress came from domjobinfo while it ran.
    expect(s.job?.dataTotal).toBeGreaterThan(0);
    expect(await runningOn(pair.b)).toContain(VM);
    expect((await pair.virsh(pair.a, "list", "--all", "--name")).includes(VM)).toBe(false);
    expect((await pair.virsh(pair.b, "domuuid", VM)).trim()).toBe(uuid);
    await waitFor(() => pings() >= before + 3, 60_000, "pings answered on b");
    expect(boots()).toBe(1);
    // Each side's collector: it left a, it arrived on b, same uuid.
    await waitFor(() => events.a.some((e) => e.vm?.name === VM && e.event.action === "stopped") && events.b.some((e) => e.vm?.name === VM && e.event.action === "resumed"), 30_000, "the collectors' migration events");
    const left = events.a.find((e) => e.vm?.name === VM && e.event.action === "stopped")!;
    const arrived = events.b.find((e) => e.vm?.name === VM && e.event.action === "resumed")!;
    expect(left.libvirt?.lifecycle?.detail).toMatch(/migrated/i);
    expect(arrived.libvirt?.lifecycle?.detail).toMatch(/migrated/i);
    expect(left.vm?.uuid).toBe(uuid);
    expect(arrived.vm?.uuid).toBe(uuid);
  }, 600_000);

  it("and back from b to a peer to peer over TCP (auth_tcp none), still answering", async () => {
    const before = pings();
    const r = mustSucceed(["vm", "migrate"], await hv(["vm", "migrate", VM, pair.a.tcpUri, "--uri", pair.b.uri, "--live", "--copy-storage", "--p2p", "--migrate-uri", `tcp://${pair.a.address}`, "--json"]));
    expect(r.json).toMatchObject({ uuid, live: true });
    expect(await runningOn(pair.a)).toContain(VM);
    expect((await pair.virsh(pair.b, "list", "--all", "--name")).includes(VM)).toBe(false);
    await waitFor(() => pings() >= before + 3, 60_000, "pings answered on a again");
    expect(boots()).toBe(1);
    await waitFor(() => events.b.some((e) => e.vm?.name === VM && e.event.action === "stopped") && events.a.filter((e) => e.vm?.name === VM && e.event.action === "resumed").length >= 1, 30_000, "the collectors' events of the way back");
    const back = events.a.filter((e) => e.vm?.name === VM && e.event.action === "resumed").pop()!;
    expect(back.vm?.uuid).toBe(uuid);
  }, 600_000);
});
