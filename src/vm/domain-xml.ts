import { unitToBytes } from "./size.js";
import { buildXml, child, el, elements, parseLibvirtXml, path, text, textEl, type XmlElement } from "./xml.js";

// The domain definition as hv reads and writes it. The model covers what hv creates and what its
// commands and risk checks look at; everything else stays in the XML tree (edit the tree, not the
// model, when changing an existing domain — see domain-edit.ts).

export interface DomainModel {
  name: string;
  uuid?: string;
  /** Always "qemu" (TCG) on hosts without KVM; "kvm" where /dev/kvm exists. */
  type: string;
  title?: string;
  description?: string;
  memoryBytes: number;
  currentMemoryBytes?: number;
  vcpus: number;
  os: OsModel;
  features: string[];
  cpuMode?: string;
  emulator?: string;
  onPoweroff?: string;
  onReboot?: string;
  onCrash?: string;
  disks: DiskModel[];
  interfaces: InterfaceModel[];
  serials: CharDeviceModel[];
  consoles: CharDeviceModel[];
  graphics: GraphicsModel[];
  seclabels: SecLabelModel[];
}

export interface OsModel {
  type: string;
  arch?: string;
  machine?: string;
  kernel?: string;
  initrd?: string;
  cmdline?: string;
  /** <boot dev='…'/> in order: hd, cdrom, network, fd. */
  boot: string[];
  loader?: string;
  nvram?: string;
}

export interface DiskModel {
  /** file, block, volume, network, dir */
  type: string;
  /** disk, cdrom, floppy, lun */
  device: string;
  driverName?: string;
  /** raw, qcow2, … */
  format?: string;
  cache?: string;
  source?: { file?: string; dev?: string; pool?: string; volume?: string; protocol?: string; name?: string; dir?: string };
  target: { dev: string; bus?: string };
  readonly?: boolean;
  shareable?: boolean;
  bootOrder?: number;
  serial?: string;
}

export interface InterfaceModel {
  /** network, bridge, user, direct, ethernet, … */
  type: string;
  mac?: string;
  source?: { network?: string; bridge?: string; dev?: string; mode?: string };
  model?: string;
  /** Host-side tap device (vnetN) once running. */
  targetDev?: string;
}

export interface CharDeviceModel {
  /** pty, file, unix, tcp, … */
  type: string;
  targetType?: string;
  targetPort?: string;
  sourcePath?: string;
  logFile?: string;
}

export interface GraphicsModel {
  type: string;
  port?: string;
  autoport?: boolean;
  listen?: string;
  hasPassword: boolean;
  /** Only in XML read with --security-info; written back when set. */
  password?: string;
}

export interface SecLabelModel {
  type?: string;
  model?: string;
  relabel?: string;
  label?: string;
}

// ---- XML → model ----------------------------------------------------------------------------

export function parseDomainXml(xml: string): DomainModel {
  return domainFromTree(parseDomainTree(xml));
}

/** Parses and checks the root is a <domain>; errors are LibvirtError("invalid-xml"). */
export function parseDomainTree(xml: string): XmlElement {
  return parseLibvirtXml(xml, "domain");
}

export function domainFromTree(root: XmlElement): DomainModel {
  const os = child(root, "os");
  const osType = child(os, "type");
  const devices = child(root, "devices");
  const memory = child(root, "memory");
  const current = child(root, "currentMemory");
  const m: DomainModel = {
    name: text(child(root, "name")) ?? "",
    type: root.attrs.type ?? "",
    memoryBytes: memory ? unitToBytes(text(memory) ?? "0", memory.attrs.unit) : 0,
    vcpus: Number(text(child(root, "vcpu")) ?? "1"),
    os: {
      type: text(osType) ?? "hvm",
      boot: os ? elements(os, "boot").map((b) => b.attrs.dev ?? "") : [],
    },
    features: elements(child(root, "features") ?? el("features")).map((f) => f.name),
    disks: devices ? elements(devices, "disk").map(diskFromTree) : [],
    interfaces: devices ? elements(devices, "interface").map(interfaceFromTree) : [],
    serials: devices ? elements(devices, "serial").map(charFromTree) : [],
    consoles: devices ? elements(devices, "console").map(charFromTree) : [],
    graphics: devices ? elements(devices, "graphics").map(graphicsFromTree) : [],
    seclabels: elements(root, "seclabel").map((s) => omitUndefined({ type: s.attrs.type, model: s.attrs.model, relabel: s.attrs.relabel, label: text(child(s, "label")) })),
  };
  assign(m, "uuid", text(child(root, "uuid")));
  assign(m, "title", text(child(root, "title")));
  assign(m, "description", text(child(root, "description")));
  if (current) m.currentMemoryBytes = unitToBytes(text(current) ?? "0", current.attrs.unit);
  assign(m.os, "arch", osType?.attrs.arch);
  assign(m.os, "machine", osType?.attrs.machine);
  assign(m.os, "kernel", text(child(os, "kernel")));
  assign(m.os, "initrd", text(child(os, "initrd")));
  assign(m.os, "cmdline", text(child(os, "cmdline")));
  assign(m.os, "loader", text(child(os, "loader")));
  assign(m.os, "nvram", text(child(os, "nvram")) ?? child(os, "nvram")?.attrs.template);
  assign(m, "cpuMode", child(root, "cpu")?.attrs.mode);
  assign(m, "emulator", text(path(root, "devices", "emulator")));
  assign(m, "onPoweroff", text(child(root, "on_poweroff")));
  assign(m, "onReboot", text(child(root, "on_reboot")));
  assign(m, "onCrash", text(child(root, "on_crash")));
  return m;
}

function diskFromTree(d: XmlElement): DiskModel {
  const driver = child(d, "driver");
  const source = child(d, "source");
  const target = child(d, "target");
  const disk: DiskModel = { type: d.attrs.type ?? "file", device: d.attrs.device ?? "disk", target: omitUndefined({ dev: target?.attrs.dev ?? "", bus: target?.attrs.bus }) };
  assign(disk, "driverName", driver?.attrs.name);
  assign(disk, "format", driver?.attrs.type);
  assign(disk, "cache", driver?.attrs.cache);
  if (source) disk.source = omitUndefined({ file: source.attrs.file, dev: source.attrs.dev, pool: source.attrs.pool, volume: source.attrs.volume, protocol: source.attrs.protocol, name: source.attrs.name, dir: source.attrs.dir });
  if (child(d, "readonly")) disk.readonly = true;
  if (child(d, "shareable")) disk.shareable = true;
  const order = child(d, "boot")?.attrs.order;
  if (order !== undefined) disk.bootOrder = Number(order);
  assign(disk, "serial", text(child(d, "serial")));
  return disk;
}

function interfaceFromTree(i: XmlElement): InterfaceModel {
  const nic: InterfaceModel = { type: i.attrs.type ?? "" };
  const source = child(i, "source");
  assign(nic, "mac", child(i, "mac")?.attrs.address?.toLowerCase());
  if (source) nic.source = omitUndefined({ network: source.attrs.network, bridge: source.attrs.bridge, dev: source.attrs.dev, mode: source.attrs.mode });
  assign(nic, "model", child(i, "model")?.attrs.type);
  assign(nic, "targetDev", child(i, "target")?.attrs.dev);
  return nic;
}

function charFromTree(c: XmlElement): CharDeviceModel {
  const target = child(c, "target");
  return omitUndefined({ type: c.attrs.type ?? "", targetType: target?.attrs.type, targetPort: target?.attrs.port, sourcePath: child(c, "source")?.attrs.path ?? c.attrs.tty, logFile: child(c, "log")?.attrs.file });
}

function graphicsFromTree(g: XmlElement): GraphicsModel {
  const listen = g.attrs.listen ?? child(g, "listen")?.attrs.address;
  return omitUndefined({ type: g.attrs.type ?? "", port: g.attrs.port, autoport: g.attrs.autoport === undefined ? undefined : g.attrs.autoport === "yes", listen, hasPassword: g.attrs.passwd !== undefined, password: g.attrs.passwd });
}

// ---- model → XML ----------------------------------------------------------------------------

export function buildDomainXml(m: DomainModel): string {
  return buildXml(domainToTree(m));
}

export function domainToTree(m: DomainModel): XmlElement {
  const os = el("os", {}, [
    textEl("type", m.os.type, { arch: m.os.arch, machine: m.os.machine }),
    m.os.loader ? textEl("loader", m.os.loader) : undefined,
    m.os.nvram ? textEl("nvram", m.os.nvram) : undefined,
    m.os.kernel ? textEl("kernel", m.os.kernel) : undefined,
    m.os.initrd ? textEl("initrd", m.os.initrd) : undefined,
    m.os.cmdline ? textEl("cmdline", m.os.cmdline) : undefined,
    ...m.os.boot.map((dev) => el("boot", { dev })),
  ]);
  const devices = el("devices", {}, [
    m.emulator ? textEl("emulator", m.emulator) : undefined,
    ...m.disks.map(diskToTree),
    ...m.interfaces.map(interfaceToTree),
    ...m.serials.map((c) => charToTree("serial", c)),
    ...m.consoles.map((c) => charToTree("console", c)),
    ...m.graphics.map(graphicsToTree),
  ]);
  return el("domain", { type: m.type }, [
    textEl("name", m.name),
    m.uuid ? textEl("uuid", m.uuid) : undefined,
    m.title ? textEl("title", m.title) : undefined,
    m.description ? textEl("description", m.description) : undefined,
    textEl("memory", Math.round(m.memoryBytes / 1024), { unit: "KiB" }),
    m.currentMemoryBytes !== undefined ? textEl("currentMemory", Math.round(m.currentMemoryBytes / 1024), { unit: "KiB" }) : undefined,
    textEl("vcpu", m.vcpus),
    os,
    m.features.length ? el("features", {}, m.features.map((f) => el(f))) : undefined,
    m.cpuMode ? el("cpu", { mode: m.cpuMode }) : undefined,
    m.onPoweroff ? textEl("on_poweroff", m.onPoweroff) : undefined,
    m.onReboot ? textEl("on_reboot", m.onReboot) : undefined,
    m.onCrash ? textEl("on_crash", m.onCrash) : undefined,
    devices,
    ...m.seclabels.map((s) => el("seclabel", { type: s.type, model: s.model, relabel: s.relabel }, [s.label ? textEl("label", s.label) : undefined])),
  ]);
}

export function diskToTree(d: DiskModel): XmlElement {
  return el("disk", { type: d.type, device: d.device }, [
    d.driverName || d.format || d.cache ? el("driver", { name: d.driverName, type: d.format, cache: d.cache }) : undefined,
    d.source ? el("source", d.source) : undefined,
    el("target", { dev: d.target.dev, bus: d.target.bus }),
    d.readonly ? el("readonly") : undefined,
    d.shareable ? el("shareable") : undefined,
    d.serial ? textEl("serial", d.serial) : undefined,
    d.bootOrder !== undefined ? el("boot", { order: d.bootOrder }) : undefined,
  ]);
}

export function interfaceToTree(i: InterfaceModel): XmlElement {
  return el("interface", { type: i.type }, [
    i.mac ? el("mac", { address: i.mac }) : undefined,
    i.source ? el("source", i.source) : undefined,
    i.targetDev ? el("target", { dev: i.targetDev }) : undefined,
    i.model ? el("model", { type: i.model }) : undefined,
  ]);
}

function charToTree(kind: "serial" | "console", c: CharDeviceModel): XmlElement {
  return el(kind, { type: c.type }, [
    c.sourcePath ? el("source", { path: c.sourcePath }) : undefined,
    c.logFile ? el("log", { file: c.logFile, append: "on" }) : undefined,
    c.targetType || c.targetPort ? el("target", { type: c.targetType, port: c.targetPort }) : undefined,
  ]);
}

function graphicsToTree(g: GraphicsModel): XmlElement {
  return el("graphics", { type: g.type, port: g.port, autoport: g.autoport === undefined ? undefined : g.autoport ? "yes" : "no", listen: g.listen, passwd: g.password });
}

// ---- helpers --------------------------------------------------------------------------------

/** Sets an optional property only when there is a value (exactOptionalPropertyTypes-friendly and JSON-clean). */
function assign<T extends object, K extends keyof T>(obj: T, key: K, value: T[K] | undefined): void {
  if (value !== undefined) obj[key] = value;
}

function omitUndefined<T extends Record<string, unknown>>(o: T): { [K in keyof T]: Exclude<T[K], undefined> } {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as { [K in keyof T]: Exclude<T[K], undefined> };
}
