// DNS tunnelling and exfiltration from flows. conntrack does not see names, but it sees what they
// cost: a query for an ordinary name is 60–100 bytes on the wire, while a tunnel packs data into
// names up to 253 characters, so its queries average 150–300 bytes. Per VM and DNS server, over a
// window: the payload its long queries carried beyond an ordinary query's size, and whether one
// flow (one source port) carried hundreds of queries — stub resolvers take a new port for each
// lookup; tunnel clients such as iodine keep one socket for the whole session. Servers other than
// the VM's resolver (configured, or learned as the one it asks most) get lower thresholds: a VM
// talking DNS straight to the internet is already unusual.
//
// Only VMs are judged: the host's own resolver forwards its VMs' queries upstream, so a tunnel
// through it would show twice; the VM is the end that matters.

import type { Detection } from "../../events/alert.js";
import type { HvEvent } from "../../events/event.js";
import { inNetwork, parseCidr, type Network } from "../sigma/cidr.js";
import { BoundedMap, SWEEP_MS, compileAllow, endpoint, eventMs, formatBytes, formatDuration, isFlow, Sample } from "./common.js";
import type { DnsTunnelConfig } from "./config.js";
import type { FlowDetector } from "./port-scan.js";

export const DNS_TUNNEL_RULE = {
  id: "flow:dns-tunnel",
  title: "DNS tunnelling or exfiltration (data in DNS queries)",
  source: "flow",
  description: "A VM sent data in DNS queries: long queries adding up, or one flow carrying hundreds of queries",
  tags: ["attack.exfiltration", "attack.t1048.003", "attack.command_and_control", "attack.t1071.004", "attack.t1572"],
};

/** DNS servers remembered per VM for learning its resolver. */
const MAX_SERVERS = 16;
const MAX_FLOWS = 4096;

interface EndedFlow {
  ms: number;
  startMs: number;
  server: string;
  queries: number;
  /** The flow's queries when they average longer than ordinary ones, else 0. */
  streamed: number;
  sent: number;
  received: number;
  /** Bytes beyond an ordinary query's size, when the flow's queries were long. */
  payload: number;
}

interface VmDns {
  vm: string;
  srcIp: string;
  /** Ordinary lookups (flows) per server: the most asked is the VM's resolver. */
  servers: Map<string, number>;
  flows: EndedFlow[];
  sample: Map<string, Sample>;
  firedMs: Map<string, number>;
  lastMs: number;
}

export function createDnsTunnelDetector(cfg: DnsTunnelConfig, maxKeys: number): FlowDetector {
  const ports = new Set(cfg.ports);
  const allowed = compileAllow(cfg.allow);
  const resolvers: Network[] = cfg.resolvers.map((r, i) => {
    const n = parseCidr(r);
    if (!n) throw new Error(`dnsTunnel.resolvers[${i}]: not an address or CIDR: ${r}`);
    return n;
  });
  const vms = new BoundedMap<string, VmDns>(maxKeys);

  const isResolver = (s: VmDns, server: string): boolean => {
    if (resolvers.length > 0) return resolvers.some((n) => inNetwork(n, server));
    let best: string | undefined;
    let most = 0;
    for (const [ip, n] of s.servers) {
      if (n > most) {
        most = n;
        best = ip;
      }
    }
    return best === undefined || best === server;
  };

  const judge = (s: VmDns, server: string, ms: number, e: HvEvent): Detection | undefined => {
    const fired = s.firedMs.get(server);
    if (fired !== undefined && ms - fired < cfg.window) return undefined;
    const resolver = isResolver(s, server);
    const factor = resolver ? 1 : cfg.offResolverFactor;
    let queries = 0;
    let sent = 0;
    let received = 0;
    let payload = 0;
    let longest = 0;
    let first = Infinity;
    let longFlows = 0;
    for (const f of s.flows) {
      if (f.server !== server) continue;
      queries += f.queries;
      sent += f.sent;
      received += f.received;
      payload += f.payload;
      if (f.payload > 0) longFlows++;
      longest = Math.max(longest, f.streamed);
      first = Math.min(first, f.startMs);
    }
    const byPayload = payload * factor >= cfg.payloadBytes;
    const byFlow = longest * factor >= cfg.flowQueries;
    if (!byPayload && !byFlow) return undefined;
    s.firedMs.set(server, ms);
    const why = [byPayload ? `${formatBytes(payload)} beyond ordinary queries in ${longFlows} flow(s) of long queries` : "", byFlow ? `one flow carried ${longest} queries` : ""].filter(Boolean).join("; ");
    const ratio = received > 0 ? (sent / received).toFixed(2) : "∞";
    return {
      rule: DNS_TUNNEL_RULE,
      severity: payload * factor >= cfg.payloadBytes * 8 || (byPayload && byFlow) ? "high" : "medium",
      events: s.sample.get(server)?.events() ?? [e],
      entity: { kind: "vm", id: s.vm },
      target: endpoint(server, e.destination?.port, e.network?.transport),
      summary: `${s.vm} (${s.srcIp}) sent ${queries} DNS queries averaging ${Math.round(sent / Math.max(1, queries))} bytes to ${endpoint(server, e.destination?.port, e.network?.transport)} (${resolver ? "its resolver" : "not its resolver"}) in ${formatDuration(ms - first)}: ${why}; ${formatBytes(sent)} up, ${formatBytes(received)} down (up/down ${ratio})`,
    };
  };

  return {
    name: "flow-dns-tunnel",
    onEvent(e) {
      if (!isFlow(e) || e.vm?.side !== "source" || !e.vm.name) return [];
      const port = e.destination?.port;
      if (port === undefined || !ports.has(port) || allowed(e)) return [];
      const ms = eventMs(e);
      if (Number.isNaN(ms)) return [];
      const srcIp = e.source!.ip!;
      const server = e.destination!.ip!;
      const s = vms.touch(`${e.vm.name}|${srcIp}`, () => ({ vm: e.vm!.name!, srcIp, servers: new Map(), flows: [], sample: new Map(), firedMs: new Map(), lastMs: ms }));
      s.lastMs = ms;
      const queries = e.source?.packets;
      const sent = e.source?.bytes;
      if (e.flow?.phase !== "end" || !queries || sent === undefined) return [];
      const avg = sent / queries;
      const payload = avg >= cfg.longQueryBytes ? Math.max(0, sent - queries * cfg.queryBytes) : 0;
      // Many queries on one port count when they are longer than ordinary ones (c-ares, in Node.js
      // and others, reuses a socket for many ordinary lookups).
      const streamed = avg >= cfg.queryBytes ? queries : 0;
      // Ordinary lookups say which server is the VM's resolver (a tunnel's own queries must not).
      if (payload === 0 && streamed < cfg.flowQueries && (s.servers.has(server) || s.servers.size < MAX_SERVERS)) s.servers.set(server, (s.servers.get(server) ?? 0) + 1);
      const startMs = e.flow.duration_ms !== undefined ? ms - e.flow.duration_ms : ms;
      s.flows.push({ ms, startMs, server, queries, streamed, sent, received: e.destination?.bytes ?? 0, payload });
      while (s.flows.length > 0 && (s.flows[0]!.ms < ms - cfg.window || s.flows.length > MAX_FLOWS)) s.flows.shift();
      if (payload === 0 && streamed * cfg.offResolverFactor < cfg.flowQueries) return [];
      let sample = s.sample.get(server);
      if (!sample) s.sample.set(server, (sample = new Sample()));
      sample.add(e);
      const d = judge(s, server, ms, e);
      return d ? [d] : [];
    },
    tick(nowMs) {
      vms.sweep(nowMs, SWEEP_MS, (s) => s.lastMs < nowMs - cfg.window && s.servers.size === 0);
      for (const [, s] of vms.entries()) {
        while (s.flows.length > 0 && s.flows[0]!.ms < nowMs - cfg.window) s.flows.shift();
      }
      return [];
    },
    tracked() {
      return vms.size;
    },
  };
}
