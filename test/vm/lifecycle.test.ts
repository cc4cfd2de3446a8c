// End to end: the whole life of a real (TCG) VM driven through the `hv` CLI, each command in its
// own process (`node bin/hv.js vm … --json`), every step's effect checked independently with raw
// virsh (domstate, snapshot-list, domiflist, dumpxml), and the lifecycle events that hv's libvirt
// collector sees checked for order. Then bad input: shell metacharacters, a missing domain,
// malformed XML, a libvirtd that is not there — each a clear error, a non-zero exit, nothing
// left half-done.
//
// Needs root, libvirt + QEMU, and the test guest (scripts/build-test-guest.sh); `npm test` builds
// dist/ first.

import { execa } from "execa";
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { readdir, rm, writeFile } from "node:fs/promises";
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LibvirtCollector } from "../../src/collectors/libvirt/collector.js";
import type { HvEvent } from "../../src/events/event.js";
import {
  BOOT_MARKER,
  GUEST_CMDLINE,
  URI,
  WORK_DIR,
  cleanupTestResources,
  createIsolatedNetwork,
  createTestPool,
  domainExists,
  domIfList,
  domState,
  ensureLibvirtd,
  ensureVirtlogd,
  guestFiles,
  libvirtSkipReason,
  snapshotNames,
  virsh,
  virshTry,
  waitFor,
  waitForBoot,
  type IsolatedNetwork,
  type RunningLibvirt,
} from "../helpers/libvirt.js";
import { HV_BIN, HV_BUILT as BUILT, mustSucceed, runHv, type HvResult } from "../helpers/hv-cli.js";


// A tag per run: several engineers (or CI jobs) may run this file on one host at the same time;
// each run creates, and cleans up, only its own hvtest-lc-<tag>-… resources.
const TAG = randomBytes(3).toString("hex");
const PREFIX = `hvtest-lc-${TAG}-`;
const VM = `${PREFIX}vm`;
const CLONE = `${PREFIX}clone`;
const POOL = `${PREFIX}pool`;
const NET = `${PREFIX}net`;
const PWNED = "/tmp/hvtest-pwned"; // what the metacharacter names would create if a shell ran them

const skip = libvirtSkipReason({ guest: true });

let stateDir = "";

/** One hv command in its own process. */
const hv = (...args: string[]): Promise<HvResult> => runHv(args, { stateDir, timeoutMs: 240_000 });
const hvOk = async (...args: string[]): Promise<HvResult> => mustSucceed(args, await hv(...args));

describe.skipIf(skip !== undefined)("hv vm: the whole life of a real VM through the CLI", () => {
  let daemons: RunningLibvirt | undefined;
  let net: IsolatedNetwork;
  let templatePath = "";
  const serialLog = join(WORK_DIR, `${VM}-serial.log`);
  const events: HvEvent[] = [];
  const abort = new AbortController();
  let collector: LibvirtCollector | undefined;
  let collectorDone: Promise<void> | undefined;

  beforeAll(async () => {
    if (!existsSync(BUILT)) throw new Error(`${BUILT} is missing: run npm run build (npm test does it first)`);
    stateDir = await mkdtemp(join(tmpdir(), "hv-lifecycle-state-"));
    daemons = await ensureLibvirtd();
    await ensureVirtlogd();
    await cleanupTestResources(PREFIX);
    await rm(PWNED, { force: true });
    net = await createIsolatedNetwork(NET);
    await createTestPool(POOL);
    const g = guestFiles();
    // A kernel + initrd template pointing at the test guest, on the isolated network, with a small
    // data disk in the test pool (internal snapshots need a qcow2 disk) and the serial console
    // copied to a file the test can read.
    templatePath = join(WORK_DIR, `${PREFIX}template.yaml`);
    await writeFile(
      templatePath,
      [
        "kind: kernel",
        "description: hv lifecycle test guest",
        `kernel: ${g.kernel}`,
        `initrd: ${g.initrd}`,
        `cmdline: ${GUEST_CMDLINE}`,
        "memory: 128M",
        "vcpus: 1",
        "domainType: qemu",
        `network: ${NET}`,
        `pool: ${POOL}`,
        "diskSize: 64M",
        `serialLog: ${WORK_DIR}/{name}-serial.log`,
        "graphics: none",
        "",
      ].join("\n"),
    );
    collector = new LibvirtCollector({ uri: URI, backoffMs: 200, maxBackoffMs: 1000 });
    const c = collector;
    collectorDone = c.run((item) => void events.push(item.event), abort.signal).catch(() => undefined);
    await waitFor(async () => c.stats.connected, 15_000, "the libvirt collector to connect");
  }, 300_000);

  afterAll(async () => {
    abort.abort();
    await collectorDone;
    await cleanupTestResources(PREFIX);
    await rm(PWNED, { force: true });
    if (stateDir) await rm(stateDir, { recursive: true, force: true });
    await daemons?.stop();
  }, 120_000);

  const actionsFor = (name: string): string[] =>
    events.filter((e) => e.vm?.name === name && (e as { libvirt?: { event?: string } }).libvirt?.event === "lifecycle").map((e) => e.event.action ?? "");

  it("create: defines a TCG domain from the kernel template, with a disk in the pool", async () => {
    const r = await hvOk("vm", "create", VM, "--template", templatePath, "--json");
    expect(r.json).toMatchObject({ name: VM, started: false });
    expect(await domState(VM)).toBe("shut off");
    const xml = await virsh("dumpxml", VM, "--inactive");
    expect(xml).toContain("<domain type='qemu'");
    expect(xml).toContain(guestFiles().kernel);
    expect(xml).toContain(`network='${NET}'`);
    const vols = await virsh("vol-list", POOL);
    expect(vols).toContain(`${VM}-vda.qcow2`);
  });

  it("start: the guest boots (its serial log shows the marker) and has a tap device on the network", async () => {
    const t0 = Date.now();
    await hvOk("vm", "start", VM, "--json");
    expect(await domState(VM)).toBe("running");
    await waitForBoot(serialLog, BOOT_MARKER, 120_000);
    console.log(`${VM} booted in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    const ifs = await domIfList(VM);
    expect(ifs).toHaveLength(1);
    expect(ifs[0]!.iface).toMatch(/^vnet\d+$/);
    expect(ifs[0]!.source).toBe(net.name);
    const info = await hvOk("vm", "info", VM, "--json");
    expect(info.json).toMatchObject({ name: VM, state: "running" });
  }, 180_000);

  it("pause and resume", async () => {
    await hvOk("vm", "pause", VM, "--json");
    expect(await domState(VM)).toBe("paused");
    await hvOk("vm", "resume", VM, "--json");
    expect(await domState(VM)).toBe("running");
  });

  it("snapshot create, list, revert, delete (internal, of the running guest)", async () => {
    await hvOk("vm", "snapshot", "create", VM, "s1", "--description", "lifecycle test", "--json");
    expect(await snapshotNames(VM)).toEqual(["s1"]);
    expect((await virsh("snapshot-current", VM, "--name")).trim()).toBe("s1");
    expect(await domState(VM)).toBe("running");

    const list = await hvOk("vm", "snapshot", "list", VM, "--json");
    expect(list.json).toEqual([expect.objectContaining({ name: "s1" })]);

    // Revert has a visible effect: pause the guest, revert to s1 (taken while running), and it runs again.
    await virsh("suspend", VM);
    expect(await domState(VM)).toBe("paused");
    await hvOk("vm", "snapshot", "revert", VM, "s1", "--json");
    expect(await domState(VM)).toBe("running");

    await hvOk("vm", "snapshot", "delete", VM, "s1", "--json");
    expect(await snapshotNames(VM)).toEqual([]);
  }, 180_000);

  it("stats: CPU, memory, block and interface counters", async () => {
    const r = await hvOk("vm", "stats", VM, "--json");
    const s = r.json as { name: string; cpu: { timeNs: number }; blocks: { name: string }[]; interfaces: { name: string }[] };
    expect(s.name).toBe(VM);
    expect(s.cpu.timeNs).toBeGreaterThan(0);
    expect(s.blocks.map((b) => b.name)).toContain("vda");
    const tap = (await domIfList(VM))[0]!.iface;
    expect(s.interfaces.map((n) => n.name)).toContain(tap);
  });

  it("nic detach and attach (hot-plug on the running guest, and in the stored definition)", async () => {
    const [nic] = await domIfList(VM);
    expect(nic).toBeDefined();
    await hvOk("vm", "nic", "detach", VM, nic!.mac, "--json");
    await waitFor(async () => (await domIfList(VM)).length === 0, 30_000, "the NIC to leave domiflist");
    expect(await virsh("dumpxml", VM, "--inactive")).not.toContain(nic!.mac);

    const mac = "52:54:00:4c:43:01";
    await hvOk("vm", "nic", "attach", VM, "--network", NET, "--mac", mac, "--json");
    const after = await domIfList(VM);
    expect(after).toEqual([expect.objectContaining({ mac, source: NET, iface: expect.stringMatching(/^vnet\d+$/) })]);
    expect(await virsh("dumpxml", VM, "--inactive")).toContain(mac);
  }, 90_000);

  it("stop: a graceful shutdown (the guest powers off on the ACPI button)", async () => {
    const r = await hvOk("vm", "stop", VM, "--timeout", "60", "--force", "--json");
    expect(await domState(VM)).toBe("shut off");
    expect(r.json).toMatchObject({ name: VM, result: "shutdown" });
  }, 120_000);

  it("clone: a new domain with its own uuid, MACs and disk copy", async () => {
    await hvOk("vm", "clone", VM, CLONE, "--json");
    expect(await domState(CLONE)).toBe("shut off");
    const [u1, u2] = [(await virsh("domuuid", VM)).trim(), (await virsh("domuuid", CLONE)).trim()];
    expect(u2).not.toBe(u1);
    const [m1, m2] = [(await domIfList(VM))[0]!.mac, (await domIfList(CLONE))[0]!.mac];
    expect(m2).not.toBe(m1);
    const disk = (xml: string): string | undefined => /<source file='([^']+)'/.exec(xml)?.[1];
    const [d1, d2] = [disk(await virsh("dumpxml", VM, "--inactive")), disk(await virsh("dumpxml", CLONE, "--inactive"))];
    expect(d2).toBeDefined();
    expect(d2).not.toBe(d1);
    expect(existsSync(d2!)).toBe(true);
    // The clone must not share the original's serial log file either.
    const logOf = (xml: string): string | undefined => /<log file='([^']+)'/.exec(xml)?.[1];
    const [l1, l2] = [logOf(await virsh("dumpxml", VM, "--inactive")), logOf(await virsh("dumpxml", CLONE, "--inactive"))];
    if (l1 !== undefined) expect(l2, `the clone would write the original's serial log ${l1}`).not.toBe(l1);
  }, 120_000);

  it("delete --remove-storage: the domains and their volumes are gone", async () => {
    await hvOk("vm", "delete", CLONE, "--remove-storage", "--json");
    await hvOk("vm", "delete", VM, "--remove-storage", "--json");
    expect(await domainExists(VM)).toBe(false);
    expect(await domainExists(CLONE)).toBe(false);
    await virshTry("pool-refresh", POOL);
    const vols = await virsh("vol-list", POOL);
    expect(vols).not.toContain(VM);
    expect(vols).not.toContain(CLONE);
  }, 60_000);

  it("the libvirt collector saw the lifecycle in order: defined, started, suspended, resumed, …, stopped, undefined", async () => {
    await waitFor(async () => actionsFor(VM).includes("undefined"), 15_000, `the collector to see ${VM} undefined`);
    const seen = actionsFor(VM);
    const want = ["defined", "started", "suspended", "resumed", "stopped", "undefined"];
    // `want` is a subsequence of what was seen (snapshots, hot-plug and revert add events between).
    let i = 0;
    for (const a of seen) if (a === want[i]) i++;
    expect({ seen, matched: want.slice(0, i) }).toEqual({ seen, matched: want });
    // Every lifecycle event of the VM carries its uuid (attribution even after it was undefined).
    for (const e of events.filter((x) => x.vm?.name === VM)) expect(e.vm?.uuid).toMatch(/^[0-9a-f-]{36}$/);
  });
});

describe.skipIf(skip !== undefined)("hv vm: bad input is a clear error, a non-zero exit, and nothing half-done", () => {
  let daemons: RunningLibvirt | undefined;
  let templatePath = "";
  const BAD = `${PREFIX}bad`;

  beforeAll(async () => {
    if (!existsSync(BUILT)) throw new Error(`${BUILT} is missing: run npm run build (npm test does it first)`);
    stateDir = await mkdtemp(join(tmpdir(), "hv-lifecycle-state-"));
    daemons = await ensureLibvirtd();
    await cleanupTestResources(PREFIX);
    await rm(PWNED, { force: true });
    await createIsolatedNetwork(NET);
    await createTestPool(POOL);
    const g = guestFiles();
    templatePath = join(WORK_DIR, `${PREFIX}template.yaml`);
    await writeFile(
      templatePath,
      [`kind: kernel`, `kernel: ${g.kernel}`, `initrd: ${g.initrd}`, "memory: 128M", "domainType: qemu", `network: ${NET}`, `pool: ${POOL}`, "diskSize: 64M", ""].join("\n"),
    );
  }, 120_000);

  afterAll(async () => {
    await cleanupTestResources(PREFIX);
    await rm(PWNED, { force: true });
    if (stateDir) await rm(stateDir, { recursive: true, force: true });
    await daemons?.stop();
  }, 60_000);

  const allDomains = async (): Promise<string[]> => (await virsh("list", "--all", "--name")).split("\n").map((s) => s.trim()).filter(Boolean);
  const poolVolumes = async (): Promise<string[]> => {
    await virshTry("pool-refresh", POOL);
    return (await readdir(join(WORK_DIR, POOL))).sort();
  };

  it.each([
    ["a;touch /tmp/hvtest-pwned"],
    ["$(touch /tmp/hvtest-pwned)"],
    ["`touch /tmp/hvtest-pwned`"],
    ["x' && touch /tmp/hvtest-pwned #"],
    ["web1\ntouch /tmp/hvtest-pwned"],
  ])("a name with shell metacharacters (%s) is refused by create, start and delete", async (name) => {
    const before = await allDomains();
    const volsBefore = await poolVolumes();
    for (const args of [
      ["vm", "create", name, "--template", templatePath, "--json"],
      ["vm", "start", name, "--json"],
      ["vm", "delete", name, "--remove-storage", "--json"],
      ["vm", "snapshot", "create", name, "s1", "--json"],
    ]) {
      const r = await hv(...args);
      expect(r.code, `hv ${args.join(" ")}: ${r.stderr}`).not.toBe(0);
      expect(r.stderr, `hv ${args.join(" ")} says why`).toMatch(/name/i);
    }
    expect(existsSync(PWNED)).toBe(false);
    // Nothing defined under that name (other tests may define their own domains meanwhile).
    expect((await allDomains()).filter((d) => !before.includes(d) && /touch|pwned/.test(d))).toEqual([]);
    expect(await poolVolumes()).toEqual(volsBefore);
  });

  it("a missing domain: start, info, pause, snapshot, delete each say it does not exist", async () => {
    const missing = `${PREFIX}missing`;
    for (const args of [
      ["vm", "start", missing],
      ["vm", "info", missing],
      ["vm", "pause", missing],
      ["vm", "snapshot", "list", missing],
      ["vm", "delete", missing],
      ["vm", "clone", missing, `${PREFIX}missing2`],
    ]) {
      const r = await hv(...args, "--json");
      expect(r.code, `hv ${args.join(" ")}`).not.toBe(0);
      expect(r.stderr, `hv ${args.join(" ")}`).toMatch(new RegExp(`failed to get domain '${missing}'|not found|no domain|does not exist`, "i"));
    }
    expect(await domainExists(`${PREFIX}missing2`)).toBe(false);
  });

  it("malformed XML for `hv vm define`: refused, nothing defined", async () => {
    const dir = await mkdtemp(join(tmpdir(), "hv-define-"));
    try {
      const broken = join(dir, "broken.xml");
      await writeFile(broken, `<domain type='qemu'><name>${BAD}</name><memory unit='MiB'>128</memory><os><type>hvm</type>`);
      const r1 = await hv("vm", "define", broken, "--json");
      expect(r1.code).not.toBe(0);
      expect(r1.stderr).toMatch(/xml|invalid|parse/i);

      // Well-formed but not a valid domain (an element libvirt's schema does not know, no <os>).
      const invalid = join(dir, "invalid.xml");
      await writeFile(invalid, `<domain type='qemu'><name>${BAD}</name><memory unit='MiB'>128</memory><bogus/></domain>`);
      const r2 = await hv("vm", "define", invalid, "--json");
      expect(r2.code).not.toBe(0);
      expect(r2.stderr).toMatch(/invalid|valid|xml/i);

      const r3 = await hv("vm", "define", join(dir, "does-not-exist.xml"), "--json");
      expect(r3.code).not.toBe(0);
      expect(r3.stderr).toMatch(/no such file|not found|ENOENT|does not exist/i);

      expect(await domainExists(BAD)).toBe(false);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("libvirtd not reachable (--uri or HV_LIBVIRT_URI at a socket that does not exist): a connection error, nothing created", async () => {
    const uri = "qemu:///system?socket=/nonexistent/hvtest-libvirt-sock";
    const volsBefore = await poolVolumes();
    for (const args of [
      ["vm", "list", "--all", "--uri", uri],
      ["vm", "start", BAD, "--uri", uri],
      ["vm", "create", BAD, "--template", templatePath, "--uri", uri],
    ]) {
      const r = await hv(...args, "--json");
      expect(r.code, `hv ${args.join(" ")}`).not.toBe(0);
      expect(r.stderr, `hv ${args.join(" ")}`).toMatch(/connect/i);
      expect(r.stderr).toContain("/nonexistent/hvtest-libvirt-sock");
    }
    const viaEnv = await execa("node", [HV_BIN, "vm", "list", "--json"], { reject: false, env: { HV_LIBVIRT_URI: uri, HV_STATE_DIR: stateDir } });
    expect(viaEnv.exitCode).not.toBe(0);
    expect(String(viaEnv.stderr)).toMatch(/connect/i);
    expect(await domainExists(BAD)).toBe(false);
    expect(await poolVolumes()).toEqual(volsBefore);
  });
});
