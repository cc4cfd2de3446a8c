import { describe, expect, it } from "vitest";
import { parseFlowDetectorsConfig } from "../../src/detectors/flows/config.js";
import { createUdpFloodDetector } from "../../src/detectors/flows/udp-flood.js";
import { run, T0, timeline, type Conn } from "./flows-sim.js";

const cfg = parseFlowDetectorsConfig({});
const detector = () => createUdpFloodDetector(cfg.udpFlood, 5000);

describe("flow:udp-flood", () => {
  it("fires once on a flood that varies the source port (a flow per packet)", () => {
    const conns: Conn[] = Array.from({ length: 5000 }, (_, i) => ({ t: T0 + i, src: "10.0.0.5", dst: "10.0.0.9", dport: 1 + (i % 1024), proto: "udp", outcome: "timeout", sent: 28, vm: "attacker" }));
    const ds = run([detector()], timeline(conns));
    expect(ds.length).toBe(1);
    expect(ds[0]!.rule.id).toBe("flow:udp-flood");
    expect(ds[0]!.entity).toEqual({ kind: "vm", id: "attacker" });
    expect(ds[0]!.summary).toMatch(/opened \d+ UDP flows to 10\.0\.0\.9/);
  });

  it("fires on one flow at a very high packet rate", () => {
    const ds = run([detector()], timeline([{ t: T0, src: "10.0.0.5", dst: "203.0.113.7", dport: 9999, proto: "udp", durationMs: 20_000, sent: 1_000_000 * 64, sentPackets: 1_000_000, recv: 0, recvPackets: 0 }]));
    expect(ds.length).toBe(1);
    expect(ds[0]!.summary).toMatch(/packets\/s/);
  });

  it("fires on a spray to many destinations", () => {
    const conns: Conn[] = Array.from({ length: 4000 }, (_, i) => ({ t: T0 + i, src: "10.0.0.5", dst: `203.0.${113 + (i >> 8) % 2}.${i & 255}`, dport: 53, proto: "udp", outcome: "timeout" }));
    const ds = run([detector()], timeline(conns));
    expect(ds.length).toBe(1);
    expect(ds[0]!.summary).toMatch(/to \d+ destinations/);
  });

  it("fires on a few hundred unanswered flows in seconds (a new source port per packet, like hping3)", () => {
    // 300 a second for 2 s: under the 1000-flow threshold, but none is ever answered.
    const conns: Conn[] = Array.from({ length: 600 }, (_, i) => ({ t: T0 + Math.round(i * 3.33), src: "10.0.0.5", dst: "198.51.100.77", dport: 9000, proto: "udp", outcome: "timeout", sent: 228, sentPackets: 1 }));
    const ds = run([detector()], timeline(conns));
    expect(ds.length).toBe(1);
    expect(ds[0]!.summary).toMatch(/sent 200 UDP flows to 198\.51\.100\.77 within .* never answered/);
    // The same flows, answered (a busy resolver forwarding to its upstream), stay quiet.
    const answered = conns.map((c) => ({ ...c, outcome: "ok" as const, recv: 300 }));
    expect(run([detector()], timeline(answered))).toEqual([]);
  });

  it("fires on one unanswered flow at 800 packets/s (nping from one source port), its conntrack linger left out", () => {
    // 6400 packets over 8 s; conntrack ends it 30 s after the last packet.
    const ds = run([detector()], timeline([{ t: T0, src: "10.0.0.5", dst: "198.51.100.77", dport: 9000, proto: "udp", outcome: "timeout", sent: 6400 * 428, sentPackets: 6400 }]).map((e) => {
      if (e.flow?.phase === "end") e.flow.duration_ms = 38_000;
      e["@timestamp"] = e.flow?.phase === "end" ? new Date(T0 + 38_000).toISOString() : e["@timestamp"];
      return e;
    }));
    expect(ds.length).toBe(1);
    expect(ds[0]!.summary).toMatch(/sent 6400 UDP packets .* 800 packets\/s, nothing came back/);
  });

  it("stays quiet on DNS lookups, NTP and a video call", () => {
    const dns: Conn[] = Array.from({ length: 600 }, (_, i) => ({ t: T0 + i * 100, src: "10.0.0.7", dst: "10.0.0.1", dport: 53, proto: "udp", sent: 60, recv: 140 }));
    const ntp: Conn[] = Array.from({ length: 10 }, (_, i) => ({ t: T0 + i * 64_000, src: "10.0.0.7", dst: "192.0.2.123", dport: 123, proto: "udp", sent: 76, recv: 76 }));
    const call: Conn[] = [{ t: T0, src: "10.0.0.7", dst: "198.51.100.40", dport: 3478, proto: "udp", durationMs: 600_000, sentPackets: 60_000, sent: 60_000 * 900, recvPackets: 60_000, recv: 60_000 * 900 }];
    expect(run([detector()], timeline([...dns, ...ntp, ...call]))).toEqual([]);
  });

  it("forgets counters on tick after the window", () => {
    const d = detector();
    run([d], timeline(Array.from({ length: 50 }, (_, i) => ({ t: T0 + i, src: "10.0.0.7", dst: "10.0.0.1", dport: 53, proto: "udp" as const }))));
    expect(d.tracked()).toBeGreaterThan(0);
    d.tick!(T0 + 2 * 3600_000);
    expect(d.tracked()).toBe(0);
  });
});
