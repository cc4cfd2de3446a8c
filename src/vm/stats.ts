import type { BlockStats, DomainState, DomainStats, InterfaceStats } from "./backend.js";

// `virsh domstats --raw` prints `Domain: 'name'` then `  group.field=value` lines; numbered groups
// (block.0.*, net.1.*) become arrays.

// virDomainState enum, in libvirt's order.
const STATE_BY_NUMBER: DomainState[] = ["unknown", "running", "blocked", "paused", "in shutdown", "shut off", "crashed", "pmsuspended"];

export function parseDomainStats(out: string): DomainStats {
  const raw: Record<string, string> = {};
  let name = "";
  for (const line of out.split("\n")) {
    const d = /^Domain:\s*'(.*)'\s*$/.exec(line);
    if (d) {
      name = d[1]!;
      continue;
    }
    const i = line.indexOf("=");
    if (i > 0) raw[line.slice(0, i).trim()] = line.slice(i + 1).trim();
  }
  const num = (k: string): number | undefined => (raw[k] === undefined ? undefined : Number(raw[k]));
  const n0 = (k: string): number => num(k) ?? 0;
  const blocks: BlockStats[] = [];
  for (let i = 0; i < n0("block.count"); i++) {
    const p = `block.${i}.`;
    const b: BlockStats = { name: raw[p + "name"] ?? "", readBytes: n0(p + "rd.bytes"), writeBytes: n0(p + "wr.bytes"), readRequests: n0(p + "rd.reqs"), writeRequests: n0(p + "wr.reqs") };
    if (raw[p + "path"]) b.path = raw[p + "path"];
    if (num(p + "capacity") !== undefined) b.capacityBytes = num(p + "capacity")!;
    if (num(p + "allocation") !== undefined) b.allocationBytes = num(p + "allocation")!;
    blocks.push(b);
  }
  const interfaces: InterfaceStats[] = [];
  for (let i = 0; i < n0("net.count"); i++) {
    const p = `net.${i}.`;
    interfaces.push({
      name: raw[p + "name"] ?? "",
      rxBytes: n0(p + "rx.bytes"), txBytes: n0(p + "tx.bytes"), rxPackets: n0(p + "rx.pkts"), txPackets: n0(p + "tx.pkts"),
      rxErrors: n0(p + "rx.errs"), txErrors: n0(p + "tx.errs"), rxDrops: n0(p + "rx.drop"), txDrops: n0(p + "tx.drop"),
    });
  }
  const stats: DomainStats = {
    name,
    state: STATE_BY_NUMBER[n0("state.state")] ?? "unknown",
    cpu: { timeNs: n0("cpu.time") },
    vcpus: {},
    memory: {},
    blocks,
    interfaces,
    raw,
  };
  if (num("cpu.user") !== undefined) stats.cpu.userNs = num("cpu.user")!;
  if (num("cpu.system") !== undefined) stats.cpu.systemNs = num("cpu.system")!;
  if (num("vcpu.current") !== undefined) stats.vcpus.current = num("vcpu.current")!;
  if (num("vcpu.maximum") !== undefined) stats.vcpus.maximum = num("vcpu.maximum")!;
  // balloon.* values are KiB.
  const kib = (k: string, key: keyof DomainStats["memory"]): void => {
    if (num(k) !== undefined) stats.memory[key] = num(k)! * 1024;
  };
  kib("balloon.current", "currentBytes");
  kib("balloon.maximum", "maximumBytes");
  kib("balloon.rss", "rssBytes");
  kib("balloon.available", "availableBytes");
  kib("balloon.unused", "unusedBytes");
  return stats;
}
