import { existsSync } from "node:fs";
import { rm } from "node:fs/promises";
import type { LibvirtBackend } from "./backend.js";
import { buildDomainXml, type DiskModel, type DomainModel, type InterfaceModel } from "./domain-xml.js";
import { randomMac } from "./domain-edit.js";
import { LibvirtError } from "./errors.js";
import { checkArg, checkName } from "./names.js";
import { buildVolumeXml, parseVolumeXml } from "./pool-xml.js";
import { buildSeedIso } from "./seed.js";
import { parseSize } from "./size.js";
import type { VmTemplate } from "./templates.js";

// `hv vm create`: a template plus command-line overrides → volumes in a pool → a domain model →
// define. Volumes made along the way are deleted again if any later step fails.

export interface CreateOverrides {
  memory?: string;
  vcpus?: number;
  diskSize?: string;
  /** A libvirt network name, or "none". */
  network?: string;
  bridge?: string;
  pool?: string;
  kernel?: string;
  initrd?: string;
  cmdline?: string;
  image?: string;
  iso?: string;
}

export interface CreateResult {
  name: string;
  xml: string;
  volumes: { pool: string; volume: string; path: string }[];
}

export async function createVm(backend: LibvirtBackend, name: string, template: VmTemplate, o: CreateOverrides = {}): Promise<CreateResult> {
  checkName(name);
  const t = applyOverrides(template, o);
  try {
    await backend.domainState(name);
    throw new LibvirtError("already-exists", `a domain named ${name} already exists`);
  } catch (err) {
    if (!(err instanceof LibvirtError) || err.code !== "not-found") throw err;
  }
  const model = baseModel(name, t);
  const volumes: CreateResult["volumes"] = [];
  const makeVolume = async (volume: string, capacityBytes: number, format: string, backing?: { path: string; format: string }): Promise<string> => {
    await backend.createVolume(t.pool, buildVolumeXml({ name: volume, capacityBytes, format, ...(backing ? { backing } : {}) }));
    const path = parseVolumeXml(await backend.volumeXml(t.pool, volume)).path ?? "";
    volumes.push({ pool: t.pool, volume, path });
    return path;
  };
  try {
    if (t.kind === "cloud-image") {
      checkArg(t.image, "image");
      const disk = await makeVolume(`${name}-vda.qcow2`, parseSize(t.diskSize ?? "10G"), "qcow2", { path: t.image, format: t.imageFormat });
      model.disks.push(fileDisk(disk, "vda", "qcow2"));
      const seed = await buildSeedIso({ hostname: name, ...t.cloudInit });
      try {
        const seedPath = await makeVolume(`${name}-seed.iso`, seed.bytes, "raw");
        await backend.uploadVolume(t.pool, `${name}-seed.iso`, seed.iso);
        model.disks.push({ ...fileDisk(seedPath, "sda", "raw"), device: "cdrom", target: { dev: "sda", bus: "sata" }, readonly: true });
      } finally {
        await rm(seed.dir, { recursive: true, force: true });
      }
      model.os.boot = ["hd"];
    } else if (t.kind === "iso-install") {
      checkArg(t.iso, "iso");
      model.disks.push(fileDisk(await makeVolume(`${name}-vda.qcow2`, parseSize(t.diskSize ?? "20G"), "qcow2"), "vda", "qcow2"));
      model.disks.push({ type: "file", device: "cdrom", driverName: "qemu", format: "raw", source: { file: t.iso }, target: { dev: "sda", bus: "sata" }, readonly: true });
      model.os.boot = ["cdrom", "hd"];
    } else if (t.diskSize) {
      model.disks.push(fileDisk(await makeVolume(`${name}-vda.qcow2`, parseSize(t.diskSize), "qcow2"), "vda", "qcow2"));
    }
    const xml = buildDomainXml(model);
    await backend.define(xml);
    return { name, xml, volumes };
  } catch (err) {
    for (const v of volumes) await backend.deleteVolume(v.pool, v.volume).catch(() => undefined);
    throw err;
  }
}

function applyOverrides(template: VmTemplate, o: CreateOverrides): VmTemplate {
  const t = { ...template } as VmTemplate;
  if (o.memory) t.memory = o.memory;
  if (o.vcpus !== undefined) t.vcpus = o.vcpus;
  if (o.diskSize) t.diskSize = o.diskSize;
  if (o.network) t.network = o.network === "none" ? null : checkName(o.network, "network name");
  if (o.bridge) t.bridge = checkName(o.bridge, "bridge name");
  if (o.pool) t.pool = checkName(o.pool, "pool name");
  if (t.kind === "kernel") {
    if (o.kernel) t.kernel = o.kernel;
    if (o.initrd) t.initrd = o.initrd;
    if (o.cmdline !== undefined) t.cmdline = o.cmdline;
  }
  if (t.kind === "cloud-image" && o.image) t.image = o.image;
  if (t.kind === "iso-install" && o.iso) t.iso = o.iso;
  return t;
}

function baseModel(name: string, t: VmTemplate): DomainModel {
  const memoryBytes = parseSize(t.memory, 1024 * 1024);
  const interfaces: InterfaceModel[] = [];
  if (t.bridge) interfaces.push({ type: "bridge", mac: randomMac(), source: { bridge: t.bridge }, model: t.nicModel });
  else if (t.network) interfaces.push({ type: "network", mac: randomMac(), source: { network: t.network }, model: t.nicModel });
  const serial = { type: "pty", targetPort: "0", ...(t.serialLog ? { logFile: t.serialLog.replaceAll("{name}", name) } : {}) };
  const m: DomainModel = {
    name,
    // Without /dev/kvm only TCG works.
    type: t.domainType === "auto" ? (existsSync("/dev/kvm") ? "kvm" : "qemu") : t.domainType,
    memoryBytes,
    currentMemoryBytes: memoryBytes,
    vcpus: t.vcpus,
    os: { type: "hvm", arch: t.arch, ...(t.machine ? { machine: t.machine } : {}), boot: [] },
    features: ["acpi", "apic"],
    onPoweroff: "destroy",
    onReboot: "restart",
    onCrash: "destroy",
    disks: [],
    interfaces,
    serials: [serial],
    consoles: [{ type: "pty", targetType: "serial", targetPort: "0" }],
    graphics: t.graphics === "none" ? [] : [{ type: t.graphics, autoport: true, listen: "127.0.0.1", hasPassword: false }],
    seclabels: [],
  };
  if (t.kind === "kernel") {
    m.os.kernel = checkArg(t.kernel, "kernel");
    if (t.initrd) m.os.initrd = checkArg(t.initrd, "initrd");
    if (t.cmdline) m.os.cmdline = t.cmdline;
  }
  return m;
}

function fileDisk(path: string, dev: string, format: string): DiskModel {
  return { type: "file", device: "disk", driverName: "qemu", format, source: { file: path }, target: { dev, bus: dev.startsWith("vd") ? "virtio" : "sata" } };
}
