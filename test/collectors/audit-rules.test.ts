// The model of the kernel's audit filtering behind `hv rules coverage` (src/collectors/audit/rules.ts),
// rule shape by rule shape. The recordings under three real rulesets check the same model against
// the real kernel (test/detectors/hv-techniques.test.ts); these pin each behaviour down alone.

import { describe, expect, it } from "vitest";
import { canonicalPath, parseAuditRules, recordsProbe, type AuditActor, type AuditProbe, type PathFacts } from "../../src/collectors/audit/rules.js";

const root: AuditActor = { uid: 0, euid: 0, auid: 0 };
const sudo: AuditActor = { uid: 0, euid: 0, auid: 1000 };
const user: AuditActor = { uid: 1000, euid: 1000, auid: 1000 };
const daemon: AuditActor = { uid: 0, euid: 0 };

// A small filesystem of its own, so the model's answers do not depend on this host.
const dirs = new Set(["/etc/libvirt", "/var/lib/libvirt/images", "/sys/devices"]);
const links: Record<string, string> = { "/usr/sbin/insmod": "/usr/bin/kmod", "/usr/bin/sh": "/usr/bin/dash", "/sys/bus/pci/devices/0000:00:05.0": "/sys/devices/pci0000:00/0000:00:05.0" };
const fakePaths: PathFacts = {
  kind: (p) => (dirs.has(canonicalPath(p)) ? "dir" : canonicalPath(p) in links ? "link" : undefined),
  real: (p) => {
    const c = canonicalPath(p);
    const link = Object.keys(links).find((l) => c === l || c.startsWith(`${l}/`));
    return link ? links[link]! + c.slice(link.length) : c;
  },
};
const rules = (text: string) => parseAuditRules(text, "test", fakePaths);
const open = (path: string, mode: "r" | "w", actor = root, exe = "/usr/bin/cat"): AuditProbe => ({
  kind: "syscall", syscall: "openat", args: { a2: mode === "r" ? 0 : 0x241 }, paths: [path], exe, actor,
});
const exec = (program: string, actor = root): AuditProbe => ({ kind: "syscall", syscall: "execve", paths: [program], exe: program, actor });
const recorded = (text: string, p: AuditProbe): boolean => recordsProbe(rules(text), p).recorded;

describe("audit rule model", () => {
  it("a watch's -p decides which accesses of the file are recorded (open flags, syscall classes, execve)", () => {
    expect(recorded("-w /etc/libvirt -p wa -k x", open("/etc/libvirt/qemu/vm.xml", "w"))).toBe(true);
    expect(recorded("-w /etc/libvirt -p wa -k x", open("/etc/libvirt/qemu/vm.xml", "r"))).toBe(false);
    expect(recorded("-w /etc/libvirt -p r -k x", open("/etc/libvirt/qemu/vm.xml", "r"))).toBe(true);
    // rename is in the write class, chmod in the attribute class, getxattr in the read class
    const rename: AuditProbe = { kind: "syscall", syscall: "rename", paths: ["/etc/libvirt/qemu/vm.xml"], exe: "/usr/bin/sed", actor: root };
    expect(recorded("-w /etc/libvirt -p w", rename)).toBe(true);
    expect(recorded("-w /etc/libvirt -p a", rename)).toBe(false);
    expect(recorded("-w /etc/libvirt -p a", { ...rename, syscall: "fchmodat" })).toBe(true);
    expect(recorded("-w /etc/libvirt -p r", { ...rename, syscall: "getxattr" })).toBe(true);
    // a watch never records connect() (no class), whatever -p says
    expect(recorded("-w /etc/libvirt -p rwxa", { ...rename, syscall: "connect" })).toBe(false);
    expect(recorded("-w /usr/bin/virsh -p x", exec("/usr/bin/virsh"))).toBe(true);
    expect(recorded("-w /usr/bin/virsh -p wa", exec("/usr/bin/virsh"))).toBe(false);
  });

  it("a watch on a directory covers its subtree, one on a file only the file", () => {
    expect(recorded("-w /var/lib/libvirt/images -p r", open("/var/lib/libvirt/images/sub/vm.qcow2", "r"))).toBe(true);
    expect(recorded("-w /var/lib/libvirt/images/vm.qcow2 -p r", open("/var/lib/libvirt/images/vm.qcow2.bak", "r"))).toBe(false);
    expect(recorded("-a always,exit -F dir=/var/lib/libvirt -F perm=r", open("/var/lib/libvirt/images/vm.qcow2", "r"))).toBe(true);
    expect(recorded("-a always,exit -F path=/var/lib/libvirt -F perm=r", open("/var/lib/libvirt/images/vm.qcow2", "r"))).toBe(false);
  });

  it("/bin, /sbin and /lib are /usr/… (merged /usr), in rules and in probes", () => {
    expect(recorded("-w /bin/bash -p x", exec("/usr/bin/bash"))).toBe(true);
    expect(recorded("-w /usr/sbin/nft -p x", exec("/sbin/nft"))).toBe(true);
    expect(recorded("-a always,exit -F arch=b64 -S connect -F exe=/bin/bash", { kind: "syscall", syscall: "connect", exe: "/usr/bin/bash", actor: root })).toBe(true);
  });

  it("a watch on a symbolic link is the link's own inode: program starts through it are not recorded, the target's watch records them", () => {
    const insmod: AuditProbe = { kind: "syscall", syscall: "execve", paths: ["/usr/sbin/insmod"], exe: "/usr/bin/kmod", actor: root };
    expect(recorded("-a always,exit -F perm=x -F path=/sbin/insmod -k modules", insmod)).toBe(false);
    expect(recorded("-w /usr/bin/kmod -p x", insmod)).toBe(true);
    expect(recorded("-w /bin/sh -p x", { ...insmod, paths: ["/bin/sh"], exe: "/usr/bin/dash" })).toBe(false);
    // removing the link itself is seen by a watch on the link
    expect(recorded("-w /usr/sbin/insmod -p wa", { ...insmod, syscall: "unlink" })).toBe(true);
  });

  it("sysfs device links are matched where the files really are (under /sys/devices)", () => {
    const override = open("/sys/bus/pci/devices/0000:00:05.0/driver_override", "w", root, "/usr/bin/bash");
    expect(recorded("-a always,exit -F arch=b64 -S openat -F dir=/sys/bus/pci -F perm=w", override)).toBe(false);
    expect(recorded("-a always,exit -F arch=b64 -S openat -F dir=/sys/devices -F perm=w", override)).toBe(true);
    expect(recorded("-a always,exit -F arch=b64 -S openat -F dir=/sys/bus/pci -F perm=w", open("/sys/bus/pci/drivers_probe", "w"))).toBe(true);
    expect(canonicalPath("/sys/class/net/eth0/flags")).toBe("/sys/devices/net/eth0/flags");
  });

  it("syscall rules: -S lists and numbers, arch, first match wins (never before always)", () => {
    const ptrace: AuditProbe = { kind: "syscall", syscall: "ptrace", args: { a0: 0x4206 }, exe: "/usr/bin/strace", actor: root };
    expect(recorded("-a always,exit -F arch=b64 -S ptrace -F a0=0x10", ptrace)).toBe(false);
    expect(recorded("-a always,exit -F arch=b64 -S ptrace -F a0=0x4206", ptrace)).toBe(true);
    expect(recorded("-a always,exit -F arch=b64 -S 101", ptrace)).toBe(true);
    expect(recorded("-a always,exit -F arch=b32 -S ptrace", ptrace)).toBe(false);
    expect(recorded("-a exit,always -F arch=b64 -S ptrace", ptrace)).toBe(true);
    expect(recorded("-a never,exit -F arch=b64 -S ptrace\n-a always,exit -F arch=b64 -S ptrace", ptrace)).toBe(false);
    expect(recorded("-a always,exit -F arch=b64 -S ptrace\n-a never,exit -F arch=b64 -S ptrace", ptrace)).toBe(true);
    // -A puts a rule first
    expect(recorded("-a always,exit -F arch=b64 -S ptrace\n-A never,exit -F arch=b64 -S ptrace", ptrace)).toBe(false);
    // -d removes the rule with the same arguments
    expect(recorded("-a always,exit -F arch=b64 -S ptrace\n-d always,exit -F arch=b64 -S ptrace", ptrace)).toBe(false);
  });

  it("file watches (inode rules) are checked after the syscall list and override a never", () => {
    const text = "-a never,exit -F arch=b64 -S openat -F exe=/usr/bin/cat\n-w /etc/shadow -p r -k shadow";
    expect(recorded(text, open("/etc/shadow", "r"))).toBe(true);
    // a directory watch stays in order: the never rule before it wins
    expect(recorded("-a never,exit -F arch=b64 -S openat -F exe=/usr/bin/cat\n-w /etc/libvirt -p r", open("/etc/libvirt/x", "r"))).toBe(false);
  });

  it("ids: auid unset is 4294967295 (auid>=1000 includes it, auid!=-1 and auid!=unset exclude it), names root/unset", () => {
    const rootcmd = "-a always,exit -F arch=b64 -F euid=0 -F auid>=1000 -F auid!=-1 -S execve";
    expect(recorded(rootcmd, exec("/usr/bin/virsh", sudo))).toBe(true);
    expect(recorded(rootcmd, exec("/usr/bin/virsh", root))).toBe(false);
    expect(recorded(rootcmd, exec("/usr/bin/virsh", user))).toBe(false);
    expect(recorded(rootcmd, exec("/usr/bin/virsh", daemon))).toBe(false);
    expect(recorded("-a always,exit -F arch=b64 -S execve -F auid>=1000", exec("/usr/bin/virsh", daemon))).toBe(true);
    expect(recorded("-a always,exit -F arch=b64 -S execve -F auid>=1000 -F auid!=unset", exec("/usr/bin/virsh", daemon))).toBe(false);
    expect(recorded("-a always,exit -F arch=b64 -S execve -F uid=root", exec("/usr/bin/virsh", root))).toBe(true);
    // a user name hv cannot resolve matches none of its actors
    expect(recorded("-a always,exit -F arch=b64 -S execve -F uid=chrony", exec("/usr/bin/virsh", root))).toBe(false);
  });

  it("success and exit filters", () => {
    const failed = { ...open("/etc/libvirt/x", "r"), exit: -13 };
    expect(recorded("-a always,exit -F arch=b64 -S openat -F exit=-EACCES", failed)).toBe(true);
    expect(recorded("-a always,exit -F arch=b64 -S openat -F exit=-EACCES", open("/etc/libvirt/x", "r"))).toBe(false);
    expect(recorded("-a always,exit -F arch=b64 -S openat -F success=0", failed)).toBe(true);
    expect(recorded("-a always,exit -F arch=b64 -S openat -F success=1", failed)).toBe(false);
  });

  it("records the kernel or a program writes on their own need no rule, unless excluded or filtered", () => {
    const promisc: AuditProbe = { kind: "record", type: "ANOM_PROMISCUOUS", user: false, actor: root };
    const virt: AuditProbe = { kind: "record", type: "VIRT_CONTROL", user: true, exe: "/usr/sbin/libvirtd", actor: daemon };
    expect(recorded("", promisc)).toBe(true);
    expect(recorded("-a always,exclude -F msgtype=ANOM_PROMISCUOUS", promisc)).toBe(false);
    expect(recorded("-a never,user -F exe=/usr/sbin/libvirtd", virt)).toBe(false);
    expect(recorded("-a never,user -F subj_type=crond_t", virt)).toBe(true);
    expect(recorded("-e 0", promisc)).toBe(false);
    expect(recorded("-a never,task", exec("/usr/bin/virsh"))).toBe(false);
  });

  it("reads auditctl -l output and rules files alike, and lists what it cannot read with its line", () => {
    const set = rules(["-D", "-b 8192", "-w /etc/libvirt/ -p wa -k libvirt", "-a always,exit -S all -F path=/usr/sbin/auditctl -F perm=x -F key=audittools", "-q nonsense", "-a sometimes,exit -S open"].join("\n"));
    expect(set.rules.map((r) => r.keys)).toEqual([["libvirt"], ["audittools"]]);
    expect(set.problems.map((p) => p.line)).toEqual([5, 6]);
    expect(recordsProbe(set, exec("/usr/sbin/auditctl")).why).toContain("audittools");
  });
});
