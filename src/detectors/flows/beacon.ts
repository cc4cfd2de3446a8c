// Beaconing: one source connecting to one destination (address + port) at a regular period, as
// implants call home. Connections opening within `burst` of each other are one beat; once there
// are enough beats over a long enough span, the intervals between them must be regular: their
// median within the allowed periods, their median absolute deviation small against the median
// (jitter-tolerant: a beacon sleeping period ± 30% still passes), and most intervals near the
// median (a missed beat or two is tolerated). A one-off burst never spans enough time.

import type { Detection, Severity } from "../../events/alert.js";
import type { HvEvent } from "../../events/event.js";
import { median } from "./brute-force.js";
import { BoundedMap, SWEEP_MS, compileAllow, isInternal, connectionKey, endpoint, eventMs, formatBytes, formatDuration, isFlow, Sample, startMs, VmSeen } from "./common.js";
import type { BeaconConfig } from "./config.js";
import type { FlowDetector } from "./port-scan.js";

export const BEACON_RULE = {
  id: "flow:beacon",
  title: "Beaconing (periodic connections to one destination)",
  source: "flow",
  description: "One source connected to one destination at a regular period",
  tags: ["attack.command_and_control", "attack.t1071", "attack.t1573"],
};

const RECENT_CONNECTIONS = 8;
const REFIRE_MS = 3600_000;

interface Series {
  srcIp: string;
  dstIp: string;
  beats: number[];
  recent: string[];
  vm: VmSeen;
  sample: Sample;
  sent: number;
  lastMs: number;
  firedMs?: number;
}

export function createBeaconDetector(cfg: BeaconConfig, maxKeys: number): FlowDetector {
  const series = new BoundedMap<string, Series>(maxKeys);
  const allowed = compileAllow(cfg.allow);
  const ignored = new Set(cfg.ignorePorts);

  const addBeat = (s: Series, t: number): boolean => {
    const b = s.beats;
    let i = b.length;
    while (i > 0 && b[i - 1]! > t) i--;
    if ((i > 0 && t - b[i - 1]! < cfg.burst) || (i < b.length && b[i]! - t < cfg.burst)) return false;
    b.splice(i, 0, t);
    if (b.length > cfg.history) b.shift();
    return true;
  };

  const judge = (s: Series, e: HvEvent, ms: number): Detection | undefined => {
    const b = s.beats;
    if (b.length < cfg.minBeats) return undefined;
    if (s.firedMs !== undefined && ms - s.firedMs < REFIRE_MS) return undefined;
    const span = b[b.length - 1]! - b[0]!;
    if (span < cfg.minSpan) return undefined;
    const intervals = b.slice(1).map((t, i) => t - b[i]!);
    const period = median(intervals);
    if (period < cfg.minPeriod || period > cfg.maxPeriod) return undefined;
    const mad = median(intervals.map((x) => Math.abs(x - period)));
    const jitter = mad / period;
    const internal = isInternal(s.dstIp);
    if (jitter > (internal ? cfg.internalMaxJitter : cfg.maxJitter)) return undefined;
    const regular = intervals.filter((x) => x >= period * 0.5 && x <= period * 1.5).length / intervals.length;
    if (regular < cfg.minRegular) return undefined;
    s.firedMs = ms;
    const severity: Severity = internal ? "low" : "medium";
    const dst = endpoint(s.dstIp, e.destination?.port, e.network?.transport);
    const sent = s.sent > 0 ? `, ${formatBytes(s.sent)} sent` : "";
    return {
      rule: BEACON_RULE,
      severity,
      events: s.sample.events(),
      entity: s.vm.entity(s.srcIp),
      summary: `${s.srcIp} → ${dst} every ${formatDuration(period)} (jitter ${(jitter * 100).toFixed(0)}% MAD/median, ${(regular * 100).toFixed(0)}% of intervals regular), ${b.length} beats over ${formatDuration(span)}${sent}${internal ? " (internal destination)" : ""}`,
    };
  };

  return {
    name: "flow-beacon",
    onEvent(e) {
      // An implant calls out from the machine it runs on: periodic connections *to* a VM are its
      // clients and monitors (health checks, scrapes).
      if (!isFlow(e) || allowed(e) || e.vm?.side === "destination") return [];
      const transport = e.network?.transport;
      if (transport !== "tcp" && transport !== "udp") return [];
      const port = e.destination?.port;
      if (port !== undefined && ignored.has(port)) return [];
      const ms = eventMs(e);
      if (Number.isNaN(ms)) return [];
      const srcIp = e.source!.ip!;
      const dstIp = e.destination!.ip!;
      const s = series.touch(`${srcIp}|${dstIp}|${port ?? ""}|${transport}`, () => ({ srcIp, dstIp, beats: [], recent: [], vm: new VmSeen(), sample: new Sample(), sent: 0, lastMs: ms }));
      s.lastMs = Math.max(s.lastMs, ms);
      s.vm.add(e);
      if (e.flow?.phase === "end" && e.source?.bytes) s.sent += e.source.bytes;
      const ck = connectionKey(e);
      if (s.recent.includes(ck)) return [];
      s.recent.push(ck);
      if (s.recent.length > RECENT_CONNECTIONS) s.recent.shift();
      if (!addBeat(s, startMs(e))) return [];
      s.sample.add(e);
      const d = judge(s, e, ms);
      return d ? [d] : [];
    },
    tick(nowMs) {
      // A series silent for two of the longest periods has stopped beating.
      series.sweep(nowMs, SWEEP_MS, (s) => s.lastMs < nowMs - 2 * cfg.maxPeriod);
      return [];
    },
    tracked() {
      return series.size;
    },
  };
}
