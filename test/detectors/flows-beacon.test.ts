import { describe, expect, it } from "vitest";
import { createBeaconDetector } from "../../src/detectors/flows/beacon.js";
import { parseFlowDetectorsConfig } from "../../src/detectors/flows/config.js";
import { rng, run, T0, timeline, type Conn } from "./flows-sim.js";

const cfg = parseFlowDetectorsConfig({});
const detector = (over: object = {}) => createBeaconDetector(parseFlowDetectorsConfig({ beacon: over }).beacon, 1000);

/** Calls home every `period` ms, sleeping period × (1 - jitter·u) with u uniform — like common implants. */
function beacon(n: number, period: number, jitter: number, extra: Partial<Conn> = {}): Conn[] {
  const r = rng(5);
  const out: Conn[] = [];
  let t = T0;
  for (let i = 0; i < n; i++) {
    out.push({ t: Math.round(t), src: "10.0.0.6", dst: "203.0.113.66", dport: 443, durationMs: 300, sent: 900, recv: 400, vm: "web1", ...extra });
    t += period * (1 - jitter * r());
  }
  return out;
}

describe("flow:beacon", () => {
  it("fires on a 60 s beacon with 30% jitter, naming the period", () => {
    const ds = run([detector()], timeline(beacon(20, 60_000, 0.3)));
    expect(ds.length).toBe(1);
    expect(ds[0]!.rule.id).toBe("flow:beacon");
    expect(ds[0]!.entity).toEqual({ kind: "vm", id: "web1" });
    expect(ds[0]!.severity).toBe("medium");
    const period = /every (\d+)s/.exec(ds[0]!.summary!);
    expect(Number(period?.[1])).toBeGreaterThan(40);
    expect(Number(period?.[1])).toBeLessThan(60);
  });

  it("fires on a slow beacon (every 30 minutes) and a fast one (every 8 s)", () => {
    expect(run([detector()], timeline(beacon(10, 1800_000, 0.1))).length).toBe(1);
    expect(run([detector()], timeline(beacon(60, 8000, 0.1))).length).toBe(1);
  });

  it("takes more jitter to an outside destination than to a private one", () => {
    // Intervals of 60 s ± 16% (four in five off by 16%): MAD/median 0.16 at every point of the series —
    // an implant's wide jitter outside, a cache or proxy fetched at human pace inside.
    const offsets = [-0.16, 0.16, -0.16, 0.16, 0];
    const series = (dst: string): Conn[] => {
      let t = T0;
      return Array.from({ length: 30 }, (_, i) => {
        const c = { t: Math.round(t), src: "10.0.0.6", dst, dport: 3142, vm: "web1" };
        t += 60_000 * (1 + offsets[i % offsets.length]!);
        return c;
      });
    };
    expect(run([detector()], timeline(series("203.0.113.66"))).length).toBe(1);
    expect(run([detector()], timeline(series("10.0.0.1")))).toEqual([]);
    expect(run([detector({ internalMaxJitter: 0.2 })], timeline(series("10.0.0.1"))).length).toBe(1);
  });

  it("tolerates a missed beat", () => {
    const conns = beacon(16, 60_000, 0.05).filter((_, i) => i !== 7);
    expect(run([detector()], timeline(conns)).length).toBe(1);
  });

  it("stays quiet on one-off bursts and on irregular browsing of one site", () => {
    const burst: Conn[] = Array.from({ length: 50 }, (_, i) => ({ t: T0 + i * 400, src: "10.0.0.6", dst: "203.0.113.66", dport: 443 }));
    expect(run([detector()], timeline(burst))).toEqual([]);
    const r = rng(9);
    const browsing: Conn[] = [];
    let t = T0;
    for (let i = 0; i < 40; i++) {
      browsing.push({ t: Math.round(t), src: "10.0.0.6", dst: "198.51.100.10", dport: 443 });
      t += -Math.log(1 - r()) * 60_000; // Poisson arrivals, mean one a minute
    }
    expect(run([detector()], timeline(browsing))).toEqual([]);
  });

  it("an NTP client polling every 64 s is left alone by the ignored ports, and only by them", () => {
    const ntp = beacon(20, 64_000, 0, { proto: "udp", dport: 123, dst: "192.0.2.123", sent: 76, recv: 76 });
    expect(run([detector()], timeline(ntp))).toEqual([]);
    expect(run([detector({ ignorePorts: [] })], timeline(ntp)).length).toBe(1);
  });

  it("an allowlisted monitoring poll is ignored; a poll to an internal host is low severity", () => {
    const poll = beacon(20, 15_000, 0, { src: "10.0.0.2", dst: "10.0.0.9", dport: 9090, vm: undefined });
    const ds = run([detector()], timeline(poll));
    expect(ds.map((d) => d.severity)).toEqual(["low"]);
    expect(run([detector({ allow: [{ source: "10.0.0.2", port: 9090 }] })], timeline(poll))).toEqual([]);
  });

  it("forgets series silent for two of the longest periods", () => {
    const d = detector();
    run([d], timeline(beacon(3, 60_000, 0)));
    expect(d.tracked()).toBe(1);
    d.tick!(T0 + 3 * cfg.beacon.maxPeriod);
    expect(d.tracked()).toBe(0);
  });
});
