// VM attribution and self-action marking on constructed events (the real-daemon versions are in
// attribution-auditd.test.ts and test/collectors/libvirt.test.ts).

import { describe, it, expect } from "vitest";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createAttribution, machineNameFromCgroup, qemuIdentity } from "../../src/agent/attribution.js";
import { createSelfActions, isSelfCaused } from "../../src/agent/self-actions.js";
import { InventoryIndex } from "../../src/collectors/libvirt/inventory.js";
import { ProcessTable } from "../../src/collectors/audit/proctable.js";
import { AuditDecoder, decodeAuditLines } from "../../src/collectors/audit/decoder.js";
import { openStore } from "../../src/store/open.js";
import { beginSelfAction, endSelfAction } from "../../src/store/self-actions.js";
import type { HvEvent } from "../../src/events/event.js";
import { makeEvent } from "../helpers/events.js";

const WEB = { name: "web1", uuid: "11111111-2222-3333-4444-555555555555" };
const inventory = (): InventoryIndex =>
  new InventoryIndex([{ ...WEB, state: "running", qemuPid: 5000, interfaces: [{ tap: "vnet3", mac: "52:54:00:00:00:01", ips: ["10.0.0.5"] }] }]);

/** An audit event of pid (with ppid), no vm. */
function audit(i: number, pid: number, ppid: number, extra: Partial<HvEvent> & { action?: string; exit?: number } = {}): HvEvent {
  const { action, exit, ...rest } = extra;
  const e = makeEvent(i, { process: { pid, ppid, executable: "/usr/bin/true", name: "true" }, event: { action: action ?? "openat" }, ...rest });
  delete e.vm;
  e.audit = { serial: i, time: "0", type: "SYSCALL", records: [], ...(exit !== undefined ? { exit } : {}) };
  return e;
}

describe("qemu command line and cgroup parsing", () => {
  it("reads -name guest=… and -uuid, with QEMU's doubled commas", () => {
    expect(qemuIdentity(["/usr/bin/qemu-system-x86_64", "-name", "guest=web1,debug-threads=on", "-S", "-uuid", WEB.uuid.toUpperCase()])).toEqual(WEB);
    expect(qemuIdentity(["qemu-system-x86_64", "-name", "guest=a,,b,debug-threads=on"])).toEqual({ name: "a,b" });
    expect(qemuIdentity(["qemu-system-x86_64", "-name", "old-style"])).toEqual({ name: "old-style" });
  });

  it("reads the machine name from libvirt's cgroup (plain and systemd)", () => {
    expect(machineNameFromCgroup("4:memory:/machine/qemu-1-hvrec1.libvirt-qemu\n0::/machine/qemu-1-hvrec1.libvirt-qemu/emulator\n")).toBe("qemu-1-hvrec1");
    expect(machineNameFromCgroup("0::/machine.slice/machine-qemu\\x2d3\\x2dweb1.scope/libvirt/emulator\n")).toBe("qemu-3-web1");
    expect(machineNameFromCgroup("0::/user.slice/user-0.slice/session-1.scope\n")).toBeUndefined();
  });
});

describe("createAttribution", () => {
  it("attributes the qemu pid and its descendants through the process table", () => {
    const table = new ProcessTable();
    const attribute = createAttribution(inventory(), { processes: table });
    // 5000 forks 5001, which forks 5002: the table learns the chain from the audit stream.
    for (const fork of [audit(1, 5000, 1, { action: "clone", exit: 5001 }), audit(2, 5001, 5000, { action: "clone", exit: 5002 })]) {
      table.enrich(fork);
      attribute(fork);
      expect(fork.vm).toEqual(WEB);
    }
    const grandchild = audit(3, 5002, 5001, { action: "execve" });
    table.enrich(grandchild);
    attribute(grandchild);
    expect(grandchild.vm).toEqual(WEB);
    const other = audit(4, 6000, 1);
    attribute(other);
    expect(other.vm).toBeUndefined();
  });

  it("attributes an exec of qemu by its command line, before the inventory knows the domain", () => {
    const attribute = createAttribution(new InventoryIndex([]));
    const exec = audit(1, 7000, 6999, { action: "execve" });
    exec.process = { ...exec.process, executable: "/usr/bin/qemu-system-x86_64", args: ["/usr/bin/qemu-system-x86_64", "-name", "guest=new1,debug-threads=on", "-uuid", "99999999-0000-0000-0000-000000000001"] };
    attribute(exec);
    expect(exec.vm).toEqual({ name: "new1", uuid: "99999999-0000-0000-0000-000000000001" });
    const later = audit(2, 7000, 6999);
    attribute(later);
    expect(later.vm?.name).toBe("new1");
    // The domain stops: its pid number means nothing any more.
    const stopped = makeEvent(3, { vm: { name: "new1" }, event: { module: "libvirt", action: "stopped" } });
    attribute(stopped);
    const reused = audit(4, 7000, 1);
    attribute(reused);
    expect(reused.vm).toBeUndefined();
  });

  it("attributes by qemu's proctitle, by libvirtd's VIRT_* records, and by cgroup", () => {
    const cgroups: Record<number, string> = { 8100: "0::/machine/qemu-4-web1.libvirt-qemu/emulator\n", 8200: "0::/user.slice\n" };
    let reads = 0;
    const attribute = createAttribution(inventory(), { readCgroup: (pid) => (reads++, cgroups[pid]) });
    const titled = audit(1, 8000, 1);
    titled.process!.title = "/usr/bin/qemu-system-x86_64 -name guest=web1,debug-threads=on -S -object";
    attribute(titled);
    expect(titled.vm).toEqual(WEB);
    const virt = audit(2, 900, 1);
    virt.audit!.records = [{ type: "VIRT_CONTROL", fields: { vm: "web1", uuid: WEB.uuid, op: "stop" } }];
    attribute(virt);
    expect(virt.vm).toEqual(WEB);
    const inCgroup = audit(3, 8100, 1);
    attribute(inCgroup);
    expect(inCgroup.vm).toEqual(WEB);
    for (let i = 0; i < 3; i++) attribute(audit(4 + i, 8200, 1));
    expect(reads).toBe(2); // one read per process, the negative answer cached too
  });

  it("attributes flows by tap device, then MAC, then IP, and says which end is the VM", () => {
    const attribute = createAttribution(inventory());
    const flow = (extra: object): HvEvent => {
      const e = makeEvent(1, { event: { module: "flow", action: "flow" }, ...extra });
      delete e.vm;
      return e;
    };
    const byTap = Object.assign(flow({}), { observer: { ingress: { interface: { name: "vnet3" } } } });
    const byMac = flow({ destination: { mac: "52:54:00:00:00:01" } });
    const byIp = flow({ source: { ip: "192.0.2.7" }, destination: { ip: "10.0.0.5" } });
    const none = flow({ source: { ip: "192.0.2.7" } });
    const fromVm = flow({ source: { ip: "10.0.0.5" }, destination: { ip: "192.0.2.7" } });
    const toTap = Object.assign(flow({}), { observer: { egress: { interface: { name: "vnet3" } } } });
    // Port-forwarded to the VM: the reply comes from the VM, so the VM is the original destination.
    const forwarded = flow({ source: { ip: "192.0.2.7" }, destination: { ip: "198.51.100.1" }, flow: { reply: { source: { ip: "10.0.0.5" }, destination: { ip: "192.0.2.7" } } } });
    for (const e of [byTap, byMac, byIp, none, fromVm, toTap, forwarded]) attribute(e);
    const src = { ...WEB, side: "source" };
    const dst = { ...WEB, side: "destination" };
    expect([byTap.vm, byMac.vm, byIp.vm, none.vm, fromVm.vm, toTap.vm, forwarded.vm]).toEqual([src, dst, dst, undefined, src, dst, dst]);
  });

  it("names the destination's VM too when a flow goes from one VM to another", () => {
    const DB = { name: "db1", uuid: "66666666-2222-3333-4444-555555555555" };
    const inv = new InventoryIndex([
      { ...WEB, state: "running", interfaces: [{ tap: "vnet3", mac: "52:54:00:00:00:01", ips: ["10.0.0.5"] }] },
      { ...DB, state: "running", interfaces: [{ tap: "vnet4", mac: "52:54:00:00:00:02", ips: ["10.0.0.6"] }] },
    ]);
    const attribute = createAttribution(inv);
    const flow = (extra: object): HvEvent => {
      const e = makeEvent(1, { event: { module: "flow", action: "flow" }, ...extra });
      delete e.vm;
      return e;
    };
    const vmToVm = flow({ source: { ip: "10.0.0.5" }, destination: { ip: "10.0.0.6", port: 22 } });
    const byTaps = Object.assign(flow({}), { observer: { ingress: { interface: { name: "vnet3" } }, egress: { interface: { name: "vnet4" } } } });
    const toOutside = flow({ source: { ip: "10.0.0.5" }, destination: { ip: "192.0.2.7" } });
    const toSelf = flow({ source: { ip: "10.0.0.5" }, destination: { ip: "10.0.0.5" } });
    for (const e of [vmToVm, byTaps, toOutside, toSelf]) attribute(e);
    expect(vmToVm.vm).toEqual({ ...WEB, side: "source", peer: DB });
    expect(byTaps.vm).toEqual({ ...WEB, side: "source", peer: DB });
    expect([toOutside.vm?.peer, toSelf.vm?.peer]).toEqual([undefined, undefined]);
  });
});

describe("self-action marking", () => {
  const db = openStore(join(mkdtempSync(join(tmpdir(), "hv-self-")), "hv.db"));
  const now = Date.parse("2026-11-26T06:00:10Z");

  it("tags the VM's libvirt events inside an action hv recorded, and only those", () => {
    const id = beginSelfAction(db, { vmName: "web1", action: "snapshot", startedMs: now - 5000, pid: 4242 });
    endSelfAction(db, id, now);
    const marks = createSelfActions(db, { ownPids: [], now: () => now });
    const at = (offsetMs: number, extra: Parameters<typeof makeEvent>[1]): HvEvent => makeEvent(1, { "@timestamp": new Date(now + offsetMs).toISOString(), ...extra });
    const suspended = at(-4000, { vm: WEB, event: { module: "libvirt", action: "suspended" } });
    const resumedLate = at(1500, { vm: WEB, event: { module: "libvirt", action: "resumed" } });
    const afterwards = at(60_000, { vm: WEB, event: { module: "libvirt", action: "suspended" } });
    const otherVm = at(-4000, { vm: { name: "db1" }, event: { module: "libvirt", action: "suspended" } });
    const insideGuest = at(-3000, { vm: WEB, process: { pid: 5000, ppid: 1 } }); // qemu's own syscalls stay visible
    const marked = [suspended, resumedLate, afterwards, otherVm, insideGuest].map((e) => marks.markSelfCaused(e));
    expect(marked).toEqual([true, true, false, false, false]);
    expect(suspended.tags).toEqual(["hv:self-action"]);
    expect(isSelfCaused(suspended)).toBe(true);
    expect(isSelfCaused(afterwards)).toBe(false);
  });

  it("tags audit events of hv's processes and what they started, by pid lineage", () => {
    const table = new ProcessTable();
    const marks = createSelfActions(db, { ownPids: [3000], processes: table, now: () => now });
    const see = (e: HvEvent): boolean => (table.enrich(e), marks.markSelfCaused(e));
    // The agent (3000) runs virsh (3001), which forks a helper (3002) that execs something.
    expect(see(audit(1, 3001, 3000, { action: "execve" }))).toBe(true);
    expect(see(audit(2, 3001, 3000, { action: "clone", exit: 3002 }))).toBe(true);
    expect(see(audit(3, 3002, 3001, { action: "execve" }))).toBe(true);
    // An hv command that recorded an action (pid 4242 above) and its qemu-img child.
    expect(see(audit(4, 4300, 4242, { action: "execve" }))).toBe(true);
    // Someone else, and a later process that reuses a number hv's child had.
    expect(see(audit(5, 5555, 1, { action: "execve" }))).toBe(false);
    expect(see(audit(6, 3002, 1, { action: "execve" }))).toBe(false);
  });
});

describe("one process table, read in stream order", () => {
  const sys = (serial: number, syscall: number, pid: number, ppid: number, exe: string, exit = 0): string =>
    `type=SYSCALL msg=audit(100.${String(serial).padStart(3, "0")}:${serial}): arch=c000003e syscall=${syscall} success=yes exit=${exit} ppid=${ppid} pid=${pid} uid=0 auid=0 comm="${exe.split("/").pop()}" exe="${exe}"`;
  const eoe = (serial: number): string => `type=EOE msg=audit(100.${String(serial).padStart(3, "0")}:${serial}): `;
  // qemu (5000, the inventory's) forks 5001, which opens a file; 5001 exits; an unrelated shell then
  // gets pid 5001 (an execve whose parent is 1) — all of it decoded in one go.
  const lines = [sys(1, 56, 5000, 1, "/usr/bin/qemu-system-x86_64", 5001), eoe(1), sys(2, 257, 5001, 5000, "/usr/bin/qemu-system-x86_64"), eoe(2), sys(3, 59, 5001, 1, "/bin/bash"), eoe(3), sys(4, 257, 5001, 1, "/bin/bash"), eoe(4)];

  it("attributes and marks each event as the table was at that event, not as it is after the batch", () => {
    const db = openStore(join(mkdtempSync(join(tmpdir(), "hv-order-")), "hv.db"));
    const table = new ProcessTable();
    const attribute = createAttribution(inventory(), { processes: table });
    // hv (pid 5000 here, standing for the agent) is not the point: only 5000's lineage is.
    const marks = createSelfActions(db, { ownPids: [4000], processes: table });
    const decoder = new AuditDecoder({ processes: table, enrich: (e) => (attribute(e), marks.markSelfCaused(e)) });
    const events = decodeAuditLines(lines, decoder);
    expect(events.map((e) => [e.process?.pid, e.event.action, e.vm?.name])).toEqual([
      [5000, "clone", "web1"],
      [5001, "openat", "web1"],
      [5001, "execve", undefined],
      [5001, "openat", undefined],
    ]);
    expect(events.some((e) => isSelfCaused(e))).toBe(false);
    db.close();
  });
});
