// End to end against the real libvirtd and a real TCG guest (128 MiB) on an isolated network:
// `hv forensics capture` (CLI process) of a running guest with memory, disk and 3 s of pcap; the
// guest keeps running and is back on its original disk with no overlay left; the ELF core and the
// qcow2 image are checked with real tools; `verify` passes, then fails and names the file for one
// flipped byte in each kind of artifact, a deleted file, an added file; export + extract + verify
// of the copy. A capture whose disk copy fails (qemu-img replaced by /bin/false) still puts the
// guest back on its original disk and removes the overlay.
//
// Needs root, libvirt + QEMU and the test guest; skipped loudly otherwise, a failure under CI=true.

import { execa } from "execa";
import { randomBytes } from "node:crypto";
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { captureBundle } from "../../src/forensics/capture.js";
import type { Manifest } from "../../src/forensics/manifest.js";
import { verifyBundle } from "../../src/forensics/verify.js";
import { saveAlert } from "../../src/store/alerts.js";
import { openStore } from "../../src/store/open.js";
import { VirshBackend } from "../../src/vm/virsh.js";
import { HV_BUILT, mustSucceed, runHv, type HvResult } from "../helpers/hv-cli.js";
import {
  WORK_DIR, cleanupTestResources, createIsolatedNetwork, defineTestGuest, domState, ensureLibvirtd, ensureVirtlogd,
  libvirtSkipReason, virsh, waitForBoot, type RunningLibvirt, type TestGuest,
} from "../helpers/libvirt.js";

const PREFIX = "hvtest-for-";
const TAG = randomBytes(3).toString("hex");
const VM = `${PREFIX}${TAG}-vm`;
const NET = `${PREFIX}${TAG}-net`;
const skip = libvirtSkipReason({ guest: true });

let daemons: RunningLibvirt | undefined;
let stateDir = "";
let scratch = "";
let guest: TestGuest;
let bundle = "";
let manifest: Manifest;

const hv = (args: string[]): Promise<HvResult> => runHv(args, { stateDir, timeoutMs: 180_000 });
const hvOk = async (...args: string[]): Promise<HvResult> => mustSucceed(args, await hv(args));

async function vdaSource(): Promise<string> {
  const rows = await new VirshBackend().domBlkList(VM);
  return rows.find((r) => r.target === "vda")!.source!;
}

function overlaysLeft(): string[] {
  return readdirSync(WORK_DIR).filter((f) => f.includes("hv-forensic"));
}

describe.skipIf(skip !== undefined)("hv forensics against a real guest", () => {
  beforeAll(async () => {
    if (!existsSync(HV_BUILT)) throw new Error(`${HV_BUILT} is missing: run npm run build`);
    daemons = await ensureLibvirtd();
    await ensureVirtlogd();
    await cleanupTestResources(PREFIX);
    stateDir = await mkdtemp(join(tmpdir(), "hv-for-state-"));
    scratch = await mkdtemp(join(tmpdir(), "hv-for-scratch-"));
    const net = await createIsolatedNetwork(NET);
    guest = await defineTestGuest(VM, { network: net.name, cmdlineExtra: "hv.ping" });
    await virsh("start", VM);
    await waitForBoot(guest.serialLog);
    const db = openStore(join(stateDir, "hv.db"));
    const seen = new Date().toISOString();
    saveAlert(db, {
      "@timestamp": seen, first_seen: seen, last_seen: seen, count: 1, rule: { id: "test-rule", title: "forensics test", source: "sigma" },
      severity: "high", mitre: { tactics: [], techniques: [] }, entity: { kind: "vm", id: VM }, vm: { name: VM }, event_ids: [], status: "open",
    });
    db.close();
  }, 180_000);

  afterAll(async () => {
    await cleanupTestResources(PREFIX);
    for (const d of [stateDir, scratch]) if (d) await rm(d, { recursive: true, force: true });
    await daemons?.stop();
  }, 120_000);

  it("capture (memory + disk + 3 s pcap) of a running guest: it keeps running, back on its own disk, no overlay", async () => {
    const diskBefore = await vdaSource();
    expect(diskBefore).toBe(guest.disk);
    const r = await hvOk("forensics", "capture", VM, "--memory", "--disk", "--pcap", "3", "--json");
    const s = r.json as { id: string; path: string; artifacts: number; failures: string[]; pcap: { packets: number } };
    expect(s.failures).toEqual([]);
    bundle = s.id;
    expect(await domState(VM)).toBe("running");
    expect(await vdaSource()).toBe(diskBefore);
    expect(await virsh("dumpxml", "--inactive", VM)).toContain(`<source file='${diskBefore}'/>`);
    expect(overlaysLeft()).toEqual([]);
    manifest = JSON.parse(await readFile(join(s.path, "manifest.json"), "utf8")) as Manifest;
    const paths = manifest.artifacts.map((a) => a.path);
    for (const p of ["memory/memory.elf", "disk/vda.qcow2", "domain/live.xml", "domain/inactive.xml", "logs/qemu.log", "store/alerts.jsonl", "store/events.jsonl", "host/qemu-ps.txt", "host/qemu-open-files.json", "host/nft-ruleset.json", "host/ip-link.json", "domain/domiflist.json", "domain/domblklist.json", "net/traffic.pcap"]) {
      expect(paths).toContain(p);
    }
    // The guest pings its router every second: 3 s of its tap hold packets.
    expect(s.pcap.packets).toBeGreaterThan(0);
    const alerts = (await readFile(join(s.path, "store/alerts.jsonl"), "utf8")).trim().split("\n").map((l) => JSON.parse(l) as { rule: { id: string } });
    expect(alerts.map((a) => a.rule.id)).toEqual(["test-rule"]);
    const fds = JSON.parse(await readFile(join(s.path, "host/qemu-open-files.json"), "utf8")) as { fds: Array<{ target: string }> };
    expect(fds.fds.some((f) => f.target === diskBefore)).toBe(true);
    // The self-action covers the capture window, so the agent does not alert on it.
    const db = openStore(join(stateDir, "hv.db"));
    const rows = db.prepare("SELECT action, ended FROM self_actions WHERE vm_name = ?").all(VM) as Array<{ action: string; ended: number | null }>;
    db.close();
    expect(rows).toEqual([expect.objectContaining({ action: "forensic-capture" })]);
    expect(rows[0]!.ended).not.toBeNull();
  }, 240_000);

  it("the memory is an ELF core of about 128 MiB; the disk image passes qemu-img check; the pcap reads back", async () => {
    const dir = join(stateDir, "forensics", "bundles", bundle);
    const elf = manifest.artifacts.find((a) => a.path === "memory/memory.elf")!;
    const head = Buffer.alloc(4);
    const { openSync, readSync, closeSync } = await import("node:fs");
    const fd = openSync(join(dir, "memory/memory.elf"), "r");
    readSync(fd, head, 0, 4, 0);
    closeSync(fd);
    expect(head.toString("latin1")).toBe("\x7fELF");
    expect(elf.size).toBeGreaterThanOrEqual(120 * 1024 * 1024);
    const check = await execa("qemu-img", ["check", join(dir, "disk/vda.qcow2")], { reject: false });
    expect(check.exitCode, check.stdout + check.stderr).toBe(0);
    const info = JSON.parse((await execa("qemu-img", ["info", "--output=json", join(dir, "disk/vda.qcow2")])).stdout) as { "virtual-size": number; "backing-filename"?: string };
    expect(info["virtual-size"]).toBe(64 * 1024 * 1024);
    expect(info["backing-filename"]).toBeUndefined();
    const pcap = await execa("tcpdump", ["-n", "-r", join(dir, "net/traffic.pcap")], { reject: false });
    expect(pcap.exitCode).toBe(0);
    expect(pcap.stdout).toMatch(/ICMP echo request/);
  });

  it("verify passes (CLI) and appends a verified custody entry; list and show find the bundle", async () => {
    const v = await hvOk("forensics", "verify", bundle, "--json");
    expect(v.json).toMatchObject({ ok: true, id: bundle, problems: [], hostKey: true });
    const list = await hvOk("forensics", "list", "--json");
    expect(list.json).toEqual([expect.objectContaining({ id: bundle, vm: VM, exists: true })]);
    const show = await hvOk("forensics", "show", bundle, "--json");
    const custody = (show.json as { custody: Array<{ what: string; seq: number }> }).custody;
    expect(custody.map((c) => c.what)).toEqual(["captured", "verified", "shown"]);
  }, 60_000);

  it("a flipped byte in each kind of artifact makes verify fail and name the file (then restored)", async () => {
    const dir = join(stateDir, "forensics", "bundles", bundle);
    const kinds = new Map<string, string>();
    for (const a of manifest.artifacts) if (a.size > 0 && !kinds.has(a.kind)) kinds.set(a.kind, a.path);
    expect([...kinds.keys()].sort()).toEqual(["disk", "domain", "domain-xml", "host", "log", "memory", "pcap", "store"]);
    for (const file of kinds.values()) {
      const p = join(dir, file);
      const orig = readFileSync(p);
      const bad = Buffer.from(orig);
      bad[orig.length >> 1] = bad[orig.length >> 1]! ^ 0x20;
      writeFileSync(p, bad);
      const r = await verifyBundle(dir, { stateDir });
      writeFileSync(p, orig);
      expect(r.ok, file).toBe(false);
      expect(r.problems, file).toEqual([expect.objectContaining({ kind: "changed", file })]);
    }
    expect((await verifyBundle(dir, { stateDir })).ok).toBe(true);
  }, 120_000);

  it("CLI verify: a deleted file, an added file and an edited custody line are named; exit 1", async () => {
    const dir = join(stateDir, "forensics", "bundles", bundle);
    const copy = join(scratch, "tamper", bundle);
    await mkdir(join(scratch, "tamper"), { recursive: true });
    await execa("cp", ["-a", dir, copy]);
    await rm(join(copy, "domain/live.xml"));
    writeFileSync(join(copy, "host/planted.sh"), "#!/bin/sh\n");
    const custody = join(copy, "custody.log");
    const lines = readFileSync(custody, "utf8").split("\n").filter(Boolean);
    lines[1] = lines[1]!.replace(/"who":"[^"]*"/, '"who":"user:mallory"');
    writeFileSync(custody, lines.join("\n") + "\n");
    const r = await hv(["forensics", "verify", copy]);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/^BAD /m);
    expect(r.stdout).toMatch(/missing\s+domain\/live\.xml is missing/);
    expect(r.stdout).toMatch(/added\s+host\/planted\.sh is not in the manifest/);
    expect(r.stdout).toMatch(/custody\s+custody\.log line 2: bad signature/);
  }, 60_000);

  it("export: a .tar.gz whose SHA-256 is printed and recorded; the extracted copy verifies", async () => {
    const out = join(scratch, "bundle.tar.gz");
    const r = await hvOk("forensics", "export", bundle, "--out", out, "--json");
    const e = r.json as { file: string; sha256: string };
    const sum = (await execa("sha256sum", [out])).stdout.split(" ")[0];
    expect(e.sha256).toBe(sum);
    const dir = join(stateDir, "forensics", "bundles", bundle);
    const last = JSON.parse(readFileSync(join(dir, "custody.log"), "utf8").trim().split("\n").pop()!) as { what: string; details: { sha256: string } };
    expect(last).toMatchObject({ what: "exported", details: { sha256: sum } });
    const x = join(scratch, "extract");
    await mkdir(x);
    await execa("tar", ["-xzf", out, "-C", x]);
    const v = await hvOk("forensics", "verify", join(x, bundle), "--json");
    expect(v.json).toMatchObject({ ok: true });
    // The original still verifies too, with this host's head record now at the export entry.
    expect((await verifyBundle(dir, { stateDir })).ok).toBe(true);
  }, 120_000);

  it("a disk copy that fails (qemu-img = /bin/false): the guest is back on its original disk, no overlay, the rest is signed", async () => {
    const before = await vdaSource();
    const db = openStore(join(stateDir, "hv.db"));
    try {
      const s = await captureBundle({ vm: VM, backend: new VirshBackend(), db, stateDir, disk: true, by: "user:test", tools: { qemuImg: "/bin/false" } });
      expect(s.failures).toEqual([expect.stringMatching(/^disk: .*qemu-img convert of vda .*failed.*back on its original disks/)]);
      expect((await verifyBundle(s.path, { stateDir })).ok).toBe(true);
      const m = JSON.parse(await readFile(join(s.path, "manifest.json"), "utf8")) as Manifest;
      expect(m.artifacts.map((a) => a.path)).not.toContain("disk/vda.qcow2");
      expect(m.notes[0]).toMatch(/^FAILED disk:/);
    } finally {
      db.close();
    }
    expect(await domState(VM)).toBe("running");
    expect(await vdaSource()).toBe(before);
    expect(overlaysLeft()).toEqual([]);
  }, 120_000);

  it("--pause: the guest is paused for the capture and running again after", async () => {
    const r = await hvOk("forensics", "capture", VM, "--memory", "--pause", "--json");
    expect((r.json as { failures: string[] }).failures).toEqual([]);
    expect(await domState(VM)).toBe("running");
    const log = await execa("virsh", ["-c", "qemu:///system", "domstate", VM, "--reason"]);
    expect(log.stdout).toMatch(/running \(unpaused\)/);
  }, 120_000);

  it("refuses --pcap above 3600 before touching the VM", async () => {
    const r = await hv(["forensics", "capture", VM, "--pcap", "3601"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/--pcap must be .* 1 to 3600/);
  });
});
