// Unit tests of the domain XML risk checks (small XML written here, one positive and one
// negative case per check) and of the parser's defences against hostile XML.
import { describe, expect, it } from "vitest";
import { CHECKS, dacRunsAsRoot, isLoopback, oldMachineVersion } from "../../src/vm/risk-checks.js";
import { auditXml, DomainXmlError, summarize, type Finding } from "../../src/vm/risk.js";
import { parseXml } from "../../src/vm/risk-xml.js";

/** A minimal, harmless KVM domain; `top` goes under <domain>, `devs` under <devices>. */
function domain(devs = "", top = "", attrs = "type='kvm'"): string {
  return `<domain ${attrs}>
  <name>g1</name>
  <os><type arch='x86_64' machine='pc-q35-8.2'>hvm</type></os>
  ${top}
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <disk type='file' device='disk'><source file='/var/lib/libvirt/images/g1.qcow2'/><target dev='vda' bus='virtio'/></disk>
    <console type='pty'/>
    ${devs}
  </devices>
  <seclabel type='dynamic' model='apparmor'/>
</domain>`;
}

function findings(xml: string, check?: string): Finding[] {
  const doc = auditXml(xml, "unit.xml");
  expect(doc.domains).toHaveLength(1);
  expect(doc.domains[0]!.errors).toEqual([]);
  return doc.domains[0]!.findings.filter((f) => !check || f.check === check);
}

interface Case {
  check: string;
  why: string;
  bad: string;
  severity: Finding["severity"];
  location?: string;
  good: string;
}

// The harmless domain without its seclabel, for the label checks.
const bare = (devs = "", top = ""): string => domain(devs, top).replace("<seclabel type='dynamic' model='apparmor'/>", "");

const CASES: Case[] = [
  // labels
  { check: "unconfined-root", why: "root QEMU with sVirt off", severity: "critical",
    bad: bare("", "<seclabel type='none' model='selinux'/><seclabel type='static' model='dac'><label>+0:+0</label></seclabel>"),
    good: bare("", "<seclabel type='dynamic' model='selinux'/><seclabel type='static' model='dac'><label>+0:+0</label></seclabel>") },
  { check: "seclabel-none", why: "<seclabel type='none'/>", severity: "high", location: "/domain/seclabel", bad: bare("", "<seclabel type='none'/>"), good: domain() },
  { check: "seclabel-none", why: "model='none'", severity: "high", bad: bare("", "<seclabel model='none'/>"), good: domain() },
  { check: "seclabel-none", why: "DAC off only", severity: "low", bad: domain("", "<seclabel type='none' model='dac'/>"), good: domain("", "<seclabel type='dynamic' model='dac'/>") },
  { check: "dac-root", why: "+0:+0", severity: "high", bad: domain("", "<seclabel type='static' model='dac' relabel='yes'><label>+0:+0</label></seclabel>"),
    good: domain("", "<seclabel type='static' model='dac'><label>+107:+107</label></seclabel>") },
  { check: "dac-root", why: "root group", severity: "medium", bad: domain("", "<seclabel type='static' model='dac'><label>qemu:root</label></seclabel>"),
    good: domain("", "<seclabel type='static' model='dac'><label>qemu:kvm</label></seclabel>") },
  { check: "seclabel-relabel-off", why: "per-disk relabel='no'", severity: "low", location: "/domain/devices/disk[2]/source/seclabel",
    bad: domain("<disk type='file'><source file='/var/lib/libvirt/images/x.img'><seclabel model='selinux' relabel='no'/></source><target dev='vdb'/></disk>"),
    good: domain("<disk type='file'><source file='/var/lib/libvirt/images/x.img'><seclabel model='selinux' relabel='yes'/></source><target dev='vdb'/></disk>") },
  { check: "seclabel-missing", why: "no <seclabel> at all", severity: "info", bad: bare(), good: domain() },
  // host devices
  { check: "hostdev-pci", why: "PCI hostdev", severity: "high", location: "/domain/devices/hostdev",
    bad: domain("<hostdev mode='subsystem' type='pci' managed='yes'><source><address domain='0x0000' bus='0x06' slot='0x12' function='0x5'/></source></hostdev>"), good: domain() },
  { check: "hostdev-pci", why: "SR-IOV VF as interface", severity: "medium",
    bad: domain("<interface type='hostdev' managed='yes'><source><address type='pci' domain='0' bus='3' slot='16' function='1'/></source></interface>"),
    good: domain("<interface type='network'><source network='default'/></interface>") },
  { check: "hostdev-pci", why: "NVMe disk", severity: "high",
    bad: domain("<disk type='nvme' device='disk'><source type='pci' managed='yes' namespace='1'><address domain='0' bus='1' slot='0' function='0'/></source><target dev='vdb'/></disk>"), good: domain() },
  { check: "hostdev-usb", why: "USB hostdev", severity: "medium",
    bad: domain("<hostdev mode='subsystem' type='usb'><source><vendor id='0x0781'/><product id='0x5151'/></source></hostdev>"), good: domain() },
  { check: "hostdev-scsi", why: "SCSI hostdev", severity: "high",
    bad: domain("<hostdev mode='subsystem' type='scsi'><source><adapter name='scsi_host0'/><address bus='0' target='0' unit='0'/></source></hostdev>"), good: domain() },
  { check: "hostdev-other", why: "capabilities storage", severity: "high",
    bad: domain("<hostdev mode='capabilities' type='storage'><source><block>/dev/sdf1</block></source></hostdev>"), good: domain() },
  { check: "hostdev-other", why: "mdev", severity: "medium",
    bad: domain("<hostdev mode='subsystem' type='mdev' model='vfio-pci'><source><address uuid='c2177883-f1bb-47f0-914d-32a22e3a8804'/></source></hostdev>"), good: domain() },
  // qemu passthrough
  { check: "qemu-commandline", why: "raw args", severity: "high", location: "/domain/qemu:commandline",
    bad: domain("", "<qemu:commandline xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'><qemu:arg value='-device'/><qemu:arg value='vfio-pci,host=01:00.0'/></qemu:commandline>"), good: domain() },
  { check: "qemu-overrides", why: "qemu:capabilities", severity: "medium",
    bad: domain("", "<qemu:capabilities xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'><qemu:del capability='blockdev'/></qemu:capabilities>"), good: domain() },
  // shared folders
  { check: "filesystem-share", why: "host / writable", severity: "critical",
    bad: domain("<filesystem type='mount' accessmode='mapped'><source dir='/'/><target dir='host'/></filesystem>"),
    good: domain("<filesystem type='ram'><source usage='1024'/><target dir='/tmp'/></filesystem>") },
  { check: "filesystem-share", why: "9p passthrough writable", severity: "high",
    bad: domain("<filesystem type='mount' accessmode='passthrough'><source dir='/srv/share/g1'/><target dir='share'/></filesystem>"),
    good: domain("<filesystem type='volume'><source pool='p' volume='v'/><target dir='share'/></filesystem>") },
  { check: "filesystem-share", why: "virtiofs writable", severity: "high",
    bad: domain("<filesystem type='mount'><driver type='virtiofs'/><source dir='/srv/share/g1'/><target dir='share'/></filesystem>"), good: domain() },
  { check: "filesystem-share", why: "9p mapped writable", severity: "medium",
    bad: domain("<filesystem type='mount' accessmode='mapped'><source dir='/srv/share/g1'/><target dir='share'/></filesystem>"), good: domain() },
  { check: "filesystem-share", why: "readonly share", severity: "low",
    bad: domain("<filesystem type='mount' accessmode='passthrough'><source dir='/srv/iso'/><target dir='iso'/><readonly/></filesystem>"), good: domain() },
  { check: "filesystem-share", why: "/etc readonly", severity: "medium",
    bad: domain("<filesystem type='mount'><source dir='/etc'/><target dir='etc'/><readonly/></filesystem>"), good: domain() },
  // display
  { check: "graphics-exposed", why: "VNC 0.0.0.0 no password", severity: "high", location: "/domain/devices/graphics",
    bad: domain("<graphics type='vnc' port='-1' autoport='yes' listen='0.0.0.0'/>"), good: domain("<graphics type='vnc' port='-1' autoport='yes' listen='127.0.0.1'/>") },
  { check: "graphics-exposed", why: "<listen type='address' address='::'>", severity: "high",
    bad: domain("<graphics type='spice' autoport='yes'><listen type='address' address='::'/></graphics>"), good: domain("<graphics type='spice' autoport='yes'><listen type='socket'/></graphics>") },
  { check: "graphics-exposed", why: "VNC on all addresses with a password", severity: "medium",
    bad: domain("<graphics type='vnc' port='5900' listen='0.0.0.0' passwd='s3cret'/>"), good: domain("<graphics type='vnc' port='5900'/>") },
  { check: "graphics-exposed", why: "empty passwd is no password", severity: "high",
    bad: domain("<graphics type='spice' passwd=''><listen type='address' address='192.0.2.10'/></graphics>"), good: domain("<graphics type='spice'><listen type='none'/></graphics>") },
  // disks
  { check: "disk-shareable-writable", why: "<shareable/> without <readonly/>", severity: "medium",
    bad: domain("<disk type='file'><source file='/var/lib/libvirt/images/s.img'/><target dev='vdb'/><shareable/></disk>"),
    good: domain("<disk type='file'><source file='/var/lib/libvirt/images/s.img'/><target dev='vdb'/><shareable/><readonly/></disk>") },
  { check: "disk-host-block", why: "/dev/sdb writable", severity: "high",
    bad: domain("<disk type='block' device='disk'><source dev='/dev/sdb'/><target dev='vdb'/></disk>"),
    good: domain("<disk type='block' device='disk'><source dev='/dev/vg0/g1-data'/><target dev='vdb'/></disk>") },
  { check: "disk-host-block", why: "host partition readonly", severity: "medium",
    bad: domain("<disk type='block' device='disk'><source dev='/dev/nvme0n1p2'/><target dev='vdb'/><readonly/></disk>"), good: domain() },
  { check: "disk-lun-rawio", why: "rawio='yes'", severity: "high",
    bad: domain("<disk type='block' device='lun' rawio='yes'><source dev='/dev/mapper/lun1'/><target dev='sda' bus='scsi'/></disk>"),
    good: domain("<disk type='block' device='lun'><source dev='/dev/mapper/lun1'/><target dev='sda' bus='scsi'/></disk>") },
  { check: "disk-host-path", why: "writable image in /etc", severity: "high",
    bad: domain("<disk type='file'><source file='/etc/g1.img'/><target dev='vdb'/></disk>"), good: domain("<disk type='file'><source file='/srv/vms/g1.img'/><target dev='vdb'/></disk>") },
  { check: "disk-host-path", why: "ISO in /root", severity: "medium",
    bad: domain("<disk type='file' device='cdrom'><source file='/root/install.iso'/><target dev='sda'/><readonly/></disk>"), good: domain() },
  { check: "disk-host-path", why: "writable image in /home", severity: "low",
    bad: domain("<disk type='file'><source file='/home/alice/g1.qcow2'/><target dev='vdb'/></disk>"),
    good: domain("<disk type='file' device='cdrom'><source file='/home/alice/install.iso'/><target dev='sda'/><readonly/></disk>") },
  { check: "disk-host-dir", why: "vvfat of a directory", severity: "medium",
    bad: domain("<disk type='dir' device='floppy'><source dir='/srv/floppy'/><target dev='fda'/></disk>"), good: domain() },
  { check: "disk-host-dir", why: "vvfat of /etc", severity: "high",
    bad: domain("<disk type='dir' device='disk'><source dir='/etc'/><target dev='vdb'/></disk>"), good: domain() },
  { check: "disk-cache-unsafe", why: "cache='unsafe'", severity: "low",
    bad: domain("<disk type='file'><driver name='qemu' type='qcow2' cache='unsafe'/><source file='/var/lib/libvirt/images/t.qcow2'/><target dev='vdb'/></disk>"),
    good: domain("<disk type='file'><driver name='qemu' type='qcow2' cache='none'/><source file='/var/lib/libvirt/images/t.qcow2'/><target dev='vdb'/></disk>") },
  // network
  { check: "nic-script", why: "<script path>", severity: "medium", location: "/domain/devices/interface/script",
    bad: domain("<interface type='ethernet'><script path='/etc/qemu-ifup'/></interface>"), good: domain("<interface type='ethernet'><target dev='tap7' managed='no'/></interface>") },
  { check: "nic-direct", why: "macvtap passthrough", severity: "medium",
    bad: domain("<interface type='direct'><source dev='eth0' mode='passthrough'/></interface>"), good: domain("<interface type='network'><source network='default'/></interface>") },
  { check: "nic-direct", why: "macvtap vepa (default)", severity: "low", bad: domain("<interface type='direct'><source dev='eth0'/></interface>"), good: domain() },
  { check: "nic-trust-guest-rx-filters", why: "trustGuestRxFilters='yes'", severity: "medium",
    bad: domain("<interface type='direct' trustGuestRxFilters='yes'><source dev='eth0' mode='bridge'/></interface>"),
    good: domain("<interface type='direct' trustGuestRxFilters='no'><source dev='eth0' mode='bridge'/></interface>") },
  { check: "nic-no-filter", why: "bridge without filterref", severity: "low",
    bad: domain("<interface type='bridge'><source bridge='br0'/></interface>"), good: domain("<interface type='bridge'><source bridge='br0'/><filterref filter='clean-traffic'/></interface>") },
  // chardevs, usb, input, tpm, memory
  { check: "chardev-host", why: "serial tcp server on all addresses", severity: "high",
    bad: domain("<serial type='tcp'><source mode='bind' host='0.0.0.0' service='4555'/><protocol type='telnet'/></serial>"),
    good: domain("<serial type='pty'/><channel type='unix'><source mode='bind' path='/run/x.sock'/><target type='virtio' name='x'/></channel>") },
  { check: "chardev-host", why: "serial tcp server on loopback", severity: "low",
    bad: domain("<serial type='tcp'><source mode='bind' host='127.0.0.1' service='4555'/></serial>"), good: domain() },
  { check: "chardev-host", why: "udp bind on a LAN address", severity: "high",
    bad: domain("<parallel type='udp'><source mode='bind' host='192.0.2.4' service='1111'/><source mode='connect' host='198.51.100.2' service='2222'/></parallel>"), good: domain() },
  { check: "chardev-host", why: "host device", severity: "medium", bad: domain("<serial type='dev'><source path='/dev/ttyS0'/></serial>"), good: domain() },
  { check: "chardev-host", why: "named pipe", severity: "low", bad: domain("<serial type='pipe'><source path='/tmp/mypipe'/></serial>"), good: domain() },
  { check: "usb-redirection", why: "spicevmc redirection", severity: "low",
    bad: domain("<redirdev bus='usb' type='spicevmc'/><redirdev bus='usb' type='spicevmc'/>"), good: domain() },
  { check: "usb-redirection", why: "usbredir over tcp", severity: "medium",
    bad: domain("<redirdev bus='usb' type='tcp'><source mode='connect' host='192.0.2.7' service='4000'/></redirdev>"), good: domain() },
  { check: "input-passthrough", why: "evdev", severity: "medium",
    bad: domain("<input type='evdev'><source dev='/dev/input/event3' grab='all'/></input>"), good: domain("<input type='tablet' bus='usb'/>") },
  { check: "tpm-passthrough", why: "host TPM", severity: "high",
    bad: domain("<tpm model='tpm-crb'><backend type='passthrough'><device path='/dev/tpm0'/></backend></tpm>"),
    good: domain("<tpm model='tpm-crb'><backend type='emulator' version='2.0'/></tpm>") },
  { check: "shmem-device", why: "ivshmem", severity: "medium",
    bad: domain("<shmem name='shm0'><model type='ivshmem-plain'/><size unit='M'>4</size></shmem>"), good: domain() },
  { check: "memory-shared-file", why: "file-backed shared RAM", severity: "low",
    bad: domain("", "<memoryBacking><source type='file'/><access mode='shared'/></memoryBacking>"),
    good: domain("", "<memoryBacking><source type='memfd'/><access mode='shared'/></memoryBacking>") },
  // features, firmware
  { check: "hypervisor-hidden", why: "kvm hidden", severity: "info",
    bad: domain("", "<features><kvm><hidden state='on'/></kvm></features>"), good: domain("", "<features><hyperv><relaxed state='on'/></hyperv><kvm><hidden state='off'/></kvm></features>") },
  { check: "firmware-no-secure-boot", why: "UEFI without SB", severity: "info",
    bad: domain().replace("<os>", "<os firmware='efi'>"),
    good: domain().replace("<os>", "<os firmware='efi'><firmware><feature enabled='yes' name='secure-boot'/></firmware>") },
  { check: "secure-boot-no-smm", why: "SB with SMM off", severity: "medium",
    bad: domain("", "<features><smm state='off'/></features>").replace("<os>", "<os><loader readonly='yes' secure='yes' type='pflash'>/usr/share/OVMF/OVMF_CODE.secboot.fd</loader>"),
    good: domain("", "<features><smm state='on'/></features>").replace("<os>", "<os><loader readonly='yes' secure='yes' type='pflash'>/usr/share/OVMF/OVMF_CODE.secboot.fd</loader>") },
  // agent, crash, emulator, machine
  { check: "guest-agent", why: "org.qemu.guest_agent.0", severity: "info",
    bad: domain("<channel type='unix'><target type='virtio' name='org.qemu.guest_agent.0'/></channel>"), good: domain() },
  { check: "watchdog-action-none", why: "action none", severity: "info",
    bad: domain("<watchdog model='i6300esb' action='none'/>"), good: domain("<watchdog model='i6300esb' action='reset'/>") },
  { check: "on-crash", why: "preserve", severity: "info", bad: domain("", "<on_crash>preserve</on_crash>"), good: domain("", "<on_crash>destroy</on_crash>") },
  { check: "on-crash", why: "coredump", severity: "low", bad: domain("", "<on_crash>coredump-restart</on_crash>"), good: domain("", "<on_crash>restart</on_crash>") },
  { check: "emulator-path", why: "emulator in /tmp", severity: "high",
    bad: domain().replace("/usr/bin/qemu-system-x86_64", "/tmp/qemu"), good: domain().replace("/usr/bin/qemu-system-x86_64", "/run/libvirt/nix-emulators/qemu-system-x86_64") },
  { check: "emulator-path", why: "odd emulator path", severity: "medium",
    bad: domain().replace("/usr/bin/qemu-system-x86_64", "/srv/build/qemu"), good: domain().replace("/usr/bin/qemu-system-x86_64", "/nix/store/abc-qemu-9.0/bin/qemu-kvm") },
  { check: "machine-type-old", why: "pc-i440fx-2.11", severity: "info", bad: domain().replace("pc-q35-8.2", "pc-i440fx-2.11"), good: domain().replace("pc-q35-8.2", "q35") },
];

describe("risk checks on small XML", () => {
  it("every check has at least one case here", () => {
    const covered = new Set(CASES.map((c) => c.check));
    expect(CHECKS.map((c) => c.id).filter((id) => !covered.has(id))).toEqual([]);
    expect(new Set(CHECKS.map((c) => c.id)).size).toBe(CHECKS.length);
  });

  it("the harmless baseline domain has no finding at all", () => {
    expect(findings(domain())).toEqual([]);
  });

  for (const c of CASES) {
    it(`${c.check}: ${c.why} → ${c.severity}; the safe variant → nothing`, () => {
      const hits = findings(c.bad, c.check);
      expect(hits.map((h) => h.severity)).toContain(c.severity);
      const hit = hits.find((h) => h.severity === c.severity)!;
      expect(hit).toMatchObject({ check: c.check, domain: "g1" });
      expect(hit.message.length).toBeGreaterThan(10);
      expect(hit.fix.length).toBeGreaterThan(10);
      if (c.location) expect(hit.location).toBe(c.location);
      expect(findings(c.good, c.check)).toEqual([]);
    });
  }

  it("fine settings are not findings: pty console, apparmor dynamic label, iothreads, no memballoon, default VNC listen", () => {
    const xml = domain("<console type='pty'/><graphics type='vnc' port='-1'/><memballoon model='none'/>", "<iothreads>2</iothreads>");
    expect(findings(xml)).toEqual([]);
  });

  it("reports a serial backend once even when <console> repeats it (live XML)", () => {
    const xml = domain("<serial type='tcp'><source mode='bind' host='0.0.0.0' service='4555'/></serial><console type='tcp'><source mode='bind' host='0.0.0.0' service='4555'/></console>");
    expect(findings(xml, "chardev-host")).toHaveLength(1);
  });

  it("helpers: loopback, DAC root, machine version", () => {
    expect([isLoopback("127.0.0.1"), isLoopback("::1"), isLoopback("localhost"), isLoopback("0.0.0.0"), isLoopback("192.0.2.1")]).toEqual([true, true, true, false, false]);
    expect([dacRunsAsRoot("+0:+0"), dacRunsAsRoot("root:kvm"), dacRunsAsRoot("107:0"), dacRunsAsRoot("+107:+107")]).toEqual(["root", "root", "group", false]);
    expect([oldMachineVersion("pc-0.11"), oldMachineVersion("pc-q35-3.1"), oldMachineVersion("pc-i440fx-6.1"), oldMachineVersion("q35")]).toEqual(["0.11", "3.1", undefined, undefined]);
  });

  it("orders findings most severe first and summarizes them", () => {
    const xml = bare("<hostdev mode='subsystem' type='usb'><source><vendor id='0x1'/><product id='0x2'/></source></hostdev>", "<seclabel type='none'/>");
    const doc = auditXml(xml);
    expect(doc.domains[0]!.findings.map((f) => f.severity)).toEqual(["high", "medium"]);
    expect(summarize(doc.domains)).toMatchObject({ domains: 1, findings: 2, bySeverity: { high: 1, medium: 1, critical: 0 }, byCheck: { "seclabel-none": 1, "hostdev-usb": 1 } });
  });
});

describe("documents", () => {
  it("skips non-domain documents with a reason", () => {
    expect(auditXml("<network><name>default</name></network>")).toEqual({ domains: [], skipped: "<network> is a libvirt network definition, not a domain" });
    expect(auditXml("<pool type='dir'><name>p</name></pool>").skipped).toMatch(/storage pool/);
  });

  it("audits each domain of a test-driver <node> and of concatenated domains", () => {
    const node = `<node><domain type='test'><name>a</name></domain><network><name>n</name></network><domain type='test'><name>b</name><devices><hostdev type='pci'/></devices></domain></node>`;
    const doc = auditXml(node, "node.xml");
    expect(doc.domains.map((d) => d.name)).toEqual(["a", "b"]);
    expect(doc.domains[1]!.findings[0]!.location).toBe("/node/domain[2]/devices/hostdev");
    const two = auditXml(`<?xml version="1.0"?>\n${domain()}\n${domain().replace("<name>g1", "<name>g2")}\n`, "two.xml");
    expect(two.domains.map((d) => `${d.name} ${d.source}`)).toEqual(["g1 two.xml#1", "g2 two.xml#2"]);
  });

  it("decodes the predefined entities in names and attributes", () => {
    const doc = auditXml(domain("<graphics type='vnc' listen='0.0.0.0' passwd='&amp;&quot;'/>").replace("<name>g1", "<name>a&amp;b"));
    expect(doc.domains[0]!.name).toBe("a&b");
    expect(doc.domains[0]!.findings.find((f) => f.check === "graphics-exposed")?.severity).toBe("medium");
  });
});

describe("hostile and malformed XML", () => {
  const rejects = (xml: string, message: RegExp): void => {
    const started = Date.now();
    expect(() => auditXml(xml)).toThrow(DomainXmlError);
    expect(() => auditXml(xml)).toThrow(message);
    expect(Date.now() - started).toBeLessThan(5000);
  };

  it("rejects a billion-laughs document without expanding it", () => {
    const lol = `<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">${Array.from({ length: 9 }, (_, i) => `<!ENTITY lol${i + 1} "${`&lol${i || ""};`.repeat(10)}">`).join("")}]><domain><name>&lol9;</name></domain>`;
    rejects(lol, /DOCTYPE/);
  });

  it("rejects an external entity (no file is read)", () => {
    rejects(`<!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]><domain><name>&x;</name></domain>`, /DOCTYPE/);
    rejects(`<?xml version="1.0"?>\n<!doctype domain SYSTEM "http://192.0.2.1/d.dtd"><domain/>`, /DOCTYPE/);
  });

  it("rejects a 50 MB document by size, quickly", () => {
    const big = `<domain><name>x</name><description>${"A".repeat(50 * 1024 * 1024)}</description></domain>`;
    rejects(big, /too large/);
  });

  it("rejects 10 000-deep nesting without overflowing the stack", () => {
    const deep = `<domain>${"<a>".repeat(10_000)}${"</a>".repeat(10_000)}</domain>`;
    rejects(deep, /nests deeper than 64/);
  });

  it("rejects malformed XML and non-XML text with the position", () => {
    rejects("<domain><name>x</domain>", /malformed XML at line 1/);
    rejects("Using default --name vm1\nERROR\n", /no element found/);
    rejects("#cloud-config\n<domain><name>x</name></domain>", /malformed XML/);
    rejects("", /no element found/);
  });

  it("parses what libvirt writes, with namespaced elements", () => {
    const root = parseXml(`<?xml version="1.0"?><!-- c --><domain xmlns:qemu="http://libvirt.org/schemas/domain/qemu/1.0"><qemu:commandline/></domain>`);
    expect(root.children.map((c) => c.path)).toEqual(["/domain/qemu:commandline"]);
  });
});
