// UDP floods: in a short window, one source opening very many UDP flows to one destination
// (floods that vary the source port make a conntrack entry per packet), or to any destinations
// (spraying, reflection), or sending one flow at a very high packet rate (its counters over its
// duration, known when conntrack reports them).

import type { Detection } from "../../events/alert.js";
import type { HvEvent } from "../../events/event.js";
import { BoundedMap, SWEEP_MS, compileAllow, connectionKey, eventMs, formatBytes, formatDuration, isFlow, Sample, startMs, VmSeen } from "./common.js";
import type { UdpFloodConfig } from "./config.js";
import type { FlowDetector } from "./port-scan.js";

export const UDP_FLOOD_RULE = {
  id: "flow:udp-flood",
  title: "UDP flood",
  source: "flow",
  description: "One source sent a flood of UDP flows or packets",
  tags: ["attack.impact", "attack.t1498", "attack.t1498.001"],
};

const BUCKET_MS = 1000;
/** One detection per source → destination (or source) at most this often. */
const QUIET_MS = 60_000;

/** Counts in one-second buckets: a flood of a million flows costs a handful of numbers. */
class RateWindow {
  private buckets: Array<{ ms: number; n: number }> = [];
  total = 0;
  add(ms: number, n = 1): void {
    const last = this.buckets[this.buckets.length - 1];
    if (last && ms - last.ms < BUCKET_MS && ms >= last.ms) last.n += n;
    else this.buckets.push({ ms, n });
    this.total += n;
  }
  expire(nowMs: number, windowMs: number): void {
    while (this.buckets.length > 0 && this.buckets[0]!.ms < nowMs - windowMs) this.total -= this.buckets.shift()!.n;
  }
  firstMs(): number | undefined {
    return this.buckets[0]?.ms;
  }
}

interface Counter {
  flows: RateWindow;
  /** Start times of flows that ended unanswered (their ends come a UDP timeout later, roughly in order). */
  unanswered: number[];
  destinations: Set<string>;
  ports: Set<number>;
  vm: VmSeen;
  sample: Sample;
  lastMs: number;
  firedMs?: number;
}

export function createUdpFloodDetector(cfg: UdpFloodConfig, maxKeys: number): FlowDetector {
  const pairs = new BoundedMap<string, Counter>(maxKeys);
  const sources = new BoundedMap<string, Counter>(maxKeys);
  // When each open UDP flow started, for its packet rate when conntrack has no duration.
  const starts = new BoundedMap<string, number>(maxKeys);
  const allowed = compileAllow(cfg.allow);

  const counter = (ms: number): Counter => ({ flows: new RateWindow(), unanswered: [], destinations: new Set(), ports: new Set(), vm: new VmSeen(), sample: new Sample(), lastMs: ms });

  const note = (c: Counter, e: HvEvent, ms: number, isNew: boolean): void => {
    c.lastMs = Math.max(c.lastMs, ms);
    c.vm.add(e);
    if (isNew) {
      c.flows.add(ms);
      if (c.destinations.size < 1024) c.destinations.add(e.destination!.ip!);
      if (c.ports.size < 1024 && e.destination?.port !== undefined) c.ports.add(e.destination.port);
      c.sample.add(e);
    }
    c.flows.expire(ms, cfg.window);
    if (c.flows.total === 0) {
      c.destinations.clear();
      c.ports.clear();
    }
  };

  const fire = (c: Counter, srcIp: string, summary: string, ms: number): Detection => {
    c.firedMs = ms;
    return { rule: UDP_FLOOD_RULE, severity: "high", events: c.sample.events(), entity: c.vm.entity(srcIp), summary };
  };

  const quiet = (c: Counter, ms: number): boolean => c.firedMs !== undefined && ms - c.firedMs < Math.max(cfg.window, QUIET_MS);

  return {
    name: "flow-udp-flood",
    onEvent(e) {
      if (!isFlow(e) || e.network?.transport !== "udp" || allowed(e)) return [];
      const ms = eventMs(e);
      if (Number.isNaN(ms)) return [];
      const srcIp = e.source!.ip!;
      const dstIp = e.destination!.ip!;
      const ck = connectionKey(e);
      const phase = e.flow?.phase;
      const isNew = phase === "new" || (phase === "end" && starts.get(ck) === undefined);
      if (phase === "new") starts.touch(ck, () => ms);
      const pair = pairs.touch(`${srcIp}|${dstIp}`, () => counter(ms));
      const src = sources.touch(srcIp, () => counter(ms));
      note(pair, e, ms, isNew);
      note(src, e, ms, isNew);
      const out: Detection[] = [];
      const span = (c: Counter): string => formatDuration(ms - (c.flows.firstMs() ?? ms));
      if (pair.flows.total >= cfg.flows && !quiet(pair, ms)) {
        out.push(fire(pair, srcIp, `${srcIp} opened ${pair.flows.total} UDP flows to ${dstIp} in ${span(pair)} (${pair.ports.size} destination ports)`, ms));
      } else if (src.flows.total >= cfg.fanoutFlows && src.destinations.size > 1 && !quiet(src, ms)) {
        out.push(fire(src, srcIp, `${srcIp} opened ${src.flows.total} UDP flows to ${src.destinations.size} destinations in ${span(src)}`, ms));
      }
      const unanswered = phase === "end" && (e.flow?.flags?.includes("UNREPLIED") || e.destination?.packets === 0);
      if (unanswered) {
        const began = e.flow?.duration_ms !== undefined || e.flow?.start ? startMs(e) : (starts.get(ck) ?? ms);
        // Kept sorted by start: ends arrive in expiry-sweep batches, not quite in start order.
        const u = pair.unanswered;
        let i = u.length;
        while (i > 0 && u[i - 1]! > began) i--;
        u.splice(i, 0, began);
        const newest = u[u.length - 1]!;
        while (u.length > 0 && (u[0]! < newest - cfg.window || u.length > cfg.unansweredFlows * 4)) u.shift();
        if (u.length >= cfg.unansweredFlows && !quiet(pair, ms)) {
          out.push(fire(pair, srcIp, `${srcIp} sent ${u.length} UDP flows to ${dstIp} within ${formatDuration(newest - u[0]!)} that were never answered`, ms));
        }
      }
      const packets = e.source?.packets;
      const minPackets = unanswered ? cfg.unansweredMinPackets : cfg.minPackets;
      if (phase !== "new" && packets !== undefined && packets >= minPackets && !quiet(pair, ms)) {
        const began = e.flow?.duration_ms !== undefined || e.flow?.start ? startMs(e) : starts.get(ck);
        // An ended flow lingered a UDP timeout after its last packet: 30 s unanswered, 120 s as a stream.
        const linger = phase === "end" ? (unanswered ? 30_000 : 120_000) : 0;
        const lifetime = began !== undefined ? ms - began : undefined;
        const active = lifetime !== undefined ? (lifetime - linger > 1000 ? lifetime - linger : lifetime) : undefined;
        const seconds = active !== undefined ? Math.max(1, active / 1000) : undefined;
        const limit = unanswered ? cfg.unansweredPacketsPerSecond : cfg.packetsPerSecond;
        if (seconds !== undefined && packets / seconds >= limit) {
          pair.sample.add(e);
          const bytes = e.source?.bytes !== undefined ? ` (${formatBytes(e.source.bytes)})` : "";
          const back = unanswered ? ", nothing came back" : "";
          out.push(fire(pair, srcIp, `${srcIp} sent ${packets} UDP packets${bytes} to ${dstIp}:${e.destination?.port ?? ""} in about ${formatDuration(seconds * 1000)}: ${Math.round(packets / seconds)} packets/s${back}`, ms));
        }
      }
      if (phase === "end") starts.delete(ck);
      return out;
    },
    tick(nowMs) {
      // Kept a while after the window: a flood's unanswered ends come a UDP timeout later.
      const stale = (c: Counter): boolean => c.lastMs < nowMs - Math.max(cfg.window, QUIET_MS);
      pairs.sweep(nowMs, SWEEP_MS, stale);
      sources.sweep(nowMs, SWEEP_MS, stale);
      starts.sweep(nowMs, SWEEP_MS, (t) => t < nowMs - 3600_000);
      return [];
    },
    tracked() {
      return pairs.size + sources.size + starts.size;
    },
  };
}
