// Per-VM, per-minute features of network behaviour from flow events, so a VM that starts
// scanning, beaconing or exfiltrating stands out against its own history. A flow counts in the
// minute it started (its NEW event); its bytes and outcome in the minute it ended.

import type { HvEvent } from "../../events/event.js";

export const FLOW_FEATURES = [
  "connections",
  "distinct_destinations",
  "distinct_ports",
  "bytes_out",
  "bytes_in",
  "failed_ratio",
  "periodicity",
  "new_destinations",
] as const;

export type FlowFeature = (typeof FLOW_FEATURES)[number];

export interface VmMinute {
  vm: string;
  /** Start of the minute, ms since the epoch. */
  minute: number;
  /** Raw values in FLOW_FEATURES order (counts, bytes, ratios). */
  raw: number[];
}

interface MinuteAcc {
  connections: number;
  destinations: Set<string>;
  ports: Set<string>;
  bytesOut: number;
  bytesIn: number;
  ended: number;
  failed: number;
  newDestinations: number;
}

/** How many minutes of connection times per destination the periodicity feature looks back. */
const PERIOD_WINDOW_MS = 10 * 60_000;

/** Regularity of the gaps between connections to one destination: 1 = clockwork, 0 = random (needs ≥ 4 connections). */
export function regularity(times: readonly number[]): number {
  if (times.length < 4) return 0;
  const gaps: number[] = [];
  for (let i = 1; i < times.length; i++) gaps.push(times[i]! - times[i - 1]!);
  const mean = gaps.reduce((a, b) => a + b, 0) / gaps.length;
  if (mean < 1000) return 0; // bursts (scans, retries) are not beacons
  const sd = Math.sqrt(gaps.reduce((a, g) => a + (g - mean) ** 2, 0) / gaps.length);
  return Math.max(0, 1 - sd / mean);
}

function failed(ev: HvEvent): boolean {
  const flags = ev.flow?.flags ?? [];
  if (flags.includes("UNREPLIED")) return true;
  const state = ev.flow?.state;
  return ev.network?.transport === "tcp" && !flags.includes("ASSURED") && (state === "SYN_SENT" || state === "SYN_RECV" || state === "CLOSE");
}

export interface MinuteBuilder {
  add(ev: HvEvent): void;
  /** Every (VM, minute) seen, in time order; minutes without flows between active ones are included as zeros. */
  finish(): VmMinute[];
}

/** Accumulates flow events (already attributed to VMs: vm.name) into per-VM minute features. */
export function createMinuteBuilder(): MinuteBuilder {
  const acc = new Map<string, Map<number, MinuteAcc>>();
  const seenDest = new Map<string, Set<string>>();
  const connTimes = new Map<string, Map<string, number[]>>();
  const periodic = new Map<string, Map<number, number>>();
  const get = (vm: string, minute: number): MinuteAcc => {
    let m = acc.get(vm);
    if (!m) acc.set(vm, (m = new Map()));
    let a = m.get(minute);
    if (!a) m.set(minute, (a = { connections: 0, destinations: new Set(), ports: new Set(), bytesOut: 0, bytesIn: 0, ended: 0, failed: 0, newDestinations: 0 }));
    return a;
  };
  return {
    add(ev) {
      const vm = ev.vm?.name;
      if (!vm || ev.event.module !== "flow") return;
      const t = Date.parse(ev["@timestamp"]);
      if (!Number.isFinite(t)) return;
      const minute = Math.floor(t / 60_000) * 60_000;
      const a = get(vm, minute);
      const dst = ev.destination?.ip ?? "?";
      if (ev.flow?.phase === "new") {
        a.connections++;
        a.destinations.add(dst);
        a.ports.add(`${ev.network?.transport ?? ""}/${ev.destination?.port ?? ""}`);
        let seen = seenDest.get(vm);
        if (!seen) seenDest.set(vm, (seen = new Set()));
        if (!seen.has(dst)) {
          seen.add(dst);
          a.newDestinations++;
        }
        let byDst = connTimes.get(vm);
        if (!byDst) connTimes.set(vm, (byDst = new Map()));
        const times = (byDst.get(dst) ?? []).filter((x) => t - x <= PERIOD_WINDOW_MS);
        times.push(t);
        byDst.set(dst, times);
        let p = periodic.get(vm);
        if (!p) periodic.set(vm, (p = new Map()));
        p.set(minute, Math.max(p.get(minute) ?? 0, regularity(times)));
      } else if (ev.flow?.phase === "end") {
        a.bytesOut += ev.source?.bytes ?? 0;
        a.bytesIn += ev.destination?.bytes ?? 0;
        a.ended++;
        if (failed(ev)) a.failed++;
      }
    },
    finish() {
      const out: VmMinute[] = [];
      for (const [vm, minutes] of acc) {
        const keys = [...minutes.keys()].sort((x, y) => x - y);
        for (let m = keys[0]!; m <= keys[keys.length - 1]!; m += 60_000) {
          const a = minutes.get(m);
          const raw = a
            ? [a.connections, a.destinations.size, a.ports.size, a.bytesOut, a.bytesIn, a.ended > 0 ? a.failed / a.ended : 0, periodic.get(vm)?.get(m) ?? 0, a.newDestinations]
            : [0, 0, 0, 0, 0, 0, 0, 0];
          out.push({ vm, minute: m, raw });
        }
      }
      return out.sort((x, y) => x.minute - y.minute || (x.vm < y.vm ? -1 : 1));
    },
  };
}

/** What the model sees: counts and bytes on a log scale (a scan is 100× normal, not 100 units more). */
export function modelInput(raw: readonly number[]): number[] {
  return raw.map((v, i) => (FLOW_FEATURES[i] === "failed_ratio" || FLOW_FEATURES[i] === "periodicity" ? v : Math.log1p(v)));
}
