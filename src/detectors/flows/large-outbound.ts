// Large outbound transfers: the side that opened the connections sent a lot to one destination,
// in one connection or summed over a window, and far more than it received (an upload, not a
// download or a two-way sync). Counters come from conntrack's accounting (nf_conntrack_acct) on
// update and end events; each connection's counters are cumulative, so only their growth counts.

import type { Detection } from "../../events/alert.js";
import type { HvEvent } from "../../events/event.js";
import { BoundedMap, SWEEP_MS, compileAllow, isInternal, connectionKey, eventMs, formatBytes, formatDuration, isFlow, Sample, VmSeen } from "./common.js";
import type { LargeOutboundConfig } from "./config.js";
import type { FlowDetector } from "./port-scan.js";

export const LARGE_OUTBOUND_RULE = {
  id: "flow:large-outbound",
  title: "Large outbound transfer",
  source: "flow",
  description: "A source sent a large amount of data to one destination",
  tags: ["attack.exfiltration", "attack.t1048", "attack.t1041"],
};

const BUCKET_MS = 60_000;
const MAX_CONNECTIONS = 1024;

interface Bucket {
  ms: number;
  sent: number;
  recv: number;
}

interface Pair {
  srcIp: string;
  dstIp: string;
  internal: boolean;
  buckets: Bucket[];
  sent: number;
  recv: number;
  /** Counters last seen per open connection. */
  open: Map<string, { sent: number; recv: number }>;
  ports: Set<string>;
  vm: VmSeen;
  sample: Sample;
  lastMs: number;
  firedMs?: number;
}

export function createLargeOutboundDetector(cfg: LargeOutboundConfig, maxKeys: number): FlowDetector {
  const pairs = new BoundedMap<string, Pair>(maxKeys);
  const allowed = compileAllow(cfg.allow);

  const expire = (p: Pair, nowMs: number): void => {
    while (p.buckets.length > 0 && p.buckets[0]!.ms < nowMs - cfg.window) {
      const b = p.buckets.shift()!;
      p.sent -= b.sent;
      p.recv -= b.recv;
    }
  };

  const add = (p: Pair, ms: number, sent: number, recv: number): void => {
    const last = p.buckets[p.buckets.length - 1];
    if (last && ms - last.ms < BUCKET_MS) {
      last.sent += sent;
      last.recv += recv;
    } else p.buckets.push({ ms, sent, recv });
    p.sent += sent;
    p.recv += recv;
    expire(p, ms);
  };

  const upload = (sent: number, recv: number): boolean => sent >= cfg.minRatio * Math.max(recv, 1);

  const fire = (p: Pair, what: string): Detection => ({
    rule: LARGE_OUTBOUND_RULE,
    severity: p.sent >= (p.internal ? cfg.internalBytes : cfg.bytes) * 10 ? "high" : p.internal ? "low" : "medium",
    events: p.sample.events(),
    entity: p.vm.entity(p.srcIp),
    summary: what,
  });

  return {
    name: "flow-large-outbound",
    onEvent(e: HvEvent) {
      if (!isFlow(e) || allowed(e)) return [];
      const ms = eventMs(e);
      if (Number.isNaN(ms)) return [];
      const srcIp = e.source!.ip!;
      const dstIp = e.destination!.ip!;
      const p = pairs.touch(`${srcIp}|${dstIp}`, () => ({ srcIp, dstIp, internal: isInternal(dstIp), buckets: [], sent: 0, recv: 0, open: new Map(), ports: new Set(), vm: new VmSeen(), sample: new Sample(), lastMs: ms }));
      p.lastMs = Math.max(p.lastMs, ms);
      p.vm.add(e);
      const sentNow = e.source?.bytes;
      const recvNow = e.destination?.bytes;
      const ck = connectionKey(e);
      if (sentNow === undefined && recvNow === undefined) {
        if (e.flow?.phase === "end") p.open.delete(ck);
        expire(p, ms);
        return [];
      }
      const before = p.open.get(ck) ?? { sent: 0, recv: 0 };
      const total = { sent: Math.max(before.sent, sentNow ?? 0), recv: Math.max(before.recv, recvNow ?? 0) };
      if (e.flow?.phase === "end") p.open.delete(ck);
      else {
        p.open.delete(ck);
        p.open.set(ck, total);
        if (p.open.size > MAX_CONNECTIONS) p.open.delete(p.open.keys().next().value as string);
      }
      const dSent = total.sent - before.sent;
      const dRecv = total.recv - before.recv;
      if (dSent > 0 || dRecv > 0) add(p, ms, dSent, dRecv);
      else expire(p, ms);
      if (dSent > 0) {
        p.sample.add(e);
        if (p.ports.size < 16) p.ports.add(`${e.destination?.port ?? ""}/${e.network?.transport ?? "?"}`);
      }
      if (p.firedMs !== undefined && ms - p.firedMs < cfg.window) return [];
      const ports = [...p.ports].join(", ");
      const flowLimit = p.internal ? cfg.internalFlowBytes : cfg.flowBytes;
      const windowLimit = p.internal ? cfg.internalBytes : cfg.bytes;
      if (total.sent >= flowLimit && upload(total.sent, total.recv)) {
        p.firedMs = ms;
        const dur = e.flow?.duration_ms !== undefined ? ` over ${formatDuration(e.flow.duration_ms)}` : "";
        return [fire(p, `${srcIp} sent ${formatBytes(total.sent)} to ${dstIp}:${e.destination?.port ?? ""}/${e.network?.transport ?? "?"} in one connection${dur}, received ${formatBytes(total.recv)}`)];
      }
      if (p.sent >= windowLimit && upload(p.sent, p.recv)) {
        p.firedMs = ms;
        const span = p.buckets.length > 0 ? ms - p.buckets[0]!.ms : 0;
        return [fire(p, `${srcIp} sent ${formatBytes(p.sent)} to ${dstIp} (${ports}) within ${formatDuration(Math.max(span, BUCKET_MS))}, received ${formatBytes(p.recv)}`)];
      }
      return [];
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
