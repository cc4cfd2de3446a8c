// The VMs of this host, for VM attribution (src/events/inventory.ts). InventoryIndex answers
// lookups from a list of records; LibvirtInventory fills it from virsh and the qemu pid files;
// loadInventoryFile reads the static `--inventory VMS.json` form used when replaying without libvirt.

import { MAX_DOCUMENT_BYTES, readTextCapped } from "../../events/input.js";
import { readFile, readdir } from "node:fs/promises";
import { join } from "node:path";
import type { Inventory, VmInterface, VmRecord } from "../../events/inventory.js";
import { LibvirtError } from "../../events/libvirt-error.js";
import { keyValues, parseDomIfList, runVirsh, type VirshCall } from "../../events/virsh.js";

/** Lookups over a set of VmRecords; MACs compare case-insensitively. */
export class InventoryIndex implements Inventory {
  private records = new Map<string, VmRecord>();
  private idx = { uuid: new Map<string, VmRecord>(), pid: new Map<number, VmRecord>(), tap: new Map<string, VmRecord>(), mac: new Map<string, VmRecord>(), ip: new Map<string, VmRecord>() };

  constructor(records: VmRecord[] = []) {
    // Not this.replace(): a subclass's override would run before its own fields exist.
    this.records = new Map(records.map((r) => [r.name, r]));
    this.reindex();
  }

  all(): VmRecord[] {
    return [...this.records.values()];
  }
  byName(name: string): VmRecord | undefined {
    return this.records.get(name);
  }
  byUuid(uuid: string): VmRecord | undefined {
    return this.idx.uuid.get(uuid.toLowerCase());
  }
  byPid(pid: number): VmRecord | undefined {
    return this.idx.pid.get(pid);
  }
  byTap(device: string): VmRecord | undefined {
    return this.idx.tap.get(device);
  }
  byMac(mac: string): VmRecord | undefined {
    return this.idx.mac.get(mac.toLowerCase());
  }
  byIp(ip: string): VmRecord | undefined {
    return this.idx.ip.get(ip);
  }

  replace(records: VmRecord[]): void {
    this.records = new Map(records.map((r) => [r.name, r]));
    this.reindex();
  }

  /** Adds or replaces one domain's record; `undefined` removes it. */
  set(name: string, record: VmRecord | undefined): void {
    if (record) this.records.set(name, record);
    else this.records.delete(name);
    this.reindex();
  }

  private reindex(): void {
    for (const m of Object.values(this.idx)) m.clear();
    for (const r of this.records.values()) {
      this.idx.uuid.set(r.uuid.toLowerCase(), r);
      if (r.qemuPid !== undefined) this.idx.pid.set(r.qemuPid, r);
      for (const i of r.interfaces) {
        if (i.tap) this.idx.tap.set(i.tap, r);
        if (i.mac) this.idx.mac.set(i.mac.toLowerCase(), r);
        for (const ip of addressesOf(i)) this.idx.ip.set(ip, r);
      }
    }
  }
}

/** An interface's guest addresses, whichever form the record used. */
export function addressesOf(i: VmInterface): string[] {
  const ips = i.ips ?? [];
  return i.ip && !ips.includes(i.ip) ? [...ips, i.ip] : ips;
}

/**
 * Reads `--inventory VMS.json`: a JSON array of {"name","uuid","interfaces":[{"tap","mac","ip"}]}
 * (qemuPid and state optional). Throws with the file name and the reason when it does not fit.
 */
export function loadInventoryFile(path: string): InventoryIndex {
  let data: unknown;
  try {
    data = JSON.parse(readTextCapped(path, MAX_DOCUMENT_BYTES, path));
  } catch (err) {
    throw new Error(`inventory ${path}: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (!Array.isArray(data)) throw new Error(`inventory ${path}: expected a JSON array of VMs`);
  const records = data.map((v: unknown, n): VmRecord => {
    const o = (v ?? {}) as Record<string, unknown>;
    if (typeof o.name !== "string" || typeof o.uuid !== "string") throw new Error(`inventory ${path}: entry ${n} needs "name" and "uuid" strings`);
    const rec: VmRecord = { name: o.name, uuid: o.uuid, interfaces: [] };
    if (typeof o.state === "string") rec.state = o.state;
    if (typeof o.qemuPid === "number") rec.qemuPid = o.qemuPid;
    for (const i of Array.isArray(o.interfaces) ? (o.interfaces as Record<string, unknown>[]) : []) {
      const iface: VmInterface = {};
      for (const k of ["tap", "mac", "ip", "network", "bridge"] as const) if (typeof i[k] === "string") iface[k] = i[k];
      if (Array.isArray(i.ips)) iface.ips = i.ips.filter((x): x is string => typeof x === "string");
      rec.interfaces.push(iface);
    }
    return rec;
  });
  return new InventoryIndex(records);
}

export interface LibvirtInventoryOptions extends VirshCall {
  /** Where libvirt's qemu driver writes NAME.pid (default /run/libvirt/qemu). */
  runDir?: string;
  procDir?: string;
}

/** The inventory as libvirt sees it now; refresh() after (re)connecting and on lifecycle events. */
export class LibvirtInventory extends InventoryIndex {
  private readonly runDir: string;
  private readonly procDir: string;
  // Uuids of domains seen, kept after they go: the event that removes a domain (Undefined) may be
  // read after a refresh already dropped it, and must still carry its uuid.
  private readonly seen = new Map<string, string>();

  constructor(private readonly opts: LibvirtInventoryOptions) {
    super();
    this.runDir = opts.runDir ?? "/run/libvirt/qemu";
    this.procDir = opts.procDir ?? "/proc";
  }

  /** One virsh call. The inventory is re-read on every lifecycle event, so it gives up sooner than the VM backend. */
  private virsh(args: string[]): Promise<string> {
    return runVirsh(args, { ...this.opts, timeoutMs: this.opts.timeoutMs ?? 10_000 });
  }

  /** The domain's uuid now, or the last one it had. */
  uuidOf(name: string): string | undefined {
    return this.byName(name)?.uuid ?? this.seen.get(name);
  }

  override replace(records: VmRecord[]): void {
    super.replace(records);
    this.remember(records);
  }

  override set(name: string, record: VmRecord | undefined): void {
    super.set(name, record);
    if (record) this.remember([record]);
  }

  private remember(records: VmRecord[]): void {
    for (const r of records) {
      if (!r.uuid) continue;
      this.seen.delete(r.name);
      this.seen.set(r.name, r.uuid);
    }
    while (this.seen.size > 4096) this.seen.delete(this.seen.keys().next().value as string);
  }

  /** Reads every domain; throws when libvirtd cannot be reached (the records are then kept). */
  async refresh(): Promise<VmRecord[]> {
    const list = await this.virsh(["list", "--all", "--uuid", "--name"]);
    const names = list.split("\n").map((l) => /^(\S+) (.+)$/.exec(l.trim())).filter((m) => m !== null).map((m) => ({ uuid: m[1]!, name: m[2]! }));
    const records: VmRecord[] = [];
    for (const { name, uuid } of names) {
      // A domain undefined between the two calls is simply left out.
      const r = await this.read(name, uuid).catch(() => undefined);
      if (r) records.push(r);
    }
    this.replace(records);
    return records;
  }

  /** Re-reads one domain (after its lifecycle event); removes it when libvirt no longer has it. */
  async refreshDomain(name: string): Promise<VmRecord | undefined> {
    let info: string;
    try {
      info = await this.virsh(["dominfo", "--domain", name]);
    } catch (err) {
      if (err instanceof LibvirtError && err.code === "not-found") {
        this.set(name, undefined);
        return undefined;
      }
      throw err;
    }
    const rec = await this.read(name, undefined, info);
    this.set(name, rec);
    return rec;
  }

  private async read(name: string, uuid: string | undefined, info?: string): Promise<VmRecord> {
    const fields = keyValues(info ?? (await this.virsh(["dominfo", "--domain", name])));
    const rec: VmRecord = { name, uuid: fields.UUID ?? uuid ?? "", interfaces: [] };
    if (fields.State) rec.state = fields.State;
    const running = fields.Id !== undefined && fields.Id !== "-";
    if (!running) return rec;
    const pid = (await this.pidFromFile(name)) ?? (await this.pidFromProc(rec.uuid));
    if (pid !== undefined) rec.qemuPid = pid;
    rec.interfaces = interfacesOf(await this.virsh(["domiflist", "--domain", name]));
    if (rec.interfaces.length > 0) await this.addAddresses(name, rec.interfaces);
    return rec;
  }

  private async pidFromFile(name: string): Promise<number | undefined> {
    const text = await readFile(join(this.runDir, `${name}.pid`), "utf8").catch(() => "");
    const pid = Number(text.trim());
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  }

  /** Without the pid file (another run dir, a session URI): the process whose command line has `-uuid UUID`. */
  private async pidFromProc(uuid: string): Promise<number | undefined> {
    if (!uuid) return undefined;
    for (const entry of await readdir(this.procDir).catch(() => [] as string[])) {
      if (!/^\d+$/.test(entry)) continue;
      const argv = (await readFile(join(this.procDir, entry, "cmdline"), "utf8").catch(() => "")).split("\0");
      const i = argv.indexOf("-uuid");
      if (i !== -1 && argv[i + 1]?.toLowerCase() === uuid.toLowerCase() && /qemu/.test(argv[0] ?? "")) return Number(entry);
    }
    return undefined;
  }

  /** Guest IPs: the network's DHCP leases first, then the host's ARP table; a guest agent is not assumed. */
  private async addAddresses(name: string, ifaces: VmInterface[]): Promise<void> {
    for (const source of ["lease", "arp"]) {
      const out = await this.virsh(["domifaddr", "--domain", name, "--source", source]).catch(() => "");
      for (const { mac, ip } of parseDomifaddr(out)) {
        const i = ifaces.find((x) => x.mac?.toLowerCase() === mac.toLowerCase());
        if (!i) continue;
        i.ips ??= [];
        if (!i.ips.includes(ip)) i.ips.push(ip);
      }
      if (ifaces.some((i) => i.ips?.length)) return;
    }
  }
}

/** The interfaces of `virsh -q domiflist` as VM attribution keys them: tap, MAC (lower case), network or bridge. */
export function interfacesOf(domiflist: string): VmInterface[] {
  return parseDomIfList(domiflist).map((row) => {
    const i: VmInterface = { mac: row.mac.toLowerCase() };
    if (row.interface !== undefined) i.tap = row.interface;
    if (row.type === "network" && row.source !== "-") i.network = row.source;
    if (row.type === "bridge" && row.source !== "-") i.bridge = row.source;
    return i;
  });
}

/** `virsh -q domifaddr`: " vnet0  52:54:00:aa:bb:01  ipv4  10.0.0.5/24"; further addresses of the same interface have "-" for name and MAC. */
export function parseDomifaddr(text: string): Array<{ mac: string; ip: string }> {
  const out: Array<{ mac: string; ip: string }> = [];
  let mac = "";
  for (const line of text.split("\n")) {
    const cols = line.trim().split(/\s+/);
    if (cols.length < 4 || !/^ipv[46]$/.test(cols[2]!)) continue;
    if (cols[1] !== "-") mac = cols[1]!;
    if (mac) out.push({ mac, ip: cols[3]!.replace(/\/\d+$/, "") });
  }
  return out;
}
