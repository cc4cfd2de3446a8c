import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { buildDomainXml, parseDomainXml, type DomainModel } from "../../src/vm/domain-xml.js";
import { renameForCopy, setMemory, setVcpus } from "../../src/vm/domain-edit.js";
import { LibvirtError } from "../../src/events/libvirt-error.js";
import { buildNetworkXml, networkFromCidr, parseNetworkXml } from "../../src/vm/network-xml.js";
import { buildPoolXml, buildVolumeXml, parsePoolXml, parseVolumeXml } from "../../src/vm/pool-xml.js";
import { buildXml, child, elements, parseLibvirtXml, parseXml, text } from "../../src/vm/xml.js";

const SHARED = new URL("../../../shared/data/libvirt", import.meta.url).pathname;

function xmlFiles(dir: string): string[] {
  const out: string[] = [];
  for (const f of readdirSync(dir)) {
    const p = join(dir, f);
    if (statSync(p).isDirectory()) out.push(...xmlFiles(p));
    else if (f.endsWith(".xml")) out.push(p);
  }
  return out.sort();
}

/**
 * The XML documents in a corpus file. virt-install's "compare" files may hold two domains back to
 * back (install phase, boot phase), a cloud-init user-data document before them, or only the
 * tool's text output (no XML at all: none returned).
 */
function documents(f: string): string[] {
  const text = readFileSync(f, "utf8");
  const start = text.search(/^<(domain|network|pool|volume|node|domainsnapshot)[\s>]/m);
  if (start < 0) return [];
  const xml = text.slice(start);
  return xml.startsWith("<domain") && !xml.startsWith("<domainsnapshot") ? xml.split(/(?<=<\/domain>)\s*(?=<domain[\s>])/) : [xml];
}

let shared: string[] = [];
try {
  shared = xmlFiles(SHARED);
} catch {
  console.warn(`\n*** ${SHARED} is absent: skipping the shared libvirt XML corpus tests ***\n`);
}

const sample: DomainModel = {
  name: "web1",
  uuid: "6695eb01-f6a4-8304-79aa-97f2502e193f",
  type: "qemu",
  memoryBytes: 128 * 1024 * 1024,
  currentMemoryBytes: 128 * 1024 * 1024,
  vcpus: 2,
  os: { type: "hvm", arch: "x86_64", machine: "pc", kernel: "/srv/vmlinuz", initrd: "/srv/initrd.img", cmdline: "console=ttyS0 a=<b>&c", boot: [] },
  features: ["acpi", "apic"],
  onPoweroff: "destroy",
  disks: [
    { type: "file", device: "disk", driverName: "qemu", format: "qcow2", source: { file: "/var/lib/libvirt/images/web1 \"x\".qcow2" }, target: { dev: "vda", bus: "virtio" } },
    { type: "file", device: "cdrom", driverName: "qemu", format: "raw", source: { file: "/srv/seed.iso" }, target: { dev: "sda", bus: "sata" }, readonly: true },
  ],
  interfaces: [{ type: "network", mac: "52:54:00:12:34:56", source: { network: "lab0" }, model: "virtio" }],
  serials: [{ type: "pty", targetPort: "0", logFile: "/var/log/web1.log" }],
  consoles: [{ type: "pty", targetType: "serial", targetPort: "0" }],
  graphics: [{ type: "vnc", autoport: true, listen: "127.0.0.1", hasPassword: false }],
  seclabels: [{ type: "dynamic", model: "apparmor" }],
};

describe("domain XML model", () => {
  it("builds XML from a model and parses it back to the same model", () => {
    const xml = buildDomainXml(sample);
    expect(xml).toContain("<domain type=\"qemu\">");
    expect(xml).toContain("a=&lt;b&gt;&amp;c");
    expect(parseDomainXml(xml)).toEqual(sample);
  });

  it("reads units, boot order, interfaces and seclabels from libvirt's own XML", () => {
    const m = parseDomainXml(`<domain type='kvm'><name>x</name><memory unit='MiB'>512</memory><currentMemory unit='KiB'>262144</currentMemory><vcpu placement='static'>4</vcpu>
      <os><type arch='x86_64'>hvm</type><boot dev='cdrom'/><boot dev='hd'/></os>
      <devices><interface type='bridge'><mac address='52:54:00:AA:BB:CC'/><source bridge='br0'/><target dev='vnet3'/></interface>
      <graphics type='vnc' port='-1' autoport='yes' listen='0.0.0.0' passwd='x'/></devices><seclabel type='none'/></domain>`);
    expect(m.memoryBytes).toBe(512 * 1024 * 1024);
    expect(m.currentMemoryBytes).toBe(256 * 1024 * 1024);
    expect(m.vcpus).toBe(4);
    expect(m.os.boot).toEqual(["cdrom", "hd"]);
    expect(m.interfaces[0]).toEqual({ type: "bridge", mac: "52:54:00:aa:bb:cc", source: { bridge: "br0" }, targetDev: "vnet3" });
    expect(m.graphics[0]).toMatchObject({ listen: "0.0.0.0", hasPassword: true });
    expect(m.seclabels).toEqual([{ type: "none" }]);
  });

  it("edits the tree without losing elements the model does not know", () => {
    const xml = `<domain type='qemu' xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'><name>a</name><uuid>u-1</uuid><memory unit='KiB'>131072</memory><currentMemory unit='KiB'>131072</currentMemory><vcpu current='1'>2</vcpu>
      <cputune><shares>2048</shares></cputune><!-- keep me --><devices><interface type='network'><mac address='52:54:00:00:00:01'/><source network='n'/><target dev='vnet0'/></interface></devices>
      <qemu:commandline><qemu:arg value='-no-reboot'/></qemu:commandline></domain>`;
    const tree = parseLibvirtXml(xml, "domain");
    setVcpus(tree, 3);
    setMemory(tree, 256 * 1024 * 1024);
    renameForCopy(tree, "b");
    const out = buildXml(tree);
    const back = parseXml(out);
    expect(text(child(back, "name"))).toBe("b");
    expect(child(back, "uuid")).toBeUndefined();
    expect(child(back, "vcpu")?.attrs).toEqual({});
    expect(text(child(back, "vcpu"))).toBe("3");
    expect(text(child(back, "memory"))).toBe("262144");
    expect(text(child(back, "currentMemory"))).toBe("262144");
    expect(out).toContain("<shares>2048</shares>");
    expect(out).toContain("<!-- keep me -->");
    expect(out).toContain("<qemu:arg value=\"-no-reboot\"/>");
    const m = parseDomainXml(out);
    expect(m.interfaces[0]?.mac).not.toBe("52:54:00:00:00:01");
    expect(m.interfaces[0]?.mac).toMatch(/^52:54:00(:[0-9a-f]{2}){3}$/);
    expect(m.interfaces[0]?.targetDev).toBeUndefined();
  });

  it("rejects malformed, hostile and oversized XML with invalid-xml", () => {
    const bad = [
      "<domain><name>x</name",
      "<domain><name>x</domain>",
      `<?xml version="1.0"?><!DOCTYPE d [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;">]><domain><name>&b;</name></domain>`,
      `<!DOCTYPE d SYSTEM "file:///etc/passwd"><domain/>`,
      "<network><name>x</name></network>",
      "<domain>" + "<x/>".repeat(1_100_000) + "</domain>",
      "",
    ];
    for (const xml of bad) {
      const err = (() => {
        try {
          parseDomainXml(xml);
        } catch (e) {
          return e;
        }
        return undefined;
      })();
      expect(err, xml.slice(0, 60)).toBeInstanceOf(LibvirtError);
      expect((err as LibvirtError).code).toBe("invalid-xml");
    }
  });
});

describe("network and pool XML models", () => {
  it("makes an isolated 10.x network from a CIDR and reads it back", () => {
    const net = networkFromCidr("lab0", "10.77.0.0/24");
    expect(net.forwardMode).toBeUndefined();
    expect(net.ips[0]).toEqual({ family: "ipv4", address: "10.77.0.1", prefix: 24, dhcpRanges: [{ start: "10.77.0.2", end: "10.77.0.254" }], dhcpHosts: [] });
    expect(parseNetworkXml(buildNetworkXml(net))).toEqual(net);
    expect(buildNetworkXml(net)).not.toContain("<forward");
    expect(networkFromCidr("n", "10.78.0.0/24", { forwardMode: "nat" }).forwardMode).toBe("nat");
    expect(() => networkFromCidr("n", "10.0.0.0/33")).toThrow(/prefix/);
    expect(() => networkFromCidr("n", "10.0.0")).toThrow(LibvirtError);
  });

  it("round-trips pools and volumes", () => {
    const pool = { name: "images", type: "dir", targetPath: "/var/lib/libvirt/images" };
    expect(parsePoolXml(buildPoolXml(pool))).toEqual(pool);
    const vol = { name: "a.qcow2", capacityBytes: 1 << 30, format: "qcow2", backing: { path: "/srv/base.qcow2", format: "qcow2" } };
    expect(parseVolumeXml(buildVolumeXml(vol))).toEqual(vol);
  });
});

describe.skipIf(shared.length === 0)(`the shared libvirt XML corpus (${shared.length} files)`, () => {
  it("parses every file without throwing, into the model of its kind", () => {
    const kinds: Record<string, number> = {};
    for (const f of shared) for (const xml of documents(f)) {
      const root = parseXml(xml);
      kinds[root.name] = (kinds[root.name] ?? 0) + 1;
      if (root.name === "domain") expect(parseDomainXml(xml).name, f).toBeTypeOf("string");
      if (root.name === "network") expect(parseNetworkXml(xml).name, f).toBeTypeOf("string");
      if (root.name === "pool") expect(parsePoolXml(xml).type, f).toBeTypeOf("string");
      if (root.name === "volume") expect(parseVolumeXml(xml).name, f).toBeTypeOf("string");
    }
    expect(shared.length).toBeGreaterThan(150);
    expect(kinds.domain).toBeGreaterThan(150);
  });

  it("round-trips every file's tree losslessly (parse → build → parse gives the same tree)", () => {
    for (const f of shared) for (const xml of documents(f)) {
      const tree = parseXml(xml);
      expect(parseXml(buildXml(tree)), f).toEqual(tree);
    }
  });

  it("round-trips the domain model of every domain file (model → XML → model)", () => {
    let n = 0;
    for (const f of shared) for (const xml of documents(f)) {
      if (parseXml(xml).name !== "domain") continue;
      const m = parseDomainXml(xml);
      if (!m.name || !m.memoryBytes) continue;
      expect(parseDomainXml(buildDomainXml(m)), f).toEqual(m);
      n++;
    }
    expect(n).toBeGreaterThan(100);
  });
});

describe("renameForCopy", () => {
  it("gives the copy its own console log files", () => {
    const dom = parseXml(`<domain type='qemu'><name>web1</name><uuid>6f1e0d4c-0000-4000-8000-000000000001</uuid><devices>
      <serial type='pty'><log file='/var/log/libvirt/qemu/web1-serial.log' append='on'/></serial>
      <console type='pty'><log file='/var/log/hv/console.log'/></console></devices></domain>`);
    renameForCopy(dom, "web2");
    const logs = elements(child(dom, "devices")!).map((d) => child(d, "log")?.attrs.file);
    expect(logs).toEqual(["/var/log/libvirt/qemu/web2-serial.log", "/var/log/hv/web2-console.log"]);
    expect(text(child(dom, "name"))).toBe("web2");
    expect(child(dom, "uuid")).toBeUndefined();
  });
});
