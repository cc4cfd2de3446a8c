// What hv must never act against, whatever a playbook says: VMs, addresses and networks, users
// and programs. The playbook engine refuses an action on an allowlisted target, and the firewall's
// desired state leaves allowlisted VMs and addresses out again — two layers, so a bug in one
// cannot cut off what an administrator protected. By default the host's own addresses and the
// networks of its management interface (the one with the default route) are on it.

import { readFileSync } from "node:fs";
import { networkInterfaces } from "node:os";
import { parseEntry, type Interval, type IpFamily } from "./address.js";

export interface AllowlistSpec {
  /** VM names or UUIDs. */
  vms?: string[];
  /** Addresses and CIDRs. */
  networks?: string[];
  /** Host user names never locked. */
  users?: string[];
  /** Executables (absolute paths) never killed. */
  processes?: string[];
  /** Interfaces whose addresses and networks are protected; default: the default-route interface. */
  managementInterfaces?: string[];
  /** Protect every address of this host (default true). */
  hostAddresses?: boolean;
}

export interface Allowlist {
  /** Why the VM is protected, or undefined. */
  vm(vm: { name?: string; uuid?: string }): string | undefined;
  /** Why an address or CIDR is protected (any overlap with a protected network counts), or undefined. */
  address(entry: string): string | undefined;
  user(name: string): string | undefined;
  process(executable: string): string | undefined;
  /** Everything protected, for `hv quarantine list` and the docs. */
  describe(): { vms: string[]; networks: Array<{ entry: string; why: string }>; users: string[]; processes: string[] };
}

interface Protected {
  entry: string;
  family: IpFamily;
  interval: Interval;
  why: string;
}

export interface AllowlistSystem {
  /** Interface name → its addresses with prefix length ("192.0.2.2/24"). */
  interfaces(): Record<string, string[]>;
  /** Interfaces that carry a default route. */
  defaultRouteInterfaces(): string[];
}

export const LIVE_SYSTEM: AllowlistSystem = {
  interfaces() {
    const out: Record<string, string[]> = {};
    for (const [name, list] of Object.entries(networkInterfaces())) out[name] = (list ?? []).map((a) => a.cidr ?? a.address).map((c) => c.replace(/%[^/]*/, ""));
    return out;
  },
  defaultRouteInterfaces() {
    // /proc/net/route: Iface Destination Gateway … with Destination 00000000 for the default route.
    try {
      const lines = readFileSync("/proc/net/route", "utf8").split("\n").slice(1);
      return [...new Set(lines.map((l) => l.trim().split(/\s+/)).filter((f) => f[1] === "00000000" && f[7] === "00000000").map((f) => f[0]!))];
    } catch {
      return [];
    }
  },
};

export class AllowlistError extends Error {
  override name = "AllowlistError";
}

export function buildAllowlist(spec: AllowlistSpec = {}, system: AllowlistSystem = LIVE_SYSTEM): Allowlist {
  const nets: Protected[] = [];
  const add = (entry: string, why: string): void => {
    const p = parseEntry(entry);
    if (!p) throw new AllowlistError(`allowlist: "${entry}" is not an address or CIDR`);
    nets.push({ entry, family: p.family, interval: p.interval, why });
  };
  for (const n of spec.networks ?? []) add(n, "allowlisted network");
  const ifaces = system.interfaces();
  if (spec.hostAddresses !== false) {
    for (const [name, cidrs] of Object.entries(ifaces)) for (const c of cidrs) add(c.replace(/\/\d+$/, ""), `this host's address (${name})`);
  }
  for (const name of spec.managementInterfaces ?? system.defaultRouteInterfaces()) {
    for (const c of ifaces[name] ?? []) add(c, `network of the management interface ${name}`);
  }
  const vms = new Set(spec.vms ?? []);
  const users = new Set(spec.users ?? []);
  const processes = new Set(spec.processes ?? []);
  return {
    vm(vm) {
      if (vm.name !== undefined && vms.has(vm.name)) return `VM ${vm.name} is allowlisted`;
      if (vm.uuid !== undefined && vms.has(vm.uuid)) return `VM ${vm.uuid} is allowlisted`;
      return undefined;
    },
    address(entry) {
      const p = parseEntry(entry);
      // Something that is not an address cannot be shown to be safe to block.
      if (!p) return `"${entry}" is not an address or CIDR`;
      // IPv4-mapped IPv6 (::ffff:a.b.c.d) is the IPv4 address.
      const mapped = p.family === "ip6" && p.interval.start >> 32n === 0xffffn && p.interval.end >> 32n === 0xffffn;
      const family: IpFamily = mapped ? "ip" : p.family;
      const iv = mapped ? { start: p.interval.start & 0xffffffffn, end: p.interval.end & 0xffffffffn } : p.interval;
      const hit = nets.find((n) => n.family === family && n.interval.start <= iv.end && iv.start <= n.interval.end);
      return hit ? `${entry} overlaps ${hit.entry} (${hit.why})` : undefined;
    },
    user: (name) => (users.has(name) || name === "root" ? `user ${name} is allowlisted${name === "root" ? " (root is never locked)" : ""}` : undefined),
    process: (exe) => (processes.has(exe) ? `${exe} is allowlisted` : undefined),
    describe: () => ({ vms: [...vms], networks: nets.map((n) => ({ entry: n.entry, why: n.why })), users: [...users, "root"], processes: [...processes] }),
  };
}
