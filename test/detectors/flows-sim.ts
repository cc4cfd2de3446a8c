// Synthetic but realistic conntrack-like flow events for the flow detector tests: what conntrack
// reports for a connection that is refused, never answered, or established and later closed.

import { flowEvent } from "../../src/collectors/flows/flow-event.js";
import type { Detection, Detector } from "../../src/events/alert.js";
import type { HvEvent } from "../../src/events/event.js";
import { createRng } from "../../src/detectors/anomaly/rng.js";

export const T0 = Date.parse("2026-11-20T10:00:00Z");

export interface Conn {
  /** Start, ms since the epoch. */
  t: number;
  src: string;
  dst: string;
  dport: number;
  sport?: number;
  /** icmp: an echo flow (no ports; `dport` is ignored). */
  proto?: "tcp" | "udp" | "icmp";
  /** refused: RST back; timeout: nothing back; ok: answered/established. */
  outcome?: "refused" | "timeout" | "ok";
  /** How long it stays open (ok connections). */
  durationMs?: number;
  sent?: number;
  recv?: number;
  sentPackets?: number;
  recvPackets?: number;
  vm?: string;
  /** Which end of the flow the VM is (default: the source). */
  vmSide?: "source" | "destination";
  /** VM to VM: the destination's VM (vm.peer). */
  peer?: string;
  /** Report only NEW and DESTROY (conntrack -e NEW,DESTROY): no state updates. */
  noUpdates?: boolean;
  /** Leave the end out (a lost DESTROY, or the recording stopped first). */
  noEnd?: boolean;
}

let nextId = 1;
let nextPort = 40000;

/** The events conntrack would report for one connection (with accounting on). */
export function conn(c: Conn): HvEvent[] {
  const proto = c.proto ?? "tcp";
  const id = String(nextId++);
  const sport = c.sport ?? (nextPort = nextPort >= 65000 ? 40000 : nextPort + 1);
  const outcome = c.outcome ?? "ok";
  const iso = (ms: number): string => new Date(ms).toISOString();
  const side = (bytes?: number, packets?: number) => ({ ...(bytes !== undefined ? { bytes } : {}), ...(packets !== undefined ? { packets } : {}) });
  const mk = (ms: number, phase: "new" | "update" | "end", extra: { state?: string; flags?: string[]; sent?: number; recv?: number; sp?: number; rp?: number; duration?: number }): HvEvent => {
    const e = flowEvent({
      timestamp: iso(ms),
      transport: proto,
      source: { ip: c.src, ...(proto === "icmp" ? {} : { port: sport }), ...side(extra.sent, extra.sp) },
      destination: { ip: c.dst, ...(proto === "icmp" ? {} : { port: c.dport }), ...side(extra.recv, extra.rp) },
      flow: {
        collector: "conntrack",
        phase,
        id,
        ...(extra.state ? { state: extra.state } : {}),
        ...(extra.flags ? { flags: extra.flags } : {}),
        ...(extra.duration !== undefined ? { duration_ms: extra.duration } : {}),
      },
    });
    if (c.vm) e.vm = { name: c.vm, side: c.vmSide ?? "source", ...(c.peer ? { peer: { name: c.peer } } : {}) };
    return e;
  };
  const tcp = proto === "tcp";
  const out: HvEvent[] = [mk(c.t, "new", { ...(tcp ? { state: "SYN_SENT" } : {}), flags: ["UNREPLIED"] })];
  if (outcome === "refused") {
    if (!c.noUpdates && tcp) out.push(mk(c.t + 1, "update", { state: "CLOSE" }));
    if (!c.noEnd) out.push(mk(c.t + 10_000, "end", { ...(tcp ? { state: "CLOSE" } : {}), sent: 60, recv: tcp ? 40 : 0, sp: 1, rp: tcp ? 1 : 0, duration: 10_000 }));
    return out;
  }
  if (outcome === "timeout") {
    const linger = tcp ? 120_000 : 30_000;
    if (!c.noEnd) out.push(mk(c.t + linger, "end", { ...(tcp ? { state: "SYN_SENT" } : {}), flags: ["UNREPLIED"], sent: tcp ? 120 : (c.sent ?? 60), recv: 0, sp: c.sentPackets ?? 2, rp: 0, duration: linger }));
    return out;
  }
  const dur = c.durationMs ?? 1000;
  const sent = c.sent ?? 800;
  const recv = c.recv ?? 2000;
  const sp = c.sentPackets ?? Math.max(1, Math.ceil(sent / 1400));
  const rp = c.recvPackets ?? Math.max(1, Math.ceil(recv / 1400));
  if (!c.noUpdates) {
    if (tcp) {
      out.push(mk(c.t + 2, "update", { state: "SYN_RECV" }));
      out.push(mk(c.t + 3, "update", { state: "ESTABLISHED", flags: ["ASSURED"] }));
      out.push(mk(c.t + dur, "update", { state: "FIN_WAIT", flags: ["ASSURED"] }));
      out.push(mk(c.t + dur + 1, "update", { state: "TIME_WAIT", flags: ["ASSURED"] }));
    } else out.push(mk(c.t + 2, "update", {}));
  }
  const linger = tcp ? 120_000 : 30_000;
  if (!c.noEnd) out.push(mk(c.t + dur + linger, "end", { ...(tcp ? { state: "TIME_WAIT" } : {}), flags: ["ASSURED"], sent, recv, sp, rp, duration: dur + linger }));
  return out;
}

/** All events of many connections in time order (as conntrack would print them). */
export function timeline(conns: Conn[]): HvEvent[] {
  return conns.flatMap(conn).sort((a, b) => Date.parse(a["@timestamp"]) - Date.parse(b["@timestamp"]));
}

/** Feeds events through detectors, ticking once per second of stream time, then a final tick. */
export function run(detectors: Detector[], events: HvEvent[], opts: { endMs?: number } = {}): Detection[] {
  const out: Detection[] = [];
  let nextTick: number | undefined;
  for (const e of events) {
    const ms = Date.parse(e["@timestamp"]);
    nextTick ??= ms + 1000;
    while (ms >= nextTick) {
      for (const d of detectors) out.push(...(d.tick?.(nextTick) ?? []));
      nextTick += 1000;
    }
    for (const d of detectors) out.push(...d.onEvent(e));
  }
  const last = events.length ? Date.parse(events[events.length - 1]!["@timestamp"]) : T0;
  for (const d of detectors) out.push(...(d.tick?.(opts.endMs ?? last + 1000) ?? []));
  return out;
}

/** The seeded generator the trainer uses (mulberry32), so the "random" traffic is the same every run. */
export function rng(seed: number): () => number {
  return createRng(seed).next;
}

export function ids(ds: Detection[]): string[] {
  return ds.map((d) => d.rule.id);
}
