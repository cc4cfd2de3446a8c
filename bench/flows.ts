// Flow detector benchmark: events/s through every flow detector (port scan, brute force,
// beaconing, large outbound, UDP flood) over a synthetic hypervisor's traffic — many VMs browsing,
// resolving, syncing time, plus scans, guessing and a flood — with ticks once per stream second.
// Events are built up front; only the detectors are timed. Prints numbers, asserts nothing.
//
//   npm run build && node --expose-gc dist/bench/flows.js [--events N] [--vms N]

import { flowEvent } from "../src/collectors/flows/flow-event.js";
import { createFlowDetectors } from "../src/detectors/flows/index.js";
import type { HvEvent } from "../src/events/event.js";
import { createRng } from "../src/detectors/anomaly/rng.js";

function arg(name: string, dflt: number): number {
  const i = process.argv.indexOf(name);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
}

/** A connection as conntrack reports it: NEW, then (answered) ESTABLISHED, then DESTROY with counters. */
function connection(out: HvEvent[], id: number, t: number, proto: "tcp" | "udp", src: string, sport: number, dst: string, dport: number, answered: boolean, durMs: number, sent: number, recv: number, vm?: string): void {
  const iso = (ms: number) => new Date(ms).toISOString();
  const base = { transport: proto, source: { ip: src, port: sport }, destination: { ip: dst, port: dport } };
  const push = (e: HvEvent) => {
    if (vm) e.vm = { name: vm };
    out.push(e);
  };
  push(flowEvent({ ...base, timestamp: iso(t), flow: { collector: "conntrack", phase: "new", id: String(id), flags: ["UNREPLIED"], ...(proto === "tcp" ? { state: "SYN_SENT" } : {}) } }));
  if (answered && proto === "tcp") push(flowEvent({ ...base, timestamp: iso(t + 1), flow: { collector: "conntrack", phase: "update", id: String(id), state: "ESTABLISHED", flags: ["ASSURED"] } }));
  const end = t + durMs + (proto === "tcp" ? 120_000 : 30_000);
  push(
    flowEvent({
      ...base,
      timestamp: iso(end),
      source: { ...base.source, bytes: sent, packets: Math.ceil(sent / 1400) },
      destination: { ...base.destination, bytes: answered ? recv : 0, packets: answered ? Math.ceil(recv / 1400) : 0 },
      flow: { collector: "conntrack", phase: "end", id: String(id), duration_ms: end - t, flags: answered ? ["ASSURED"] : ["UNREPLIED"], ...(proto === "tcp" ? { state: answered ? "TIME_WAIT" : "SYN_SENT" } : {}) },
    }),
  );
}

function generate(total: number, vms: number): HvEvent[] {
  const r = createRng(42).next;
  const out: HvEvent[] = [];
  const t0 = Date.parse("2026-11-20T00:00:00Z");
  let id = 1;
  let t = t0;
  while (out.length < total * 1.1) {
    t += Math.floor(r() * 20);
    const v = Math.floor(r() * vms);
    const src = `10.${(v >> 8) & 255}.${v & 255}.10`;
    const vm = `vm${v}`;
    const k = r();
    const sport = 32768 + Math.floor(r() * 28000);
    if (k < 0.45) connection(out, id++, t, "tcp", src, sport, `198.51.100.${Math.floor(r() * 250)}`, r() < 0.8 ? 443 : 80, true, r() * 60_000, 2000 + r() * 20_000, 5000 + r() * 500_000, vm);
    else if (k < 0.75) connection(out, id++, t, "udp", src, sport, "10.0.0.1", 53, true, 10, 60, 140, vm);
    else if (k < 0.8) connection(out, id++, t, "udp", src, sport, "192.0.2.123", 123, true, 10, 76, 76, vm);
    else if (k < 0.9) connection(out, id++, t, "tcp", src, sport, `10.${(v >> 8) & 255}.${(v + 1) & 255}.10`, 5432, true, 50 + r() * 500, 900, 4000, vm);
    else if (k < 0.95) connection(out, id++, t, "tcp", src, sport, "203.0.113.5", Math.floor(r() * 1024), false, 0, 60, 0, vm);
    else if (k < 0.98) connection(out, id++, t, "tcp", src, sport, "10.0.0.22", 22, true, 2000, 2600, 3400, vm);
    else connection(out, id++, t, "udp", src, sport, "203.0.113.9", 9999, false, 0, 28, 0, vm);
  }
  // Ends after the last start would be a tail of closing connections only: cut at the last start.
  const horizon = t;
  return out.filter((e) => Date.parse(e["@timestamp"]) <= horizon).sort((a, b) => Date.parse(a["@timestamp"]) - Date.parse(b["@timestamp"]));
}

function main(): void {
  const n = arg("--events", 500_000);
  const vms = arg("--vms", 200);
  const g0 = performance.now();
  const events = generate(n, vms);
  const genMs = performance.now() - g0;
  const gc = (globalThis as { gc?: () => void }).gc;
  gc?.();
  const heap0 = process.memoryUsage().heapUsed;
  const pass = (): { detectors: ReturnType<typeof createFlowDetectors>; detections: number; ms: number } => {
    const detectors = createFlowDetectors();
    let detections = 0;
    let nextTick = 0;
    const t0 = performance.now();
    for (const e of events) {
      const ms = Date.parse(e["@timestamp"]);
      if (ms >= nextTick) {
        for (const d of detectors) detections += d.tick?.(ms).length ?? 0;
        nextTick = ms + 1000;
      }
      for (const d of detectors) detections += d.onEvent(e).length;
    }
    return { detectors, detections, ms: performance.now() - t0 };
  };
  const coldMs = pass().ms;
  gc?.();
  const { detectors, detections, ms } = pass();
  gc?.();
  const heap = process.memoryUsage().heapUsed - heap0;
  const span = (Date.parse(events[events.length - 1]!["@timestamp"]) - Date.parse(events[0]!["@timestamp"])) / 1000;
  console.log(`flow detectors: ${events.length} events (${vms} VMs, ${(span / 60).toFixed(0)} min of stream time; built in ${(genMs / 1000).toFixed(1)} s)`);
  console.log(`  all ${detectors.length} detectors: ${Math.round(events.length / (ms / 1000)).toLocaleString("en")} events/s (${(ms / 1000).toFixed(2)} s; first, cold pass ${Math.round(events.length / (coldMs / 1000)).toLocaleString("en")} events/s), ${detections} detections`);
  console.log(`  state: ${detectors.map((d) => `${d.name} ${d.tracked()}`).join(", ")} keys; heap +${(heap / 1048576).toFixed(1)} MiB${gc ? "" : " (run with --expose-gc for a steadier number)"}`);
  for (const d of createFlowDetectors()) {
    const s = performance.now();
    for (const e of events) d.onEvent(e);
    console.log(`  ${d.name.padEnd(20)} ${Math.round(events.length / ((performance.now() - s) / 1000)).toLocaleString("en")} events/s alone`);
  }
}

main();
