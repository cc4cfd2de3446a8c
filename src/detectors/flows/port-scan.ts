// Port scans: one source touching many distinct ports on one host (vertical) or one port on many
// hosts (horizontal, a sweep) within a window. Each distinct target counts by what became of it:
// a failed attempt (no reply, refused, reset) weighs 1, one not known yet a quarter, an
// established connection a twentieth — so a busy client reaching many real services stays quiet
// while probes into closed and filtered ports add up fast.

import type { Detection, Detector } from "../../events/alert.js";
import type { HvEvent } from "../../events/event.js";
import { BoundedMap, SWEEP_MS, compileAllow, coveringNetwork, eventMs, formatDuration, isFlow, listSome, outcomeOf, Sample, VmSeen, type Outcome } from "./common.js";
import type { PortScanConfig } from "./config.js";

export const PORT_SCAN_RULE = {
  id: "flow:port-scan",
  title: "Port scan",
  source: "flow",
  description: "One source probed many ports on one host or one port on many hosts",
  tags: ["attack.discovery", "attack.t1046", "attack.reconnaissance", "attack.t1595.001"],
};

const MAX_TARGETS = 4096;
const MAX_GROUPS = 4096;

/** A UDP probe not answered yet says nothing until its end (30 s later): "quiet", weighed as established. */
type Kind = Outcome | "quiet";

interface Target {
  outcome: Kind;
  ms: number;
}

interface Group {
  targets: Map<string, Target>;
  counts: Record<Kind, number>;
  firstMs: number;
  lastMs: number;
  firedMs?: number;
  sample: Sample;
}

interface ScanSource {
  vm: VmSeen;
  byHost: BoundedMap<string, Group>;
  byPort: BoundedMap<string, Group>;
  /** Every host+port pair: a block scan of a few ports over a few hosts shows only here. */
  all: Group;
  /** When a vertical or horizontal scan last fired: the block view adds nothing then. */
  scanFiredMs?: number;
  /** Failed probes: what the block view's detection shows (the rest of `all` is often ordinary use). */
  failedSample: Sample;
  lastMs: number;
}

const RANK: Record<Kind, number> = { quiet: 0, pending: 0, failed: 1, established: 2 };

export interface FlowDetector extends Detector {
  /** Keys held in memory (for tests and the bench: state must stay bounded). */
  tracked(): number;
}

export function createPortScanDetector(cfg: PortScanConfig, maxKeys: number): FlowDetector {
  const sources = new BoundedMap<string, ScanSource>(maxKeys);
  const allowed = compileAllow(cfg.allow);
  const score = (g: Group): number => g.counts.failed * cfg.weights.failed + g.counts.pending * cfg.weights.pending + (g.counts.established + g.counts.quiet) * cfg.weights.established;

  const newGroup = (ms: number): Group => ({ targets: new Map(), counts: { failed: 0, pending: 0, established: 0, quiet: 0 }, firstMs: ms, lastMs: ms, sample: new Sample(5) });

  const expire = (g: Group, nowMs: number): void => {
    for (const [k, t] of g.targets) {
      if (t.ms >= nowMs - cfg.window && g.targets.size <= MAX_TARGETS) break;
      g.targets.delete(k);
      g.counts[t.outcome]--;
    }
    const first = g.targets.values().next().value as Target | undefined;
    if (first) g.firstMs = Math.max(g.firstMs, first.ms);
  };

  const record = (g: Group, key: string, outcome: Kind, ms: number, e: HvEvent): void => {
    const t = g.targets.get(key);
    if (t) {
      g.targets.delete(key);
      if (RANK[outcome] > RANK[t.outcome]) {
        g.counts[t.outcome]--;
        g.counts[outcome]++;
        t.outcome = outcome;
      }
      t.ms = Math.max(t.ms, ms);
      g.targets.set(key, t);
    } else {
      g.targets.set(key, { outcome, ms });
      g.counts[outcome]++;
      g.sample.add(e);
    }
    g.lastMs = Math.max(g.lastMs, ms);
    expire(g, ms);
  };

  const judge = (src: ScanSource, srcIp: string, g: Group, kind: "vertical" | "horizontal" | "block", what: string, ms: number): Detection | undefined => {
    const threshold = kind === "vertical" ? cfg.ports : kind === "horizontal" ? cfg.hosts : cfg.targets;
    if (score(g) < threshold) return undefined;
    if (g.firedMs !== undefined && ms - g.firedMs < cfg.window) return undefined;
    g.firedMs = ms;
    const n = g.targets.size;
    const c = g.counts;
    const names = [...g.targets.keys()];
    const listed = kind === "vertical" ? names.map((k) => k.split("/")[0] ?? k).sort((a, b) => Number(a) - Number(b)) : names;
    const failed = kind === "block" ? names.filter((k) => g.targets.get(k)?.outcome === "failed") : [];
    const hosts = kind === "block" ? [...new Set((failed.length > 0 ? failed : names).map((k) => k.split(" ")[0]!))] : names;
    // The target makes the alert: a second scan of another host or network by the same source is
    // a new alert, not a higher count on the first one (src/detectors/alerts.ts).
    const target = kind === "vertical" ? what : coveringNetwork(hosts);
    const outcomes = `(${c.failed} failed/unanswered, ${c.established} established, ${c.pending + c.quiet} pending)`;
    const took = formatDuration(g.lastMs - g.firstMs);
    const summary =
      kind === "vertical"
        ? `${srcIp} probed ${n} ports on ${what} in ${took} ${outcomes}: ${listSome(listed, 12)}`
        : kind === "horizontal"
          ? `${srcIp} swept ${n} hosts of ${target} on ${what} in ${took} ${outcomes}: ${listSome(listed, 8)}`
          : `${srcIp} probed ${n} host ports (${what}) in ${target} in ${took} ${outcomes}: ${listSome(listed, 8)}`;
    return {
      rule: { ...PORT_SCAN_RULE, title: kind === "vertical" ? "Port scan (many ports on one host)" : kind === "horizontal" ? "Port scan (one port on many hosts)" : "Port scan (some ports on several hosts)" },
      severity: n >= threshold * 8 ? "high" : "medium",
      events: kind === "block" ? src.failedSample.events() : g.sample.events(),
      entity: src.vm.entity(srcIp),
      target,
      summary,
    };
  };

  return {
    name: "flow-port-scan",
    onEvent(e) {
      if (!isFlow(e) || allowed(e)) return [];
      const ms = eventMs(e);
      if (Number.isNaN(ms)) return [];
      const srcIp = e.source!.ip!;
      const dstIp = e.destination!.ip!;
      const transport = e.network?.transport ?? "?";
      const portKey = `${e.destination?.port ?? transport}/${transport}`;
      const seen = outcomeOf(e);
      const outcome: Kind = seen === "pending" && transport === "udp" ? "quiet" : seen;
      const src = sources.touch(srcIp, () => ({ vm: new VmSeen(), byHost: new BoundedMap(MAX_GROUPS), byPort: new BoundedMap(MAX_GROUPS), all: newGroup(ms), failedSample: new Sample(5), lastMs: ms }));
      src.lastMs = Math.max(src.lastMs, ms);
      src.vm.add(e);
      const stale = (g: Group): boolean => g.lastMs < ms - cfg.window;
      src.byHost.sweep(ms, 60_000, stale);
      src.byPort.sweep(ms, 60_000, stale);
      const host = src.byHost.touch(dstIp, () => newGroup(ms));
      record(host, portKey, outcome, ms, e);
      const port = src.byPort.touch(portKey, () => newGroup(ms));
      record(port, dstIp, outcome, ms, e);
      record(src.all, `${dstIp} ${portKey}`, outcome, ms, e);
      if (outcome === "failed") src.failedSample.add(e);
      const out: Detection[] = [];
      const v = judge(src, srcIp, host, "vertical", dstIp, ms);
      if (v) out.push(v);
      const h = judge(src, srcIp, port, "horizontal", e.destination?.port !== undefined ? `port ${e.destination.port}/${transport}` : transport, ms);
      if (h) out.push(h);
      // Several ports on several hosts (nmap finds the live hosts of a LAN by ARP, then probes only those).
      if (v || h) src.scanFiredMs = ms;
      else if (src.byHost.size >= 3 && src.byPort.size >= 3 && (src.scanFiredMs === undefined || src.scanFiredMs < src.all.firstMs - cfg.window)) {
        const b = judge(src, srcIp, src.all, "block", `${src.byPort.size} ports of ${src.byHost.size} hosts`, ms);
        if (b) out.push(b);
      }
      return out;
    },
    tick(nowMs) {
      // Whole sources go when silent for a window; an active source's old groups go as it is seen.
      sources.sweep(nowMs, SWEEP_MS, (s) => s.lastMs < nowMs - cfg.window);
      return [];
    },
    tracked() {
      let n = 0;
      for (const [, s] of sources.entries()) n += 1 + s.byHost.size + s.byPort.size;
      return n;
    },
  };
}
