import { existsSync, statSync } from "node:fs";
import { rm } from "node:fs/promises";
import { dirname, join } from "node:path";
import type { LibvirtBackend } from "./backend.js";
import { buildDomainXml, type DiskModel, type DomainModel, type InterfaceModel } from "./domain-xml.js";
import { randomMac } from "./domain-edit.js";
import { LibvirtError } from "../events/libvirt-error.js";
import { checkArg, checkName } from "./names.js";
import { buildVolumeXml, parsePoolXml, parseVolumeXml } from "./pool-xml.js";
import { buildSeedIso, SEED_TOOLS } from "./seed.js";
import { formatBytes, parseSize } from "./size.js";
import { isLocalUri } from "./storage.js";
import type { VmTemplate } from "./templates.js";
import { findProgram, PROGRAMS } from "../events/programs.js";

// `hv vm create`: a template plus command-line overrides → a plan (every check done, nothing
// touched) → volumes in a pool → define → start. Whatever a later step fails on, the volumes and
// the definition made before it are removed again: a failed create leaves nothing behind.

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

export interface PlannedVolume {
  pool: string;
  volume: string;
  /** Where the pool will put it (its target directory + name); what the domain XML names. */
  path: string;
  capacityBytes: number;
  format: string;
  backing?: { path: string; format: string };
  /** The cloud-init seed ISO, built and uploaded rather than created empty. */
  seed?: true;
}

export interface CreatePlan {
  name: string;
  /** The template with the overrides applied. */
  template: VmTemplate;
  volumes: PlannedVolume[];
  /** The domain XML that will be defined (volume paths as the pool will name them). */
  xml: string;
  /** What would stop the create, each with what to do about it; empty when it can go ahead. */
  problems: string[];
  /** Worth knowing, not in the way (e.g. files on a remote host hv cannot look at). */
  notes: string[];
}

export interface CreateResult {
  name: string;
  xml: string;
  volumes: { pool: string; volume: string; path: string }[];
  started: boolean;
}

export type CreateStep = "volume" | "seed" | "define" | "start" | "cleanup";

export interface CreateOptions {
  /** Start the domain once defined; a start that fails undoes the whole create. */
  start?: boolean;
  /** Each step as it begins, for a progress display. */
  onStep?: (step: CreateStep, detail: string) => void;
}

/**
 * Checks everything the template needs (names, sizes, the files it boots from, the pool, the
 * network or bridge, the seed tool, /dev/kvm, the serial log directory) and builds the domain XML,
 * without creating anything. Every problem found is listed, not just the first.
 */
export async function planVm(backend: LibvirtBackend, name: string, template: VmTemplate, o: CreateOverrides = {}, opts: { start?: boolean } = {}): Promise<CreatePlan> {
  checkName(name);
  const t = applyOverrides(template, o);
  const problems: string[] = [];
  const notes: string[] = [];
  try {
    await backend.domainState(name);
    throw new LibvirtError("already-exists", `a domain named ${name} already exists`);
  } catch (err) {
    if (!(err instanceof LibvirtError) || err.code !== "not-found") throw err;
  }
  const local = isLocalUri(backend.uri);
  const file = (path: string | undefined, what: string, flag: string): void => {
    if (path === undefined) return;
    checkArg(path, what);
    if (!local) return;
    const st = statSync(path, { throwIfNoEntry: false });
    if (!st) problems.push(`the ${what} ${path} does not exist (give another with ${flag}, or edit the template)`);
    else if (!st.isFile()) problems.push(`the ${what} ${path} is not a file`);
  };
  if (t.kind === "kernel") {
    file(t.kernel, "kernel", "--kernel");
    file(t.initrd, "initrd", "--initrd");
  } else if (t.kind === "cloud-image") {
    file(t.image, "base image", "--image");
    if (!SEED_TOOLS.some((tool) => findProgram(tool))) {
      problems.push(`building the cloud-init seed needs one of ${SEED_TOOLS.join(", ")} (Debian: apt-get install ${PROGRAMS["cloud-localds"].debian})`);
    }
  } else {
    file(t.iso, "installer ISO", "--iso");
  }
  if (!local) notes.push(`${backend.uri} is not local: the files the template names are checked by libvirt on that host, not here`);
  const type = t.domainType === "auto" ? (existsSync("/dev/kvm") ? "kvm" : "qemu") : t.domainType;
  if (local && type === "kvm" && !existsSync("/dev/kvm")) problems.push("domainType kvm needs /dev/kvm, which this host does not have (use domainType: qemu or auto)");
  if (t.serialLog && local) {
    const dir = dirname(t.serialLog.replaceAll("{name}", name));
    if (!existsSync(dir)) problems.push(`the serial log's directory ${dir} does not exist (create it, or change serialLog in the template)`);
  }
  if (t.bridge && local && !existsSync(join("/sys/class/net", t.bridge))) problems.push(`the bridge ${t.bridge} does not exist on this host (ip link add ${t.bridge} type bridge)`);
  if (!t.bridge && t.network) {
    const net = (await backend.listNetworks()).find((n) => n.name === t.network);
    if (!net) problems.push(`the libvirt network ${t.network} does not exist (hv net list; --network NAME or --network none)`);
    else if (!net.active) (opts.start ? problems : notes).push(`the libvirt network ${t.network} is not active: the VM cannot start until it is (hv net start ${t.network})`);
  }

  const volumes = await plannedVolumes(backend, name, t, problems);
  const model = baseModel(name, t, type);
  const byPurpose = (v: PlannedVolume | undefined): string => v?.path ?? "";
  if (t.kind === "cloud-image") {
    model.disks.push(fileDisk(byPurpose(volumes.find((v) => !v.seed)), "vda", "qcow2"));
    model.disks.push({ ...fileDisk(byPurpose(volumes.find((v) => v.seed)), "sda", "raw"), device: "cdrom", target: { dev: "sda", bus: "sata" }, readonly: true });
    model.os.boot = ["hd"];
  } else if (t.kind === "iso-install") {
    model.disks.push(fileDisk(byPurpose(volumes[0]), "vda", "qcow2"));
    model.disks.push({ type: "file", device: "cdrom", driverName: "qemu", format: "raw", source: { file: t.iso }, target: { dev: "sda", bus: "sata" }, readonly: true });
    model.os.boot = ["cdrom", "hd"];
  } else if (volumes[0]) {
    model.disks.push(fileDisk(volumes[0].path, "vda", "qcow2"));
  }
  return { name, template: t, volumes, xml: buildDomainXml(model), problems, notes };
}

/** The volumes the template needs, where its pool will put them; pool problems go to `problems`. */
async function plannedVolumes(backend: LibvirtBackend, name: string, t: VmTemplate, problems: string[]): Promise<PlannedVolume[]> {
  const wanted: Omit<PlannedVolume, "path" | "pool">[] = [];
  if (t.kind === "cloud-image") {
    wanted.push({ volume: `${name}-vda.qcow2`, capacityBytes: parseSize(t.diskSize ?? "10G"), format: "qcow2", backing: { path: t.image, format: t.imageFormat } });
    // Its size is known once it is built; 0 until then.
    wanted.push({ volume: `${name}-seed.iso`, capacityBytes: 0, format: "raw", seed: true });
  } else if (t.kind === "iso-install") {
    wanted.push({ volume: `${name}-vda.qcow2`, capacityBytes: parseSize(t.diskSize ?? "20G"), format: "qcow2" });
  } else if (t.diskSize) {
    wanted.push({ volume: `${name}-vda.qcow2`, capacityBytes: parseSize(t.diskSize), format: "qcow2" });
  }
  if (wanted.length === 0) return [];
  const pool = (await backend.listPools()).find((p) => p.name === t.pool);
  let dir = "";
  if (!pool) problems.push(`the storage pool ${t.pool} does not exist (hv pool list; --pool NAME, or hv pool create ${t.pool} --path DIR)`);
  else {
    if (pool.state !== "running") problems.push(`the storage pool ${t.pool} is not active (hv pool start ${t.pool})`);
    else {
      const existing = new Set((await backend.listVolumes(t.pool)).map((v) => v.name));
      for (const w of wanted) if (existing.has(w.volume)) problems.push(`the pool ${t.pool} already has a volume ${w.volume} (a VM of that name was deleted without --remove-storage? hv volume delete ${t.pool} ${w.volume})`);
      const need = wanted.reduce((n, w) => n + (w.backing ? 0 : w.capacityBytes), 0);
      if (pool.availableBytes !== undefined && need > pool.availableBytes) problems.push(`the pool ${t.pool} has ${formatBytes(pool.availableBytes)} free, the new disks need ${formatBytes(need)}`);
    }
    dir = parsePoolXml(await backend.poolXml(t.pool)).targetPath ?? "";
  }
  return wanted.map((w) => ({ ...w, pool: t.pool, path: dir ? join(dir, w.volume) : w.volume }));
}

/** Carries out a plan with no problems: volumes, seed, define, start; undoes all of it on failure. */
export async function createVm(backend: LibvirtBackend, plan: CreatePlan, opts: CreateOptions = {}): Promise<CreateResult> {
  if (plan.problems.length > 0) throw new LibvirtError("invalid-argument", planRefusal(plan));
  const step = opts.onStep ?? (() => undefined);
  const t = plan.template;
  const made: CreateResult["volumes"] = [];
  let defined = false;
  try {
    for (const v of plan.volumes) {
      if (v.seed && t.kind === "cloud-image") {
        step("seed", `building the cloud-init seed ${v.volume}`);
        const seed = await buildSeedIso({ hostname: plan.name, ...t.cloudInit });
        try {
          await makeVolume(backend, { ...v, capacityBytes: seed.bytes }, made);
          await backend.uploadVolume(v.pool, v.volume, seed.iso);
        } finally {
          await rm(seed.dir, { recursive: true, force: true });
        }
      } else {
        step("volume", `creating ${v.volume} (${formatBytes(v.capacityBytes)}) in pool ${v.pool}`);
        await makeVolume(backend, v, made);
      }
    }
    step("define", `defining ${plan.name}`);
    await backend.define(xmlWithPaths(plan, made));
    defined = true;
    if (opts.start) {
      step("start", `starting ${plan.name}`);
      await backend.start(plan.name);
    }
    return { name: plan.name, xml: xmlWithPaths(plan, made), volumes: made, started: Boolean(opts.start) };
  } catch (err) {
    step("cleanup", `removing what was made for ${plan.name}`);
    const left: string[] = [];
    if (defined) await backend.undefine(plan.name).catch((e: Error) => left.push(`the definition of ${plan.name} (${e.message})`));
    for (const v of made) await backend.deleteVolume(v.pool, v.volume).catch((e: Error) => left.push(`${v.pool}/${v.volume} (${e.message})`));
    if (err instanceof Error) {
      err.message += left.length > 0 ? `; could not remove: ${left.join(", ")}` : `; nothing was left behind${defined ? ` (${plan.name} was undefined again)` : ""}`;
    }
    throw err;
  }
}

/** The message for a plan that cannot go ahead: every problem on its own line. */
export function planRefusal(plan: CreatePlan): string {
  return `cannot create ${plan.name}; nothing was created:\n${plan.problems.map((p) => `  - ${p}`).join("\n")}`;
}

async function makeVolume(backend: LibvirtBackend, v: PlannedVolume, made: CreateResult["volumes"]): Promise<void> {
  await backend.createVolume(v.pool, buildVolumeXml({ name: v.volume, capacityBytes: v.capacityBytes, format: v.format, ...(v.backing ? { backing: v.backing } : {}) }));
  const path = parseVolumeXml(await backend.volumeXml(v.pool, v.volume)).path ?? v.path;
  made.push({ pool: v.pool, volume: v.volume, path });
}

/** The plan's XML with the paths the pool really gave (they equal the planned ones for dir pools). */
function xmlWithPaths(plan: CreatePlan, made: CreateResult["volumes"]): string {
  let xml = plan.xml;
  for (const v of plan.volumes) {
    const real = made.find((m) => m.volume === v.volume)?.path;
    if (real && real !== v.path) xml = xml.replaceAll(`'${v.path}'`, `'${real}'`).replaceAll(`"${v.path}"`, `"${real}"`);
  }
  return xml;
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

function baseModel(name: string, t: VmTemplate, type: "qemu" | "kvm"): DomainModel {
  const memoryBytes = parseSize(t.memory, 1024 * 1024);
  const interfaces: InterfaceModel[] = [];
  if (t.bridge) interfaces.push({ type: "bridge", mac: randomMac(), source: { bridge: t.bridge }, model: t.nicModel });
  else if (t.network) interfaces.push({ type: "network", mac: randomMac(), source: { network: t.network }, model: t.nicModel });
  const serial = { type: "pty", targetPort: "0", ...(t.serialLog ? { logFile: t.serialLog.replaceAll("{name}", name) } : {}) };
  const m: DomainModel = {
    name,
    type,
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
