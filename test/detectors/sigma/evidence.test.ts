// hv.evidence in a rule: read and checked (bad sections are named with file and line), turned into
// probes, and matched against recorded events (relative names resolved only when they follow the CWD).

import { describe, expect, it } from "vitest";
import { decodeAuditLines } from "../../../src/collectors/audit/decoder.js";
import { eventShows, evidenceOf, factOf, pathMatches, probesOf } from "../../../src/detectors/sigma/evidence.js";
import { loadRulesFromText } from "../../../src/detectors/sigma/ruleset.js";

const rule = (hv: string, logsource = "product: linux\n    category: process_creation"): string => `title: t
id: 11111111-2222-4333-8444-555555555555
logsource:
    ${logsource}
detection:
    selection:
        Image|endswith: '/virsh'
    condition: selection
${hv}`;
const docOf = (text: string) => loadRulesFromText(text, "r.yml").rules[0]!.doc;

describe("hv.evidence", () => {
  it("reads a declared section; a wrong one is named with its file, line and field", () => {
    const ev = evidenceOf(docOf(rule("hv:\n    technique: t1\n    evidence:\n        - exec: ['/usr/bin/virsh']\n          naming: [dump]\n        - syscall: [ptrace]\n          a0: [0x10]")));
    expect(ev).toMatchObject({ declared: true, technique: "t1", items: [{ kind: "exec", programs: ["/usr/bin/virsh"], naming: ["dump"] }, { kind: "syscall", syscalls: ["ptrace"], a0: [16] }] });
    expect(evidenceOf(docOf(rule("hv:\n    evidence:\n        - exec: [virsh]")))).toMatch(/^r\.yml:11: hv\.evidence\.0/);
    expect(evidenceOf(docOf(rule("hv:\n    evidence:\n        - open: ['/x']")))).toMatch(/^r\.yml:11: hv\.evidence\.0/);
    expect(evidenceOf(docOf(rule("hv:\n    evidnce: []")))).toMatch(/^r\.yml:11: hv/);
  });

  it("rules without it get their logsource's default, or none", () => {
    expect(evidenceOf(docOf(rule("")))).toMatchObject({ declared: false, items: [{ kind: "exec", programs: "any" }] });
    // (an auditd rule selects on audit record fields: exe, not Image)
    expect(evidenceOf(docOf(rule("", "product: linux\n    service: auditd").replace("Image|endswith", "exe|endswith")))).toBeUndefined();
    // rules over libvirt's events need the libvirt collector, not audit
    const lv = `title: t\nlogsource:\n    product: hv\n    service: libvirt\ndetection:\n    s:\n        event.action: undefined\n    condition: s\n`;
    expect(evidenceOf(docOf(lv))).toEqual({ declared: false, items: [{ kind: "libvirt", events: [] }] });
  });

  it("makes one probe per program, path and actor; an exec with a parent adds the parent's start", () => {
    const ev = evidenceOf(docOf(rule("hv:\n    actors: [root, user]\n    evidence:\n        - exec: ['/usr/bin/sh']\n          parent: ['/usr/bin/qemu-system-x86_64']\n        - write: ['/etc/libvirt/qemu/*.xml']\n          by: ['/usr/bin/sed']")));
    if (typeof ev !== "object") throw new Error(String(ev));
    const [exec, write] = ev.items.map(probesOf);
    expect(exec!.map((p) => p.label)).toEqual([
      "start of /usr/bin/sh by root", "start of /usr/bin/qemu-system-x86_64 (parent) by root",
      "start of /usr/bin/sh by user", "start of /usr/bin/qemu-system-x86_64 (parent) by user",
    ]);
    // a write is an open for writing or a rename onto the file (sed -i), at an example path
    expect(write!.filter((p) => p.actor === "root").map((p) => p.probe)).toEqual([
      { kind: "syscall", syscall: "openat", args: { a2: 0x241 }, paths: ["/etc/libvirt/qemu/x.xml"], exe: "/usr/bin/sed", actor: { uid: 0, euid: 0, auid: 0 } },
      { kind: "syscall", syscall: "rename", paths: ["/etc/libvirt/qemu/x.xml"], exe: "/usr/bin/sed", actor: { uid: 0, euid: 0, auid: 0 } },
    ]);
  });

  it("a syscall's third argument (connect's address length) goes into its probes and is matched on events", () => {
    const ev = evidenceOf(docOf(rule("hv:\n    actors: [root]\n    evidence:\n        - syscall: [connect]\n          a2: [16, 28]\n          by: ['/usr/bin/dig']")));
    if (typeof ev !== "object") throw new Error(String(ev));
    expect(probesOf(ev.items[0]!).map((p) => p.probe)).toEqual([16, 28].map((a2) => ({ kind: "syscall", syscall: "connect", args: { a2 }, exe: "/usr/bin/dig", actor: { uid: 0, euid: 0, auid: 0 } })));
    const connect = (a2: string) => decodeAuditLines([
      `type=SYSCALL msg=audit(10.000:1): arch=c000003e syscall=42 success=yes exit=0 a0=3 a1=7ffd a2=${a2} a3=0 items=0 ppid=1 pid=9 auid=0 uid=0 euid=0 ses=1 comm="dig" exe="/usr/bin/dig"`,
      "type=SOCKADDR msg=audit(10.000:1): saddr=02000035C6336435000000000000000000",
      "type=EOE msg=audit(10.000:1): ",
    ])[0]!;
    expect(eventShows(ev.items[0]!, connect("10"))).toBe(true);
    expect(eventShows(ev.items[0]!, connect("6e"))).toBe(false);
  });

  it("path patterns: dir/ is anything under it, * one segment, /bin is /usr/bin", () => {
    expect(pathMatches("/var/lib/libvirt/images/", "/var/lib/libvirt/images/a/b.qcow2")).toBe(true);
    expect(pathMatches("/var/lib/libvirt/images/", "/var/lib/libvirt/images")).toBe(false);
    expect(pathMatches("/etc/libvirt/qemu/*.xml", "/etc/libvirt/qemu/vm.xml")).toBe(true);
    expect(pathMatches("/etc/libvirt/qemu/*.xml", "/etc/libvirt/qemu/networks/n.xml")).toBe(false);
    expect(pathMatches("/usr/bin/virsh", "/bin/virsh")).toBe(true);
  });

  it("matches recorded events: reads by open mode; a name relative to a directory fd is not joined to the CWD", () => {
    const syscall = (serial: number, a0: string, a2: string, name: string): string[] => [
      `type=SYSCALL msg=audit(10.000:${serial}): arch=c000003e syscall=257 success=yes exit=3 a0=${a0} a1=1 a2=${a2} a3=0 items=1 ppid=1 pid=9 auid=0 uid=0 euid=0 ses=1 comm="tar" exe="/usr/bin/tar"`,
      `type=CWD msg=audit(10.000:${serial}): cwd="/var/lib/libvirt/images"`,
      `type=PATH msg=audit(10.000:${serial}): item=0 name="${name}" inode=5 mode=0100600 nametype=NORMAL`,
      `type=EOE msg=audit(10.000:${serial}):`,
    ];
    const events = decodeAuditLines([...syscall(1, "ffffff9c", "0", "vm.qcow2"), ...syscall(2, "5", "0", "vm.qcow2"), ...syscall(3, "ffffff9c", "2", "vm.qcow2")]);
    const read = { kind: "read" as const, paths: ["/var/lib/libvirt/images/"], by: [], actors: ["root" as const] };
    const write = { ...read, kind: "write" as const };
    expect(events.map((e) => eventShows(read, e))).toEqual([true, false, true]);
    expect(events.map((e) => eventShows(write, e))).toEqual([false, false, true]);
    expect(events.map((e) => e.file?.path)).toEqual(["/var/lib/libvirt/images/vm.qcow2", "vm.qcow2", "/var/lib/libvirt/images/vm.qcow2"]);
    expect(events.map((e) => e.event.type)).toEqual([["access"], ["access"], ["change"]]);
  });

  it("a write is also an attribute change or a removal (what hv's rules select as a file change), never a stat", () => {
    // install -m 755 … /etc/libvirt/hooks/lxc as a STIG host records it: fchmodat (perm_mod) only
    const call = (serial: number, nr: number, comm: string, name: string): string[] => [
      `type=SYSCALL msg=audit(10.000:${serial}): arch=c000003e syscall=${nr} success=yes exit=0 a0=ffffff9c a1=55d0 a2=1ed a3=0 items=1 ppid=1 pid=9 auid=1001 uid=0 euid=0 ses=1 comm="${comm}" exe="/usr/bin/${comm}"`,
      `type=CWD msg=audit(10.000:${serial}): cwd="/root"`,
      `type=PATH msg=audit(10.000:${serial}): item=0 name="${name}" inode=5 mode=0100755 nametype=NORMAL`,
      `type=EOE msg=audit(10.000:${serial}):`,
    ];
    // fchmodat, unlinkat, newfstatat
    const events = decodeAuditLines([...call(1, 268, "install", "/etc/libvirt/hooks/lxc"), ...call(2, 263, "rm", "/etc/libvirt/hooks/lxc"), ...call(3, 262, "stat", "/etc/libvirt/hooks/lxc")]);
    const write = { kind: "write" as const, paths: ["/etc/libvirt/hooks/"], by: [], actors: ["sudo" as const] };
    expect(events.map((e) => eventShows(write, e))).toEqual([true, true, false]);
    expect(events.map((e) => eventShows({ ...write, kind: "read" }, e))).toEqual([false, false, false]);
  });

  it("a fact is the act, not sed -i's temporary name", () => {
    const rename = (tmp: string): string[] => [
      `type=SYSCALL msg=audit(10.000:1): arch=c000003e syscall=82 success=yes exit=0 a0=1 a1=2 a2=0 a3=0 items=4 ppid=1 pid=9 auid=1001 uid=0 euid=0 ses=1 comm="sed" exe="/usr/bin/sed"`,
      `type=PATH msg=audit(10.000:1): item=0 name="/etc/hv/" inode=5 mode=040755 nametype=PARENT`,
      `type=PATH msg=audit(10.000:1): item=1 name="/etc/hv/" inode=5 mode=040755 nametype=PARENT`,
      `type=PATH msg=audit(10.000:1): item=2 name="/etc/hv/${tmp}" inode=6 mode=0100644 nametype=DELETE`,
      `type=PATH msg=audit(10.000:1): item=3 name="/etc/hv/hv.yaml" inode=7 mode=0100644 nametype=DELETE`,
      `type=EOE msg=audit(10.000:1):`,
    ];
    const write = { kind: "write" as const, paths: ["/etc/hv/"], by: [], actors: ["sudo" as const] };
    const [a] = decodeAuditLines(rename("sedNpQyVZ"));
    const [b] = decodeAuditLines(rename("sed4aBcDe"));
    expect(factOf(write, a!)).toBe(factOf(write, b!));
    expect(factOf(write, a!)).toContain("/etc/hv/sedX");
  });
});
