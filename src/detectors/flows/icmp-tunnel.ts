// ICMP tunnelling: data carried in echo payloads. An ordinary ping is 84 bytes on the wire (56
// bytes of payload; Windows' 60), monitoring pings are that size, and a path-MTU check sends a few
// full-size packets. A tunnel (ptunnel, icmpsh, ping -p with data) sends large echoes for as long
// as it has data. Per source → destination over a window: the payload carried beyond an ordinary
// echo, both ways, in flows whose packets average large. conntrack reports an echo flow (one ping
// id) when it ends, 30 s after its last packet.

import type { Detection } from "../../events/alert.js";
import { BoundedMap, SWEEP_MS, compileAllow, eventMs, formatBytes, formatDuration, isFlow, Sample, VmSeen } from "./common.js";
import type { IcmpTunnelConfig } from "./config.js";
import type { FlowDetector } from "./port-scan.js";

export const ICMP_TUNNEL_RULE = {
  id: "flow:icmp-tunnel",
  title: "ICMP tunnelling (data in echo payloads)",
  source: "flow",
  description: "One source exchanged large amounts of data in ICMP echo payloads with one destination",
  tags: ["attack.exfiltration", "attack.t1048", "attack.command_and_control", "attack.t1095", "attack.t1572"],
};

const MAX_FLOWS = 1024;

interface Pair {
  srcIp: string;
  dstIp: string;
  flows: Array<{ ms: number; startMs: number; packets: number; bytes: number; payload: number }>;
  vm: VmSeen;
  sample: Sample;
  lastMs: number;
  firedMs?: number;
}

export function createIcmpTunnelDetector(cfg: IcmpTunnelConfig, maxKeys: number): FlowDetector {
  const allowed = compileAllow(cfg.allow);
  const pairs = new BoundedMap<string, Pair>(maxKeys);

  /** Payload beyond ordinary echoes in one direction of a flow, when its packets are large. */
  const payloadOf = (packets: number | undefined, bytes: number | undefined): number => {
    if (!packets || bytes === undefined || bytes / packets < cfg.largePacketBytes) return 0;
    return Math.max(0, bytes - packets * cfg.packetBytes);
  };

  return {
    name: "flow-icmp-tunnel",
    onEvent(e) {
      if (!isFlow(e) || e.flow?.phase !== "end") return [];
      const transport = e.network?.transport;
      if ((transport !== "icmp" && transport !== "ipv6-icmp") || allowed(e)) return [];
      const ms = eventMs(e);
      if (Number.isNaN(ms)) return [];
      const payload = payloadOf(e.source?.packets, e.source?.bytes) + payloadOf(e.destination?.packets, e.destination?.bytes);
      if (payload === 0) return [];
      const srcIp = e.source!.ip!;
      const dstIp = e.destination!.ip!;
      const p = pairs.touch(`${srcIp}|${dstIp}`, () => ({ srcIp, dstIp, flows: [], vm: new VmSeen(), sample: new Sample(), lastMs: ms }));
      p.lastMs = ms;
      p.vm.add(e);
      p.sample.add(e);
      const packets = (e.source?.packets ?? 0) + (e.destination?.packets ?? 0);
      const bytes = (e.source?.bytes ?? 0) + (e.destination?.bytes ?? 0);
      p.flows.push({ ms, startMs: e.flow.duration_ms !== undefined ? ms - e.flow.duration_ms : ms, packets, bytes, payload });
      while (p.flows.length > 0 && (p.flows[0]!.ms < ms - cfg.window || p.flows.length > MAX_FLOWS)) p.flows.shift();
      const total = p.flows.reduce((n, f) => n + f.payload, 0);
      if (total < cfg.payloadBytes || (p.firedMs !== undefined && ms - p.firedMs < cfg.window)) return [];
      p.firedMs = ms;
      const all = p.flows.reduce((n, f) => n + f.packets, 0);
      const allBytes = p.flows.reduce((n, f) => n + f.bytes, 0);
      const first = Math.min(...p.flows.map((f) => f.startMs));
      const d: Detection = {
        rule: ICMP_TUNNEL_RULE,
        severity: total >= cfg.payloadBytes * 16 ? "high" : "medium",
        events: p.sample.events(),
        entity: p.vm.entity(srcIp),
        target: dstIp,
        summary: `${srcIp} ⇄ ${dstIp}: ${p.flows.length} ICMP flow(s), ${all} packets averaging ${Math.round(allBytes / Math.max(1, all))} bytes in ${formatDuration(ms - first)}: ${formatBytes(total)} of payload beyond ordinary echoes (${formatBytes(allBytes)} in all)`,
      };
      return [d];
    },
    tick(nowMs) {
      pairs.sweep(nowMs, SWEEP_MS, (p) => p.lastMs < nowMs - cfg.window);
      return [];
    },
    tracked() {
      return pairs.size;
    },
  };
}
