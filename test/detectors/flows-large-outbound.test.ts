import { describe, expect, it } from "vitest";
import { flowEvent } from "../../src/collectors/flows/flow-event.js";
import { parseFlowDetectorsConfig } from "../../src/detectors/flows/config.js";
import { createLargeOutboundDetector } from "../../src/detectors/flows/large-outbound.js";
import { run, T0, timeline, type Conn } from "./flows-sim.js";

const MiB = 1024 * 1024;
const cfg = parseFlowDetectorsConfig({});
const detector = () => createLargeOutboundDetector(cfg.largeOutbound, 1000);

describe("flow:large-outbound", () => {
  it("fires on one connection uploading 300 MiB to an outside host", () => {
    const ds = run([detector()], timeline([{ t: T0, src: "10.0.0.6", dst: "203.0.113.9", dport: 443, durationMs: 90_000, sent: 300 * MiB, recv: 2 * MiB, vm: "db1" }]));
    expect(ds.length).toBe(1);
    expect(ds[0]!.rule.id).toBe("flow:large-outbound");
    expect(ds[0]!.entity).toEqual({ kind: "vm", id: "db1" });
    expect(ds[0]!.summary).toContain("300 MiB");
    expect(ds[0]!.summary).toContain("in one connection");
  });

  it("fires on many smaller uploads to one destination adding up within the window", () => {
    const conns: Conn[] = Array.from({ length: 25 }, (_, i) => ({ t: T0 + i * 60_000, src: "10.0.0.6", dst: "203.0.113.9", dport: 8080, durationMs: 20_000, sent: 10 * MiB, recv: 50_000 }));
    const ds = run([detector()], timeline(conns));
    expect(ds.length).toBe(1);
    expect(ds[0]!.summary).toMatch(/sent (6[4-9]|7\d) MiB to 203\.0\.113\.9/);
  });

  it("holds internal destinations to higher limits (a 1 GiB backup to a private address is low, 40 MiB outside is not)", () => {
    expect(run([detector()], timeline([{ t: T0, src: "10.0.0.6", dst: "10.0.9.20", dport: 873, durationMs: 600_000, sent: 1024 * MiB, recv: MiB }]))).toEqual([]);
    const out = run([detector()], timeline([{ t: T0, src: "10.0.0.6", dst: "198.51.100.99", dport: 443, durationMs: 13_000, sent: 40 * MiB, recv: 35_000 }]));
    expect(out.map((d) => d.severity)).toEqual(["medium"]);
    const big = run([detector()], timeline([{ t: T0, src: "10.0.0.6", dst: "10.0.9.20", dport: 873, durationMs: 600_000, sent: 3 * 1024 * MiB, recv: MiB }]));
    expect(big.map((d) => d.severity)).toEqual(["low"]);
  });

  it("stays quiet on a large download, a two-way sync, and uploads spread beyond the window", () => {
    expect(run([detector()], timeline([{ t: T0, src: "10.0.0.6", dst: "198.51.100.80", dport: 443, durationMs: 120_000, sent: 3 * MiB, recv: 2048 * MiB }]))).toEqual([]);
    expect(run([detector()], timeline([{ t: T0, src: "10.0.0.6", dst: "10.0.0.20", dport: 873, durationMs: 120_000, sent: 300 * MiB, recv: 250 * MiB }]))).toEqual([]);
    const spread: Conn[] = Array.from({ length: 30 }, (_, i) => ({ t: T0 + i * 3 * 3600_000, src: "10.0.0.6", dst: "203.0.113.9", dport: 443, sent: 30 * MiB, recv: 10_000 }));
    expect(run([detector()], timeline(spread))).toEqual([]);
  });

  it("counts a connection's cumulative counters once (an interim update then the end)", () => {
    const mk = (phase: "update" | "end", ms: number, sent: number) =>
      flowEvent({ timestamp: new Date(ms).toISOString(), transport: "tcp", source: { ip: "10.0.0.6", port: 5555, bytes: sent }, destination: { ip: "203.0.113.9", port: 443, bytes: 1000 }, flow: { collector: "conntrack", phase, id: "77", flags: ["ASSURED"] } });
    // 150 MiB then 160 MiB cumulative: 160 MiB sent, under both thresholds; summing would give 310.
    const d = createLargeOutboundDetector(parseFlowDetectorsConfig({ largeOutbound: { flowBytes: 1e12, bytes: 200 * MiB } }).largeOutbound, 100);
    expect(run([d], [mk("update", T0, 150 * MiB), mk("end", T0 + 1000, 160 * MiB)])).toEqual([]);
  });

  it("forgets pairs after the window on tick, and stays bounded", () => {
    const d = createLargeOutboundDetector(cfg.largeOutbound, 300);
    run([d], timeline(Array.from({ length: 1000 }, (_, i) => ({ t: T0 + i, src: `10.2.${i >> 8}.${i & 255}`, dst: "203.0.113.9", dport: 443 }))));
    expect(d.tracked()).toBeLessThanOrEqual(300);
    d.tick!(T0 + 5 * 3600_000);
    expect(d.tracked()).toBe(0);
  });
});
