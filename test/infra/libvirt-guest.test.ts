// The real-libvirt test infrastructure itself: the daemons answer, scripts/build-test-guest.sh
// builds a guest that boots under TCG to its marker, it gets a tap device on an isolated network
// (and a DHCP lease), a graceful shutdown (ACPI power button) works, and cleanup leaves nothing.

import { randomBytes } from "node:crypto";
import { readFile } from "node:fs/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  BOOT_MARKER,
  buildTestGuest,
  cleanupTestResources,
  createIsolatedNetwork,
  defineTestGuest,
  domainExists,
  domIfList,
  domState,
  ensureLibvirtd,
  ensureVirtlogd,
  GUEST_DIR,
  libvirtSkipReason,
  virsh,
  virshTry,
  waitFor,
  waitForBoot,
  type IsolatedNetwork,
  type RunningLibvirt,
} from "../helpers/libvirt.js";

const skip = libvirtSkipReason();
// A tag per run, so that concurrent runs on one host never remove each other's resources.
const PREFIX = `hvtest-infra-${randomBytes(3).toString("hex")}-`;

describe.skipIf(skip !== undefined)("real libvirt test guest", () => {
  let daemons: RunningLibvirt | undefined;
  let net: IsolatedNetwork;

  beforeAll(async () => {
    await buildTestGuest(GUEST_DIR);
    daemons = await ensureLibvirtd();
    await cleanupTestResources(PREFIX);
    net = await createIsolatedNetwork(`${PREFIX}net`);
  }, 300_000);

  afterAll(async () => {
    await cleanupTestResources(PREFIX);
    await daemons?.stop();
  }, 120_000);

  it("builds the guest with the marker and the virtio modules", async () => {
    const info = JSON.parse(await readFile(`${GUEST_DIR}/guest.json`, "utf8")) as { marker: string; modules: string[] };
    expect(info.marker).toBe(BOOT_MARKER);
    expect(info.modules).toEqual(expect.arrayContaining(["virtio_pci.ko", "virtio_net.ko", "virtio_blk.ko"]));
  });

  it("the network is isolated: no forward mode, a 10.x address", async () => {
    const xml = await virsh("net-dumpxml", net.name);
    expect(xml).not.toContain("<forward");
    expect(net.gateway).toMatch(/^10\./);
    expect(xml).toContain(`address='${net.gateway}'`);
  });

  it("boots a guest defined with raw virsh, with a tap device and a DHCP lease, and shuts it down gracefully", async () => {
    const name = `${PREFIX}vm`;
    const g = await defineTestGuest(name, { network: net.name });
    expect(await domState(name)).toBe("shut off");
    await ensureVirtlogd();
    const t0 = Date.now();
    await virsh("start", name);
    const log = await waitForBoot(g.serialLog, BOOT_MARKER, 120_000);
    console.log(`test guest reached ${BOOT_MARKER} in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    expect(log).toContain("hv-guest: kernel");
    expect(await domState(name)).toBe("running");

    const ifs = await domIfList(name);
    expect(ifs).toHaveLength(1);
    expect(ifs[0]!.iface).toMatch(/^vnet\d+$/);
    expect(ifs[0]!.source).toBe(net.name);
    // The tap device is on the network's bridge.
    const master = await readFile(`/sys/class/net/${ifs[0]!.iface}/master/uevent`, "utf8");
    expect(master).toContain(`INTERFACE=${net.bridge}`);

    // udhcpc in the guest gets a lease from libvirt's dnsmasq.
    let lease = "";
    await waitFor(
      async () => {
        lease = (await virshTry("domifaddr", name, "--source", "lease")).stdout;
        return /ipv4\s+10\./.test(lease);
      },
      60_000,
      "a DHCP lease",
    );
    expect(lease).toContain(ifs[0]!.mac);

    // virsh shutdown presses the ACPI power button; the guest's acpid powers it off.
    await virsh("shutdown", name);
    await waitFor(async () => (await domState(name)) === "shut off", 60_000, "the guest to power off");
    expect(await readFile(g.serialLog, "utf8")).toContain("power button");

    await virsh("undefine", name);
    expect(await domainExists(name)).toBe(false);
  }, 240_000);

  it("cleanup removes test domains and networks by prefix", async () => {
    const name = `${PREFIX}leftover`;
    await defineTestGuest(name, { network: net.name });
    expect(await domainExists(name)).toBe(true);
    await cleanupTestResources(PREFIX);
    expect(await domainExists(name)).toBe(false);
    expect((await virshTry("net-info", net.name)).ok).toBe(false);
  }, 60_000);
});
