// Brute force: many short connections from one source to one service (address + port) within a
// window. Password guessing opens a connection, tries a few logins, is thrown out, and starts
// again; what tells it from a client is the number of connections and that they are answered but
// short. Any port counts; login services (ssh, rdp, smb, databases, …) at a lower threshold than
// the rest, because web and API clients without keep-alive also open many short connections.

import type { Detection } from "../../events/alert.js";
import type { HvEvent } from "../../events/event.js";
import { BoundedMap, SWEEP_MS, compileAllow, connectionKey, endpoint, eventMs, formatBytes, formatDuration, isClosing, isFlow, outcomeOf, Sample, startMs, VmSeen, type Outcome } from "./common.js";
import type { BruteForceConfig } from "./config.js";
import type { FlowDetector } from "./port-scan.js";

export const BRUTE_FORCE_RULE = {
  id: "flow:brute-force",
  title: "Brute force (many short connections to one service)",
  source: "flow",
  description: "One source opened many short connections to one service",
  tags: ["attack.credential_access", "attack.t1110", "attack.t1110.001"],
};

/** How long conntrack keeps a closed connection before reporting its end (TIME_WAIT, UDP timeout). */
const LINGER_MS: Record<string, number> = { tcp: 120_000, udp: 30_000 };
const MAX_ATTEMPTS = 2048;

interface Attempt {
  startMs: number;
  lastMs: number;
  outcome: Outcome;
  /** How long it was open, once it closed (without conntrack's linger when that is estimated). */
  activeMs?: number;
  /** Start to the closing event, as conntrack saw it. */
  lifetimeMs?: number;
  sent?: number;
}

interface Service {
  srcIp: string;
  dstIp: string;
  port?: number;
  transport?: string;
  attempts: Map<string, Attempt>;
  vm: VmSeen;
  sample: Sample;
  lastMs: number;
  firedMs?: number;
  judgedMs?: number;
}

const RANK: Record<Outcome, number> = { pending: 0, failed: 1, established: 2 };

export function createBruteForceDetector(cfg: BruteForceConfig, maxKeys: number): FlowDetector {
  const services = new BoundedMap<string, Service>(maxKeys);
  const allowed = compileAllow(cfg.allow);
  const authPorts = new Set(cfg.authPorts);
  const loginPorts = new Set(cfg.loginPorts);
  const transports = new Set(cfg.transports.map((t) => t.toLowerCase()));
  // Services whose judgement was throttled: tick makes it.
  const dirty = new Set<Service>();

  const update = (a: Attempt, e: HvEvent, ms: number): void => {
    const o = outcomeOf(e);
    if (RANK[o] > RANK[a.outcome]) a.outcome = o;
    a.lastMs = Math.max(a.lastMs, ms);
    if (e.source?.bytes !== undefined) a.sent = e.source.bytes;
    if (a.activeMs === undefined && isClosing(e)) {
      // A closing state seen as it happens is exact; an end report comes after conntrack's linger.
      const linger = e.flow?.phase === "end" ? (LINGER_MS[e.network?.transport ?? ""] ?? 30_000) : 0;
      a.activeMs = Math.max(0, ms - a.startMs - linger);
      a.lifetimeMs = ms - a.startMs;
    }
  };

  const judge = (s: Service, ms: number): Detection | undefined => {
    // Attempts are kept in the order they started; the window counts starts.
    for (const [k, a] of s.attempts) {
      if (a.startMs >= ms - cfg.window && s.attempts.size <= MAX_ATTEMPTS) break;
      s.attempts.delete(k);
    }
    const port = s.port;
    const threshold = port !== undefined && authPorts.has(port) ? cfg.attempts : cfg.otherAttempts;
    const n = s.attempts.size;
    if (n < threshold) return undefined;
    if (s.firedMs !== undefined && ms - s.firedMs < cfg.window) return undefined;
    // Counting walks every attempt: at most once a second of stream time per service.
    if (s.judgedMs !== undefined && ms - s.judgedMs < 1000) {
      dirty.add(s);
      return undefined;
    }
    s.judgedMs = ms;
    dirty.delete(s);
    let failed = 0;
    let short = 0;
    let long = 0;
    const lifetimes: number[] = [];
    const sent: number[] = [];
    for (const a of s.attempts.values()) {
      if (a.outcome === "failed") failed++;
      if (a.activeMs !== undefined && a.outcome !== "failed") {
        lifetimes.push(a.lifetimeMs ?? a.activeMs);
        if (a.activeMs <= cfg.short) short++;
        else long++;
      }
      if (a.sent !== undefined) sent.push(a.sent);
    }
    // Refused or unanswered: a retry loop or a scan, not logins. Long sessions: real use.
    if (failed > cfg.maxFailedRatio * n) return undefined;
    if (short < threshold / 2 || long > 0.2 * (short + long)) return undefined;
    // A timer opens them (a pool, a health check, a polling job), not a guessing tool, which runs
    // as fast as the service answers. Not on login ports, where every connection is a login.
    const cadence = cadenceOf([...s.attempts.values()].map((a) => a.startMs));
    if (!(port !== undefined && loginPorts.has(port)) && cadence.period >= cfg.periodicMin && cadence.jitter <= cfg.periodicJitter && cadence.bursts <= 0.1) return undefined;
    s.firedMs = ms;
    const first = Math.min(...[...s.attempts.values()].map((a) => a.startMs));
    const service = endpoint(s.dstIp, port, s.transport);
    const bytes = sent.length > 0 ? `, median ${formatBytes(median(sent))} sent per connection` : "";
    return {
      rule: BRUTE_FORCE_RULE,
      severity: n >= threshold * 5 ? "high" : "medium",
      events: s.sample.events(),
      entity: s.vm.entity(s.srcIp),
      target: service,
      summary: `${s.srcIp} opened ${n} connections to ${service} in ${formatDuration(ms - first)} (every ${formatDuration(cadence.period)} on median, jitter ${(cadence.jitter * 100).toFixed(0)}%): ${short} short (closed after ${formatDuration(median(lifetimes))} on median, conntrack's linger included), ${long} long, ${failed} refused/unanswered${bytes}`,
    };
  };

  return {
    name: "flow-brute-force",
    onEvent(e) {
      if (!isFlow(e) || !transports.has(e.network?.transport ?? "") || allowed(e)) return [];
      const ms = eventMs(e);
      if (Number.isNaN(ms)) return [];
      const srcIp = e.source!.ip!;
      const key = `${srcIp}|${e.destination!.ip}|${e.destination?.port ?? ""}|${e.network?.transport ?? ""}`;
      const s = services.touch(key, () => ({ srcIp, dstIp: e.destination!.ip!, port: e.destination?.port, transport: e.network?.transport, attempts: new Map(), vm: new VmSeen(), sample: new Sample(), lastMs: ms }));
      s.lastMs = Math.max(s.lastMs, ms);
      s.vm.add(e);
      const ck = connectionKey(e);
      let a = s.attempts.get(ck);
      if (!a) {
        const began = Math.min(startMs(e), ms);
        // The end of an attempt already out of the window: nothing to count.
        if (began < ms - cfg.window) return [];
        a = { startMs: began, lastMs: ms, outcome: "pending" };
        s.attempts.set(ck, a);
        s.sample.add(e);
      }
      update(a, e, ms);
      const d = judge(s, ms);
      return d ? [d] : [];
    },
    tick(nowMs) {
      services.sweep(nowMs, SWEEP_MS, (s) => s.lastMs < nowMs - cfg.window);
      const out: Detection[] = [];
      for (const s of [...dirty]) {
        dirty.delete(s);
        if (services.get(`${s.srcIp}|${s.dstIp}|${s.port ?? ""}|${s.transport ?? ""}`) !== s) continue;
        s.judgedMs = undefined;
        const d = judge(s, Math.max(s.lastMs, Math.min(nowMs, s.lastMs + 1000)));
        if (d) out.push(d);
      }
      return out;
    },
    tracked() {
      return services.size;
    },
  };
}

/**
 * How regularly things started: the median interval, its jitter (median absolute deviation over
 * the median) and the share of intervals under a quarter of the median (bursts).
 */
export function cadenceOf(startsMs: number[]): { period: number; jitter: number; bursts: number } {
  const t = [...startsMs].sort((a, b) => a - b);
  const intervals = t.slice(1).map((x, i) => x - t[i]!);
  const period = median(intervals);
  if (intervals.length === 0 || period <= 0) return { period: 0, jitter: Infinity, bursts: 1 };
  const jitter = median(intervals.map((x) => Math.abs(x - period))) / period;
  return { period, jitter, bursts: intervals.filter((x) => x < period / 4).length / intervals.length };
}

export function median(values: number[]): number {
  if (values.length === 0) return 0;
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}
