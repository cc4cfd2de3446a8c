// End to end: the `hv vm` / `hv net` / `hv pool` / `hv volume` operations that
// test/vm/lifecycle.test.ts does not cover, each through the CLI in its own process
// (`node bin/hv.js … --json`) and each effect checked independently with raw virsh / qemu-img:
//
// - vm define FILE.xml, dumpxml, info, list --all --json, autostart [--disable],
//   set --vcpus --memory (stored definition), edit (EDITOR = a script: a valid change is defined,
//   broken XML is refused and the old definition kept), disk attach|resize|detach (a new qcow2
//   volume in a pool), snapshot create --disk-only + list + delete (external);
// - on ONE running guest (TCG boots take ~10 s, so it is reused): reboot and reset (the serial log
//   shows another boot marker each time), save FILE + restore FILE, migrate;
// - net list|create|start|stop|leases|delete with an isolated 10.x network (never NAT);
// - pool list|create|delete (a dir pool in a temp dir) and volume list|create|resize|delete in it.
//
// migrate: this file only checks that `hv vm migrate NAME test:///default` fails with a clear,
// typed one-line error and leaves the domain where it was (defined and running on qemu:///system);
// real live migrations between two libvirt hosts are in test/vm/migrate.test.ts.
//
// Needs root, libvirt + QEMU and the test guest (scripts/build-test-guest.sh); skipped loudly
// otherwise, a failure under CI=true. `npm test` builds dist/ first.

import { execa } from "execa";
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  BOOT_MARKER,
  WORK_DIR,
  cleanupTestResources,
  createTestPool,
  domainExists,
  domState,
  ensureLibvirtd,
  ensureVirtlogd,
  guestFiles,
  guestPaths,
  libvirtSkipReason,
  snapshotNames,
  testGuestXml,
  virsh,
  virshTry,
  waitFor,
  waitForBoot,
  type RunningLibvirt,
} from "../helpers/libvirt.js";
import { HV_BUILT as BUILT, mustSucceed, runHv, type HvResult } from "../helpers/hv-cli.js";


const TAG = randomBytes(3).toString("hex");
const PREFIX = `hvtest-ops-${TAG}-`;
const VM = `${PREFIX}vm`;
const VMPOOL = `${PREFIX}vmpool`;
const NET = `${PREFIX}net`;
const POOL = `${PREFIX}pool`;

const skip = libvirtSkipReason({ guest: true });

let stateDir = "";
let daemons: RunningLibvirt | undefined;
let scratch = "";

/**
 * One hv command in its own process. This host's libvirtd is shared with other test runs, some of
 * which restart it (the collector's reconnect test): when hv could not even connect to the socket
 * (so it did nothing), wait for libvirtd to answer again and retry once, saying so.
 */
async function hv(args: string[], env: Record<string, string> = {}): Promise<HvResult> {
  const r = await hvOnce(args, env);
  if (r.code !== 0 && /failed to connect to the hypervisor.*libvirt-sock/i.test(r.stderr) && !args.includes("--uri")) {
    console.warn(`hv ${args.join(" ")}: libvirtd was not reachable (restarted by another run?): waiting and retrying once`);
    await waitFor(async () => (await execa("virsh", ["-c", "qemu:///system", "version"], { reject: false, timeout: 10_000 })).exitCode === 0, 60_000, "libvirtd to answer again");
    return hvOnce(args, env);
  }
  return r;
}

const hvOnce = (args: string[], env: Record<string, string>): Promise<HvResult> => runHv(args, { stateDir, env, timeoutMs: 120_000 });
const hvOk = async (...args: string[]): Promise<HvResult> => mustSucceed(args, await hv(args));

/** `virsh dominfo` as a key → value map. */
async function dominfo(name: string): Promise<Record<string, string>> {
  const out = await virsh("dominfo", name);
  return Object.fromEntries(out.split("\n").map((l) => l.split(/:\s+/, 2)).filter((p) => p.length === 2).map(([k, v]) => [k!.trim(), v!.trim()]));
}

/** Targets from `virsh domblklist` (inactive = the stored definition). */
async function blkTargets(name: string, inactive = false): Promise<Array<{ target: string; source: string }>> {
  const out = await virsh("domblklist", name, ...(inactive ? ["--inactive"] : []));
  return out.split("\n").map((l) => l.trim().split(/\s+/)).filter((f) => f.length >= 2).map(([target, source]) => ({ target: target!, source: source! }));
}

async function qemuImgVirtualSize(file: string): Promise<number> {
  const r = await execa("qemu-img", ["info", "-U", "--output=json", file]);
  return (JSON.parse(String(r.stdout)) as { "virtual-size": number })["virtual-size"];
}

const markerCount = async (file: string): Promise<number> => (await readFile(file, "utf8").catch(() => "")).split(BOOT_MARKER).length - 1;

/** A 10.x /24 no interface or libvirt network on this host uses. */
async function freeSubnet(): Promise<string> {
  const r = await execa("ip", ["-o", "-4", "addr", "show"], { reject: false });
  const used = new Set<string>([...String(r.stdout).matchAll(/inet (\d+\.\d+\.\d+)\.\d+\//g)].map((m) => m[1]!));
  const nets = await virshTry("net-list", "--all", "--name");
  for (const n of nets.stdout.split("\n").map((s) => s.trim()).filter(Boolean)) {
    const xml = await virshTry("net-dumpxml", n);
    for (const m of xml.stdout.matchAll(/address='(\d+\.\d+\.\d+)\.\d+'/g)) used.add(m[1]!);
  }
  for (;;) {
    const p = `10.${150 + Math.floor(Math.random() * 50)}.${Math.floor(Math.random() * 250) + 1}`;
    if (!used.has(p)) return p;
  }
}

describe.skipIf(skip !== undefined)("hv vm / net / pool / volume: the operations beyond the lifecycle, against the real daemon", () => {
  const serialLog = join(WORK_DIR, `${VM}.serial.log`);
  let poolDir = "";

  beforeAll(async () => {
    if (!existsSync(BUILT)) throw new Error(`${BUILT} is missing: run npm run build (npm test does it first)`);
    stateDir = await mkdtemp(join(tmpdir(), "hv-ops-state-"));
    daemons = await ensureLibvirtd();
    await ensureVirtlogd();
    await cleanupTestResources(PREFIX);
    await mkdir(WORK_DIR, { recursive: true });
    await chmod(WORK_DIR, 0o755);
    scratch = await mkdtemp(join(WORK_DIR, `${PREFIX}scratch-`));
    await chmod(scratch, 0o755);
    poolDir = await createTestPool(VMPOOL);
  }, 120_000);

  afterAll(async () => {
    await cleanupTestResources(PREFIX);
    if (stateDir) await rm(stateDir, { recursive: true, force: true });
    await daemons?.stop();
  }, 120_000);

  // ---- a stopped domain ---------------------------------------------------------------------

  it("vm define FILE.xml: the domain is defined from the file (and shows in list --all --json, info, dumpxml)", async () => {
    const { disk } = await guestPaths(VM);
    await rm(disk, { force: true });
    await execa("qemu-img", ["create", "-q", "-f", "qcow2", "-b", guestFiles().disk, "-F", "qcow2", disk]);
    const file = join(scratch, "vm.xml");
    await writeFile(file, testGuestXml(VM, guestFiles(), disk, serialLog));
    const r = await hvOk("vm", "define", file, "--json");
    expect(r.json).toMatchObject({ name: VM });
    expect(await domState(VM)).toBe("shut off");

    const list = await hvOk("vm", "list", "--all", "--json");
    expect(list.json).toEqual(expect.arrayContaining([expect.objectContaining({ name: VM, state: "shut off" })]));

    const info = await hvOk("vm", "info", VM, "--json");
    const uuid = (await virsh("domuuid", VM)).trim();
    expect(info.json).toMatchObject({ name: VM, state: "shut off", uuid, vcpus: 1 });
    expect((info.json as { disks: Array<{ target: { dev: string } }> }).disks.map((d) => d.target.dev)).toEqual(["vda"]);

    const dx = await hvOk("vm", "dumpxml", VM, "--json");
    const xml = (dx.json as { xml: string }).xml;
    expect(xml).toContain(`<name>${VM}</name>`);
    expect(xml).toContain(`<uuid>${uuid}</uuid>`);
    const plain = await hvOk("vm", "dumpxml", VM, "--inactive");
    expect(plain.stdout).toContain(`<name>${VM}</name>`);
  });

  // libvirt validates against its own schemas as it defines (define --validate): hv needs no
  // external validator (xmllint is only a Recommends of libvirt's packages, absent on minimal hosts).
  it("vm define: a well-formed definition libvirt's schema refuses is refused with libvirt's reason, and nothing is defined", async () => {
    const name = `${PREFIX}invalid`;
    const file = join(scratch, "invalid.xml");
    await writeFile(file, testGuestXml(name, guestFiles(), join(scratch, "none.qcow2"), serialLog).replace("<devices>", "<devices><bogus-device/>"));
    const r = await hv(["vm", "define", file, "--json"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/invalid\.xml is an invalid domain definition; nothing was defined: .*(failed to validate|bogus-device|extra content)/i);
    expect(r.stderr).not.toMatch(/xmllint|virt-xml-validate/);
    expect(await domainExists(name)).toBe(false);
  });

  it("vm autostart / autostart --disable (virsh dominfo Autostart)", async () => {
    expect((await dominfo(VM)).Autostart).toBe("disable");
    const on = await hvOk("vm", "autostart", VM, "--json");
    expect(on.json).toMatchObject({ name: VM, autostart: true });
    expect((await dominfo(VM)).Autostart).toBe("enable");
    const off = await hvOk("vm", "autostart", VM, "--disable", "--json");
    expect(off.json).toMatchObject({ name: VM, autostart: false });
    expect((await dominfo(VM)).Autostart).toBe("disable");
  });

  it("vm set --vcpus 2 --memory 192M changes the stored definition", async () => {
    const r = await hvOk("vm", "set", VM, "--vcpus", "2", "--memory", "192M", "--json");
    expect(r.json).toMatchObject({ name: VM, vcpus: 2, memoryBytes: 192 * 1024 * 1024 });
    const xml = await virsh("dumpxml", VM, "--inactive");
    expect(xml).toMatch(/<vcpu[^>]*>2<\/vcpu>/);
    expect(xml).toMatch(/<memory unit='KiB'>196608<\/memory>/);
    const di = await dominfo(VM);
    expect(di["CPU(s)"]).toBe("2");
    expect(di["Max memory"]).toBe("196608 KiB");
  });

  it("vm edit with $EDITOR: a valid change is defined; broken XML is refused and the old definition kept", async () => {
    const good = join(scratch, "edit-good.sh");
    await writeFile(good, `#!/bin/sh\nsed -i 's|<name>${VM}</name>|<name>${VM}</name><description>edited by hv test</description>|' "$1"\n`, { mode: 0o755 });
    const r = await hv(["vm", "edit", VM, "--json"], { EDITOR: good, VISUAL: "" });
    expect(r.code, r.stderr).toBe(0);
    expect(r.json).toMatchObject({ name: VM, changed: true });
    expect((await virsh("desc", VM, "--config")).trim()).toBe("edited by hv test");

    const before = await virsh("dumpxml", VM, "--inactive");
    const bad = join(scratch, "edit-bad.sh");
    await writeFile(bad, `#!/bin/sh\nsed -i 's|</domain>||; s|<devices>|<devices><bogus-device/>|' "$1"\n`, { mode: 0o755 });
    const r2 = await hv(["vm", "edit", VM, "--json"], { EDITOR: bad, VISUAL: "" });
    expect(r2.code).not.toBe(0);
    expect(r2.stderr).toMatch(/^hv: .*(invalid|xml)/im);
    expect(r2.stderr).toMatch(/unchanged/i);
    expect(await virsh("dumpxml", VM, "--inactive")).toBe(before);

    // Well-formed XML that libvirt's schema refuses is refused too.
    const invalid = join(scratch, "edit-invalid.sh");
    await writeFile(invalid, `#!/bin/sh\nsed -i 's|<devices>|<devices><bogus-device/>|' "$1"\n`, { mode: 0o755 });
    const r3 = await hv(["vm", "edit", VM, "--json"], { EDITOR: invalid, VISUAL: "" });
    expect(r3.code).not.toBe(0);
    expect(r3.stderr).toMatch(/invalid/i);
    expect(await virsh("dumpxml", VM, "--inactive")).toBe(before);
  });

  it("vm disk attach --size (a new qcow2 volume), resize, detach", async () => {
    const r = await hvOk("vm", "disk", "attach", VM, "--size", "16M", "--pool", VMPOOL, "--json");
    expect(r.json).toMatchObject({ name: VM, target: "vdb", created: true });
    const path = (r.json as { source: string }).source;
    expect(path).toBe(join(poolDir, `${VM}-vdb.qcow2`));
    expect(await blkTargets(VM, true)).toEqual([expect.objectContaining({ target: "vda" }), { target: "vdb", source: path }]);
    await virshTry("pool-refresh", VMPOOL);
    expect(await virsh("vol-list", VMPOOL)).toContain(`${VM}-vdb.qcow2`);
    const info = JSON.parse(String((await execa("qemu-img", ["info", "-U", "--output=json", path])).stdout)) as { format: string; "virtual-size": number };
    expect(info.format).toBe("qcow2");
    expect(info["virtual-size"]).toBe(16 * 1024 * 1024);

    const rs = await hvOk("vm", "disk", "resize", VM, "vdb", "32M", "--json");
    expect(rs.json).toMatchObject({ name: VM, target: "vdb", bytes: 32 * 1024 * 1024 });
    expect(await qemuImgVirtualSize(path)).toBe(32 * 1024 * 1024);

    await hvOk("vm", "disk", "detach", VM, "vdb", "--json");
    expect((await blkTargets(VM, true)).map((d) => d.target)).toEqual(["vda"]);
    expect(existsSync(path), "detach keeps the image file").toBe(true);
  });

  it("vm snapshot create --disk-only (external), list, delete", async () => {
    const diskBefore = (await blkTargets(VM, true))[0]!.source;
    const r = await hvOk("vm", "snapshot", "create", VM, "ext1", "--disk-only", "--description", "external", "--json");
    expect(r.json).toMatchObject({ name: VM, snapshot: "ext1", diskOnly: true });
    expect(await snapshotNames(VM)).toEqual(["ext1"]);
    const snapXml = await virsh("snapshot-dumpxml", VM, "ext1");
    expect(snapXml).toMatch(/<disk name='vda' snapshot='external'/);
    const overlay = (await blkTargets(VM, true))[0]!.source;
    expect(overlay).not.toBe(diskBefore);
    expect(existsSync(overlay)).toBe(true);

    const list = await hvOk("vm", "snapshot", "list", VM, "--json");
    expect(list.json).toEqual([expect.objectContaining({ name: "ext1", location: "external" })]);

    await hvOk("vm", "snapshot", "delete", VM, "ext1", "--json");
    expect(await snapshotNames(VM)).toEqual([]);
  });

  // ---- one running guest: reboot, reset, save/restore, migrate ---------------------------------

  it("start, then vm reboot: the serial log shows a second boot marker", async () => {
    await hvOk("vm", "start", VM, "--json");
    await waitForBoot(serialLog, BOOT_MARKER, 90_000);
    expect(await markerCount(serialLog)).toBe(1);
    // The guest handles ACPI once its init runs; give it a moment after the marker.
    await new Promise((r) => setTimeout(r, 1000));
    const r = await hvOk("vm", "reboot", VM, "--json");
    expect(r.json).toMatchObject({ name: VM, action: "reboot", ok: true });
    await waitFor(async () => (await markerCount(serialLog)) >= 2, 90_000, "a second boot marker after reboot");
    expect(await domState(VM)).toBe("running");
  }, 150_000);

  it("vm reset: the guest boots again (another boot marker)", async () => {
    const n = await markerCount(serialLog);
    const r = await hvOk("vm", "reset", VM, "--json");
    expect(r.json).toMatchObject({ name: VM, action: "reset", ok: true });
    await waitFor(async () => (await markerCount(serialLog)) > n, 90_000, "another boot marker after reset");
    expect(await domState(VM)).toBe("running");
  }, 120_000);

  it("vm save FILE + vm restore FILE", async () => {
    const file = join(scratch, "vm.sav");
    const s = await hvOk("vm", "save", VM, file, "--json");
    expect(s.json).toMatchObject({ name: VM, file });
    expect(await domState(VM)).toBe("shut off");
    expect(existsSync(file)).toBe(true);
    const r = await hvOk("vm", "restore", file, "--json");
    expect(r.json).toMatchObject({ file });
    expect(await domState(VM)).toBe("running");
  }, 120_000);

  it("vm migrate to test:///default: a clear typed error, the domain stays where it was", async () => {
    const uuid = (await virsh("domuuid", VM)).trim();
    const r = await hv(["vm", "migrate", VM, "test:///default", "--json"]);
    expect(r.code).toBe(1);
    const lines = r.stderr.trim().split("\n");
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^hv: .*(migrat|support|connect|driver)/i);
    expect(r.stdout.trim()).toBe("");
    expect(await domainExists(VM)).toBe(true);
    expect((await virsh("domuuid", VM)).trim()).toBe(uuid);
    expect(await domState(VM)).toBe("running");
    expect((await dominfo(VM)).Persistent).toBe("yes");
    await virsh("destroy", VM);
  }, 60_000);

  // ---- networks -----------------------------------------------------------------------------

  it("net create (isolated 10.x, no forward), list, stop, start, leases, delete", async () => {
    const p = await freeSubnet();
    const bridge = `hvt${TAG}o`;
    const c = await hvOk("net", "create", NET, "--cidr", `${p}.0/24`, "--bridge", bridge, "--json");
    expect(c.json).toMatchObject({ name: NET, started: true });
    const xml = await virsh("net-dumpxml", NET);
    expect(xml).not.toContain("<forward");
    expect(xml).toContain(`address='${p}.1'`);
    expect(xml).toContain(`name='${bridge}'`);
    expect((await virsh("net-info", NET))).toMatch(/Active:\s+yes/);

    const list = await hvOk("net", "list", "--json");
    expect(list.json).toEqual(expect.arrayContaining([expect.objectContaining({ name: NET, active: true, persistent: true })]));

    await hvOk("net", "stop", NET, "--json");
    expect(await virsh("net-info", NET)).toMatch(/Active:\s+no/);
    await hvOk("net", "start", NET, "--json");
    expect(await virsh("net-info", NET)).toMatch(/Active:\s+yes/);

    const leases = await hvOk("net", "leases", NET, "--json");
    expect(leases.json).toEqual([]);

    await hvOk("net", "delete", NET, "--json");
    expect((await virshTry("net-info", NET)).ok).toBe(false);
  }, 60_000);

  // ---- pools and volumes ---------------------------------------------------------------------

  it("pool create (dir pool in a temp dir), list; volume create, list, resize, delete; pool delete", async () => {
    const dir = join(scratch, "pool");
    const c = await hvOk("pool", "create", POOL, "--target", dir, "--json");
    expect(c.json).toMatchObject({ name: POOL, started: true });
    expect(await virsh("pool-info", POOL)).toMatch(/State:\s+running/);
    expect(await virsh("pool-dumpxml", POOL)).toContain(`<path>${dir}</path>`);
    const pl = await hvOk("pool", "list", "--json");
    expect(pl.json).toEqual(expect.arrayContaining([expect.objectContaining({ name: POOL, state: "running" })]));

    await hvOk("volume", "create", POOL, "v1.qcow2", "--size", "8M", "--json");
    const file = join(dir, "v1.qcow2");
    expect(await virsh("vol-list", POOL)).toContain("v1.qcow2");
    expect(await qemuImgVirtualSize(file)).toBe(8 * 1024 * 1024);
    const vl = await hvOk("volume", "list", POOL, "--json");
    expect(vl.json).toEqual([expect.objectContaining({ name: "v1.qcow2", path: file, capacityBytes: 8 * 1024 * 1024 })]);

    await hvOk("volume", "resize", POOL, "v1.qcow2", "24M", "--json");
    expect(await qemuImgVirtualSize(file)).toBe(24 * 1024 * 1024);

    await hvOk("volume", "delete", POOL, "v1.qcow2", "--json");
    expect(existsSync(file)).toBe(false);
    await virshTry("pool-refresh", POOL);
    expect(await virsh("vol-list", POOL)).not.toContain("v1.qcow2");

    await hvOk("pool", "delete", POOL, "--remove-dir", "--json");
    expect((await virshTry("pool-info", POOL)).ok).toBe(false);
    expect(existsSync(dir)).toBe(false);
  }, 60_000);
});
