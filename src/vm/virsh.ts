import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type {
  BlockDeviceRow, DiskSnapshotSpec, InterfaceRow, JobInfo, MigrateOptions,
  ChangeScope, DhcpLease, DomainInfo, DomainState, DomainStats, DomainSummary, LibvirtBackend, NetworkSummary, PoolSummary,
  SnapshotInfo, SnapshotOptions, VolumeSummary,
} from "./backend.js";
import { runProgram } from "../events/programs.js";
import { LibvirtError } from "../events/libvirt-error.js";
import { keyValues, parseDomIfList, runVirsh, VIRSH_TIMEOUT_MS } from "../events/virsh.js";
import { checkArg, checkMac, checkName, checkTarget } from "./names.js";
import { parseDomainStats } from "./stats.js";
import { child, parseLibvirtXml, text } from "./xml.js";
import { printErr } from "../events/terminal.js";

export const DEFAULT_URI = "qemu:///system";

/** --uri, else $HV_LIBVIRT_URI, else qemu:///system. */
export function resolveUri(flag?: string): string {
  return flag ?? process.env.HV_LIBVIRT_URI ?? DEFAULT_URI;
}

export interface VirshOptions {
  uri?: string;
  /** Default VIRSH_TIMEOUT_MS (src/events/virsh.ts). */
  timeoutMs?: number;
  /** save, restore, snapshots, migrate, shutdown of big guests. */
  longTimeoutMs?: number;
  /** The virsh binary (tests point it elsewhere). */
  virsh?: string;
}

export class VirshBackend implements LibvirtBackend {
  readonly uri: string;
  private readonly timeoutMs: number;
  private readonly longTimeoutMs: number;
  private readonly virsh: string;

  constructor(opts: VirshOptions = {}) {
    this.uri = checkArg(resolveUri(opts.uri), "libvirt URI");
    this.timeoutMs = opts.timeoutMs ?? VIRSH_TIMEOUT_MS;
    this.longTimeoutMs = opts.longTimeoutMs ?? 15 * 60_000;
    this.virsh = opts.virsh ?? "virsh";
  }

  /** Runs one virsh command and returns its stdout; failures become LibvirtError. */
  run(args: string[], opts: { long?: boolean } = {}): Promise<string> {
    return runVirsh(args, { uri: this.uri, timeoutMs: opts.long ? this.longTimeoutMs : this.timeoutMs, bin: this.virsh });
  }

  /** Writes XML to a private temp file for `virsh define`-style commands, then removes it. */
  private async withXmlFile<T>(xml: string, fn: (file: string) => Promise<T>): Promise<T> {
    const dir = await mkdtemp(join(tmpdir(), "hv-xml-"));
    const file = join(dir, "def.xml");
    try {
      await writeFile(file, xml, { mode: 0o600 });
      return await fn(file);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  // ---- domains ----------------------------------------------------------------------------

  async listDomains(opts: { all?: boolean } = {}): Promise<DomainSummary[]> {
    const out = await this.run(["list", ...(opts.all ? ["--all"] : [])]);
    const rows: DomainSummary[] = [];
    for (const line of out.split("\n")) {
      const m = /^\s*(\d+|-)\s+(.+?)\s+(running|idle|paused|in shutdown|shut off|crashed|pmsuspended|dying|blocked)\s*$/.exec(line);
      if (!m) continue;
      rows.push({ name: m[2]!, state: m[3] as DomainState, ...(m[1] !== "-" ? { id: Number(m[1]) } : {}) });
    }
    return rows;
  }

  async domainInfo(name: string): Promise<DomainInfo> {
    const kv = keyValues(await this.run(["dominfo", "--domain", checkName(name)]));
    const reason = (await this.run(["domstate", "--domain", name, "--reason"])).trim();
    const info: DomainInfo = {
      name: kv.Name ?? name,
      uuid: kv.UUID ?? "",
      state: toState(kv.State),
      osType: kv["OS Type"] ?? "",
      vcpus: Number(kv["CPU(s)"] ?? 0),
      maxMemoryBytes: kibField(kv["Max memory"]),
      usedMemoryBytes: kibField(kv["Used memory"]),
      persistent: kv.Persistent === "yes",
      autostart: kv.Autostart === "enable",
      managedSave: kv["Managed save"] === "yes",
    };
    const id = Number(kv.Id);
    if (kv.Id && kv.Id !== "-" && Number.isFinite(id)) info.id = id;
    const why = /\(([^)]*)\)\s*$/.exec(reason)?.[1];
    if (why) info.stateReason = why;
    if (kv["CPU time"]) info.cpuTimeSeconds = parseFloat(kv["CPU time"]);
    if (kv["Security model"] && kv["Security model"] !== "none") info.securityModel = kv["Security model"];
    return info;
  }

  async domainState(name: string): Promise<DomainState> {
    return toState((await this.run(["domstate", "--domain", checkName(name)])).trim());
  }

  async dumpXml(name: string, opts: { inactive?: boolean; secure?: boolean } = {}): Promise<string> {
    return this.run(["dumpxml", "--domain", checkName(name), ...(opts.inactive ? ["--inactive"] : []), ...(opts.secure ? ["--security-info"] : [])]);
  }

  async define(xml: string): Promise<string> {
    const root = parseLibvirtXml(xml, "domain");
    const name = checkName(text(child(root, "name")) ?? "", "domain name");
    await this.withXmlFile(xml, (file) => this.run(["define", "--file", file, "--validate"]));
    return name;
  }

  async undefine(name: string, opts: { removeAllStorage?: boolean } = {}): Promise<void> {
    const flags = ["--managed-save", "--snapshots-metadata", "--checkpoints-metadata"];
    if (opts.removeAllStorage) flags.push("--remove-all-storage");
    try {
      await this.run(["undefine", "--domain", checkName(name), ...flags, "--nvram"]);
    } catch (err) {
      // Drivers without nvram support (the test driver, non-UEFI hosts) reject the flag itself.
      if (!(err instanceof LibvirtError) || !/nvram|unsupported flags/i.test(err.message)) throw err;
      await this.run(["undefine", "--domain", name, ...flags]);
    }
  }

  async start(name: string, opts: { paused?: boolean } = {}): Promise<void> {
    await this.run(["start", "--domain", checkName(name), ...(opts.paused ? ["--paused"] : [])], { long: true });
  }
  async shutdown(name: string): Promise<void> {
    await this.run(["shutdown", "--domain", checkName(name)]);
  }
  async destroy(name: string): Promise<void> {
    await this.run(["destroy", "--domain", checkName(name)]);
  }
  async reboot(name: string): Promise<void> {
    await this.run(["reboot", "--domain", checkName(name)]);
  }
  async reset(name: string): Promise<void> {
    await this.run(["reset", "--domain", checkName(name)]);
  }
  async suspend(name: string): Promise<void> {
    await this.run(["suspend", "--domain", checkName(name)]);
  }
  async resume(name: string): Promise<void> {
    await this.run(["resume", "--domain", checkName(name)]);
  }
  async save(name: string, file: string): Promise<void> {
    await this.run(["save", "--domain", checkName(name), "--file", checkArg(file, "save file")], { long: true });
  }
  async restore(file: string): Promise<void> {
    await this.run(["restore", "--file", checkArg(file, "save file")], { long: true });
  }
  async setAutostart(name: string, enabled: boolean): Promise<void> {
    await this.run(["autostart", "--domain", checkName(name), ...(enabled ? [] : ["--disable"])]);
  }

  async console(name: string): Promise<number> {
    // stderr is read, not inherited: virsh prints "Authorization not available. Check if polkit
    // service is running …" on hosts without polkitd (its pty check falls back and works), which
    // only alarms. Everything else it says is passed on once the console ends.
    const r = await runProgram("virsh", ["-c", this.uri, "console", "--domain", checkName(name)], { stdio: ["inherit", "inherit", "pipe"] }, this.virsh);
    const said = r.stderr.split("\n").filter((l) => l.trim() !== "" && !/^Authorization not available\. Check if polkit service is running/.test(l));
    if (said.length > 0) printErr(said.join("\n"));
    return r.exitCode ?? 1;
  }

  async setVcpus(name: string, count: number, scope: ChangeScope): Promise<void> {
    if (!Number.isInteger(count) || count < 1) throw new LibvirtError("invalid-argument", `vcpus must be a positive integer, got ${count}`);
    await this.run(["setvcpus", "--domain", checkName(name), "--count", String(count), ...scopeFlags(scope)]);
  }
  async setMemory(name: string, bytes: number, scope: ChangeScope): Promise<void> {
    await this.run(["setmem", "--domain", checkName(name), "--size", `${Math.floor(bytes / 1024)}KiB`, ...scopeFlags(scope)]);
  }
  async attachDevice(name: string, deviceXml: string, scope: ChangeScope): Promise<void> {
    parseXmlOrThrow(deviceXml);
    await this.withXmlFile(deviceXml, (file) => this.run(["attach-device", "--domain", checkName(name), "--file", file, ...scopeFlags(scope)]));
  }
  async detachDevice(name: string, deviceXml: string, scope: ChangeScope): Promise<void> {
    parseXmlOrThrow(deviceXml);
    await this.withXmlFile(deviceXml, (file) => this.run(["detach-device", "--domain", checkName(name), "--file", file, ...scopeFlags(scope)]));
  }
  async detachDisk(name: string, target: string, scope: ChangeScope): Promise<void> {
    await this.run(["detach-disk", "--domain", checkName(name), "--target", checkTarget(target), ...scopeFlags(scope)]);
  }
  async detachInterface(name: string, type: string, mac: string, scope: ChangeScope): Promise<void> {
    await this.run(["detach-interface", "--domain", checkName(name), "--type", checkName(type, "interface type"), "--mac", checkMac(mac), ...scopeFlags(scope)]);
  }
  async blockResize(name: string, target: string, bytes: number): Promise<void> {
    await this.run(["blockresize", "--domain", checkName(name), "--path", checkTarget(target), "--size", `${bytes}B`]);
  }
  async domainStats(name: string): Promise<DomainStats> {
    return parseDomainStats(await this.run(["domstats", "--raw", checkName(name)]));
  }
  async migrate(name: string, destUri: string, opts: MigrateOptions = {}): Promise<void> {
    const flags = ["--persistent", "--undefinesource", ...(opts.live ? ["--live"] : ["--offline"])];
    if (opts.copyStorage) flags.push("--copy-storage-all");
    if (opts.p2p) flags.push("--p2p");
    if (opts.migrateUri) flags.push("--migrateuri", checkArg(opts.migrateUri, "migration URI"));
    await this.run(["migrate", "--domain", checkName(name), "--desturi", checkArg(destUri, "destination URI"), ...flags], { long: true });
  }
  async domJobInfo(name: string, opts: { completed?: boolean } = {}): Promise<JobInfo | undefined> {
    const kv = keyValues(await this.run(["domjobinfo", "--domain", checkName(name), ...(opts.completed ? ["--completed"] : [])]));
    return kv["Job type"] ? parseJobInfo(kv) : undefined;
  }

  // ---- snapshots --------------------------------------------------------------------------

  async snapshotCreate(name: string, snapshot: string, opts: SnapshotOptions = {}): Promise<void> {
    const args = ["snapshot-create-as", "--domain", checkName(name), "--name", checkName(snapshot, "snapshot name")];
    if (opts.description !== undefined) args.push("--description", checkDescription(opts.description));
    // --atomic: either every disk gets its overlay or none does.
    if (opts.diskOnly) args.push("--disk-only", "--atomic");
    await this.run(args, { long: true });
  }

  async snapshotList(name: string): Promise<SnapshotInfo[]> {
    const names = (await this.run(["snapshot-list", "--domain", checkName(name), "--name"])).split("\n").map((s) => s.trim()).filter(Boolean);
    let current: string | undefined;
    if (names.length) current = (await this.run(["snapshot-current", "--domain", name, "--name"]).catch(() => "")).trim() || undefined;
    const out: SnapshotInfo[] = [];
    for (const snap of names) {
      const root = parseLibvirtXml(await this.run(["snapshot-dumpxml", "--domain", name, "--snapshotname", snap]), "domainsnapshot");
      const created = Number(text(child(root, "creationTime")) ?? 0);
      const disks = child(root, "disks");
      const external = (disks?.children ?? []).some((d) => "name" in d && d.attrs.snapshot === "external") || child(root, "memory")?.attrs.snapshot === "external";
      const info: SnapshotInfo = { name: snap, createdAt: new Date(created * 1000).toISOString(), state: text(child(root, "state")) ?? "", current: snap === current, location: external ? "external" : "internal" };
      const parent = text(child(child(root, "parent"), "name"));
      if (parent) info.parent = parent;
      const description = text(child(root, "description"));
      if (description) info.description = description;
      out.push(info);
    }
    return out.sort((a, b) => a.createdAt.localeCompare(b.createdAt));
  }

  async snapshotRevert(name: string, snapshot: string): Promise<void> {
    await this.run(["snapshot-revert", "--domain", checkName(name), "--snapshotname", checkName(snapshot, "snapshot name")], { long: true });
  }
  async snapshotDelete(name: string, snapshot: string, opts: { metadataOnly?: boolean } = {}): Promise<void> {
    await this.run(["snapshot-delete", "--domain", checkName(name), "--snapshotname", checkName(snapshot, "snapshot name"), ...(opts.metadataOnly ? ["--metadata"] : [])], { long: true });
  }

  // ---- forensics ----------------------------------------------------------------------------

  async dumpMemory(name: string, file: string, opts: { live?: boolean; format?: "elf" | "kdump-zlib" | "kdump-lzo" | "kdump-snappy" } = {}): Promise<void> {
    const args = ["dump", "--domain", checkName(name), "--file", checkArg(file, "dump file"), "--memory-only", "--format", opts.format ?? "elf"];
    if (opts.live) args.push("--live");
    await this.run(args, { long: true });
  }

  async domBlkList(name: string, opts: { inactive?: boolean } = {}): Promise<BlockDeviceRow[]> {
    return parseDomBlkList(await this.run(["domblklist", "--domain", checkName(name), "--details", ...(opts.inactive ? ["--inactive"] : [])]));
  }

  async domIfList(name: string, opts: { inactive?: boolean } = {}): Promise<InterfaceRow[]> {
    return parseDomIfList(await this.run(["domiflist", "--domain", checkName(name), ...(opts.inactive ? ["--inactive"] : [])]));
  }

  async diskSnapshotNoMetadata(name: string, specs: DiskSnapshotSpec[], opts: { quiesce?: boolean } = {}): Promise<void> {
    if (specs.length === 0) throw new LibvirtError("invalid-argument", "a disk snapshot needs at least one disk");
    const diskspecs = specs.flatMap((s) => [
      "--diskspec",
      // virsh splits a diskspec at commas; a doubled comma is a literal one.
      s.overlay ? `${checkTarget(s.target)},snapshot=external,file=${checkArg(s.overlay, "overlay file").replace(/,/g, ",,")}` : `${checkTarget(s.target)},snapshot=no`,
    ]);
    const snapName = `hv-forensic-${Date.now()}`;
    await this.run(["snapshot-create-as", "--domain", checkName(name), "--name", snapName, "--disk-only", "--atomic", "--no-metadata", ...(opts.quiesce ? ["--quiesce"] : []), ...diskspecs], { long: true });
  }

  async blockCommitActive(name: string, target: string): Promise<void> {
    await this.run(["blockcommit", "--domain", checkName(name), "--path", checkTarget(target), "--active", "--shallow", "--pivot", "--wait"], { long: true });
  }

  async blockJobInfo(name: string, target: string): Promise<{ type: string; percent?: number } | undefined> {
    const out = (await this.run(["blockjob", "--domain", checkName(name), "--path", checkTarget(target), "--info"])).trim();
    // "No current block job for vda" or "Active Block Commit: [100 %]"
    if (!out || /^No current block job/i.test(out)) return undefined;
    const m = /^(.*?):\s*\[\s*([\d.]+)\s*%\]/.exec(out);
    return m ? { type: m[1]!.trim(), percent: Number(m[2]) } : { type: out };
  }

  async blockJobAbort(name: string, target: string, opts: { pivot?: boolean } = {}): Promise<void> {
    await this.run(["blockjob", "--domain", checkName(name), "--path", checkTarget(target), "--abort", ...(opts.pivot ? ["--pivot"] : [])], { long: true });
  }

  async versions(): Promise<Record<string, string>> {
    return keyValues(await this.run(["version"]));
  }

  // ---- networks ---------------------------------------------------------------------------

  async listNetworks(): Promise<NetworkSummary[]> {
    const out = await this.run(["net-list", "--all"]);
    const rows: NetworkSummary[] = [];
    for (const line of out.split("\n")) {
      const m = /^\s*(.+?)\s+(active|inactive)\s+(yes|no)\s+(yes|no)\s*$/.exec(line);
      if (m) rows.push({ name: m[1]!, active: m[2] === "active", autostart: m[3] === "yes", persistent: m[4] === "yes" });
    }
    return rows;
  }
  async networkXml(name: string, opts: { inactive?: boolean } = {}): Promise<string> {
    return this.run(["net-dumpxml", "--network", checkName(name), ...(opts.inactive ? ["--inactive"] : [])]);
  }
  async defineNetwork(xml: string): Promise<string> {
    const name = checkName(text(child(parseLibvirtXml(xml, "network"), "name")) ?? "", "network name");
    await this.withXmlFile(xml, (file) => this.run(["net-define", "--file", file, "--validate"]));
    return name;
  }
  async startNetwork(name: string): Promise<void> {
    await this.run(["net-start", "--network", checkName(name)]);
  }
  async stopNetwork(name: string): Promise<void> {
    await this.run(["net-destroy", "--network", checkName(name)]);
  }
  async undefineNetwork(name: string): Promise<void> {
    await this.run(["net-undefine", "--network", checkName(name)]);
  }
  async setNetworkAutostart(name: string, enabled: boolean): Promise<void> {
    await this.run(["net-autostart", "--network", checkName(name), ...(enabled ? [] : ["--disable"])]);
  }
  async networkLeases(name: string): Promise<DhcpLease[]> {
    const out = await this.run(["net-dhcp-leases", "--network", checkName(name)]);
    const rows: DhcpLease[] = [];
    for (const line of out.split("\n")) {
      // 2024-05-01 10:00:00   52:54:00:aa:bb:cc   ipv4   10.77.0.23/24   guest   01:52:54:…
      const m = /^\s*(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)\s+(\S+)\s+(ipv4|ipv6)\s+(\S+)\s+(\S+)\s*(\S*)\s*$/.exec(line);
      if (!m) continue;
      const lease: DhcpLease = { expiry: m[1]!, mac: m[2]!, protocol: m[3]!, address: m[4]! };
      if (m[5] && m[5] !== "-") lease.hostname = m[5];
      if (m[6] && m[6] !== "-") lease.clientId = m[6];
      rows.push(lease);
    }
    return rows;
  }

  // ---- pools and volumes ------------------------------------------------------------------

  async listPools(): Promise<PoolSummary[]> {
    const out = await this.run(["pool-list", "--all", "--name"]);
    const pools: PoolSummary[] = [];
    for (const name of out.split("\n").map((s) => s.trim()).filter(Boolean)) {
      const kv = keyValues(await this.run(["pool-info", "--pool", name, "--bytes"]));
      const p: PoolSummary = { name, state: kv.State ?? "", autostart: kv.Autostart === "yes", persistent: kv.Persistent === "yes" };
      if (kv.Capacity) p.capacityBytes = Number(kv.Capacity);
      if (kv.Allocation) p.allocationBytes = Number(kv.Allocation);
      if (kv.Available) p.availableBytes = Number(kv.Available);
      pools.push(p);
    }
    return pools;
  }
  async poolXml(name: string): Promise<string> {
    return this.run(["pool-dumpxml", "--pool", checkName(name)]);
  }
  async definePool(xml: string): Promise<string> {
    const name = checkName(text(child(parseLibvirtXml(xml, "pool"), "name")) ?? "", "pool name");
    await this.withXmlFile(xml, (file) => this.run(["pool-define", "--file", file, "--validate"]));
    return name;
  }
  async buildPool(name: string): Promise<void> {
    await this.run(["pool-build", "--pool", checkName(name)]);
  }
  async startPool(name: string): Promise<void> {
    await this.run(["pool-start", "--pool", checkName(name)]);
  }
  async stopPool(name: string): Promise<void> {
    await this.run(["pool-destroy", "--pool", checkName(name)]);
  }
  async deletePool(name: string): Promise<void> {
    await this.run(["pool-delete", "--pool", checkName(name)]);
  }
  async undefinePool(name: string): Promise<void> {
    await this.run(["pool-undefine", "--pool", checkName(name)]);
  }
  async setPoolAutostart(name: string, enabled: boolean): Promise<void> {
    await this.run(["pool-autostart", "--pool", checkName(name), ...(enabled ? [] : ["--disable"])]);
  }
  async refreshPool(name: string): Promise<void> {
    await this.run(["pool-refresh", "--pool", checkName(name)]);
  }
  async listVolumes(pool: string): Promise<VolumeSummary[]> {
    const out = await this.run(["vol-list", "--pool", checkName(pool, "pool name"), "--details"]);
    const vols: VolumeSummary[] = [];
    for (const line of out.split("\n")) {
      // Name  Path  Type  Capacity  Allocation (sizes like "1.00 GiB")
      const m = /^\s*(\S+)\s+(\/\S*)\s+(\S+)\s+([\d.]+ \S+)\s+([\d.]+ \S+)\s*$/.exec(line);
      if (!m) continue;
      const kv = keyValues(await this.run(["vol-info", "--pool", pool, "--vol", m[1]!, "--bytes"]));
      vols.push({ name: m[1]!, path: m[2]!, type: m[3]!, capacityBytes: parseInt(kv.Capacity ?? "0", 10), allocationBytes: parseInt(kv.Allocation ?? "0", 10) });
    }
    return vols;
  }
  async volumeXml(pool: string, volume: string): Promise<string> {
    return this.run(["vol-dumpxml", "--pool", checkName(pool, "pool name"), "--vol", checkName(volume, "volume name")]);
  }
  async createVolume(pool: string, xml: string): Promise<string> {
    const name = checkName(text(child(parseLibvirtXml(xml, "volume"), "name")) ?? "", "volume name");
    await this.withXmlFile(xml, (file) => this.run(["vol-create", "--pool", checkName(pool, "pool name"), "--file", file], { long: true }));
    return name;
  }
  async deleteVolume(pool: string, volume: string): Promise<void> {
    await this.run(["vol-delete", "--pool", checkName(pool, "pool name"), "--vol", checkName(volume, "volume name")]);
  }
  async resizeVolume(pool: string, volume: string, bytes: number): Promise<void> {
    await this.run(["vol-resize", "--pool", checkName(pool, "pool name"), "--vol", checkName(volume, "volume name"), "--capacity", `${bytes}B`]);
  }
  async uploadVolume(pool: string, volume: string, file: string): Promise<void> {
    await this.run(["vol-upload", "--pool", checkName(pool, "pool name"), "--vol", checkName(volume, "volume name"), "--file", checkArg(file, "file")], { long: true });
  }
  async volumeByPath(path: string): Promise<{ pool: string; volume: string } | undefined> {
    checkArg(path, "volume path");
    try {
      const pool = (await this.run(["vol-pool", "--vol", path])).trim();
      const volume = (await this.run(["vol-name", "--vol", path])).trim();
      return pool && volume ? { pool, volume } : undefined;
    } catch (err) {
      if (err instanceof LibvirtError && err.code === "not-found") return undefined;
      throw err;
    }
  }
}

// ---- output parsing -----------------------------------------------------------------------

/** `virsh domblklist --details` rows (the header is gone with -q). */
export function parseDomBlkList(out: string): BlockDeviceRow[] {
  const rows: BlockDeviceRow[] = [];
  for (const line of out.split("\n")) {
    const m = /^\s*(\S+)\s+(\S+)\s+(\S+)\s+(.+?)\s*$/.exec(line);
    if (!m || m[1] === "Type" || /^-+$/.test(m[1]!)) continue;
    rows.push({ type: m[1]!, device: m[2]!, target: m[3]!, ...(m[4] !== "-" ? { source: m[4]! } : {}) });
  }
  return rows;
}

/** `virsh domjobinfo` key/values: sizes like "123.456 MiB", times like "1234 ms", rates like "32.000 MiB/s". */
export function parseJobInfo(kv: Record<string, string>): JobInfo {
  const bytes = (k: string): number | undefined => {
    const m = /^([\d.]+)\s*(B|KiB|MiB|GiB|TiB)(\/s)?$/.exec(kv[k] ?? "");
    return m ? Math.round(Number(m[1]) * 1024 ** ["B", "KiB", "MiB", "GiB", "TiB"].indexOf(m[2]!)) : undefined;
  };
  const ms = (k: string): number | undefined => {
    const m = /^(\d+)\s*ms$/.exec(kv[k] ?? "");
    return m ? Number(m[1]) : undefined;
  };
  const info: JobInfo = { type: kv["Job type"] ?? "None" };
  const set = <K extends keyof JobInfo>(k: K, v: JobInfo[K] | undefined): void => {
    if (v !== undefined) info[k] = v;
  };
  set("operation", kv["Operation"]);
  set("elapsedMs", ms("Time elapsed"));
  set("dataTotal", bytes("Data total"));
  set("dataProcessed", bytes("Data processed"));
  set("dataRemaining", bytes("Data remaining"));
  set("memoryTotal", bytes("Memory total"));
  set("memoryProcessed", bytes("Memory processed"));
  set("memoryRemaining", bytes("Memory remaining"));
  set("memoryBandwidth", bytes("Memory bandwidth"));
  set("iteration", kv["Iteration"] !== undefined ? Number(kv["Iteration"]) : undefined);
  set("downtimeMs", ms("Total downtime"));
  return info;
}

function kibField(v: string | undefined): number {
  return v ? parseInt(v, 10) * 1024 : 0;
}

const STATES: DomainState[] = ["running", "idle", "paused", "in shutdown", "shut off", "crashed", "pmsuspended", "dying", "blocked"];

export function toState(s: string | undefined): DomainState {
  const t = (s ?? "").replace(/\s*\(.*\)\s*$/, "").trim();
  return (STATES as string[]).includes(t) ? (t as DomainState) : "unknown";
}

function scopeFlags(scope: ChangeScope): string[] {
  return scope === "live" ? ["--live"] : scope === "config" ? ["--config"] : ["--live", "--config"];
}

function checkDescription(d: string): string {
  if (/[\x00-\x08\x0b-\x1f\x7f]/.test(d)) throw new LibvirtError("invalid-argument", "description contains control characters");
  return d;
}

function parseXmlOrThrow(xml: string): void {
  // Any root will do for a device; parseLibvirtXml checks well-formedness and rejects DTDs.
  const root = /<\s*([A-Za-z_][\w.-]*)/.exec(xml)?.[1] ?? "";
  parseLibvirtXml(xml, root);
}
