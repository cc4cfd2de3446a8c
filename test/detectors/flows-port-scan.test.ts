import { describe, expect, it } from "vitest";
import { parseFlowDetectorsConfig } from "../../src/detectors/flows/config.js";
import { createPortScanDetector } from "../../src/detectors/flows/port-scan.js";
import { Alerter } from "../../src/detectors/alerts.js";
import { conn, rng, run, T0, timeline, type Conn } from "./flows-sim.js";

const cfg = parseFlowDetectorsConfig({});
const detector = () => createPortScanDetector(cfg.portScan, 1000);

describe("flow:port-scan", () => {
  it("fires on a vertical SYN scan (closed ports refused, a few open) attributed to the scanning VM", () => {
    const conns: Conn[] = [];
    for (let p = 1; p <= 1000; p++) conns.push({ t: T0 + p * 10, src: "10.0.0.5", dst: "10.0.0.9", dport: p, outcome: [22, 80, 443].includes(p) ? "ok" : "refused", vm: "attacker" });
    const ds = run([detector()], timeline(conns));
    expect(ds.length).toBe(1);
    const d = ds[0]!;
    expect(d.rule.id).toBe("flow:port-scan");
    expect(d.entity).toEqual({ kind: "vm", id: "attacker" });
    expect(d.summary).toMatch(/^10\.0\.0\.5 probed \d+ ports on 10\.0\.0\.9/);
    expect(d.events.length).toBeGreaterThan(0);
    expect(d.events.length).toBeLessThanOrEqual(5);
    expect(d.rule.tags).toContain("attack.t1046");
  });

  it("a second scan by the same VM of a new target is a new alert (a local sweep, then an internet host)", () => {
    const conns: Conn[] = [];
    for (let h = 16; h < 32; h++) for (const [i, p] of [22, 80, 443, 445, 3389].entries()) conns.push({ t: T0 + h * 200 + i * 20, src: "10.0.0.23", dst: `10.0.0.${h}`, dport: p, outcome: h === 21 && p === 22 ? "ok" : "timeout", vm: "ops01" });
    for (let p = 1; p <= 1024; p++) conns.push({ t: T0 + 120_000 + p * 5, src: "10.0.0.23", dst: "203.0.113.50", dport: p, outcome: p === 22 || p === 80 ? "ok" : "refused", vm: "ops01" });
    const alerter = new Alerter();
    const updates = run([detector()], timeline(conns)).map((d) => alerter.process(d));
    const alerts = updates.filter((u) => u.isNew).map((u) => u.alert);
    expect(alerts.map((a) => a.target)).toEqual(expect.arrayContaining(["10.0.0.0/24", "203.0.113.50"]));
    const inet = alerts.find((a) => a.target === "203.0.113.50")!;
    expect(inet.entity).toEqual({ kind: "vm", id: "ops01" });
    expect(inet.summary).toMatch(/probed \d+ ports on 203\.0\.113\.50/);
    expect(Date.parse(inet.first_seen)).toBeGreaterThanOrEqual(T0 + 120_000);
    // The sweep's five ports (and the block view of it) are one alert about the network, whose count grows.
    expect(alerts.filter((a) => a.target === "10.0.0.0/24").length).toBe(1);
    expect(updates.filter((u) => u.alert.target === "10.0.0.0/24").length).toBeGreaterThanOrEqual(5);
  });

  it("fires on a block scan of a LAN's live hosts: a few ports on each of a few hosts, most refused", () => {
    const conns: Conn[] = [];
    const open = new Set(["10.0.0.21 22", "10.0.0.21 5432", "10.0.0.20 80", "10.0.0.20 22"]);
    for (const h of [20, 21, 22, 23]) for (const [i, p] of [22, 80, 443, 445, 3389, 5432, 8080, 9100].entries()) conns.push({ t: T0 + h * 50 + i * 5, src: "10.0.0.23", dst: `10.0.0.${h}`, dport: p, outcome: open.has(`10.0.0.${h} ${p}`) ? "ok" : "refused", vm: "ops01" });
    const ds = run([detector()], timeline(conns));
    expect(ds.map((d) => d.rule.title)).toEqual(["Port scan (some ports on several hosts)"]);
    expect(ds[0]!.target).toBe("10.0.0.0/24");
    expect(ds[0]!.entity).toEqual({ kind: "vm", id: "ops01" });
    // Fewer targets (a client reaching four services on two hosts, one refused) stay quiet.
    const few = conns.filter((c) => ["10.0.0.20", "10.0.0.21"].includes(c.dst) && [22, 80, 443, 5432].includes(c.dport));
    expect(run([detector()], timeline(few))).toEqual([]);
  });

  it("makes the alert about the scanner's address, not the VM, when the VM is the one scanned", () => {
    const conns: Conn[] = [];
    for (let p = 1; p <= 1000; p++) conns.push({ t: T0 + p * 10, src: "203.0.113.66", dst: "10.0.0.9", dport: p, outcome: "refused", vm: "victim", vmSide: "destination" });
    const ds = run([detector()], timeline(conns));
    expect(ds.length).toBe(1);
    expect(ds[0]!.entity).toEqual({ kind: "ip", id: "203.0.113.66" });
  });

  it("fires on a horizontal sweep of one port across a /24 where most hosts never answer", () => {
    const conns: Conn[] = [];
    for (let h = 1; h <= 254; h++) conns.push({ t: T0 + h * 20, src: "10.0.0.5", dst: `10.0.1.${h}`, dport: 22, outcome: h % 10 === 0 ? "ok" : "timeout" });
    const ds = run([detector()], timeline(conns));
    expect(ds.map((d) => d.rule.title)).toEqual(["Port scan (one port on many hosts)"]);
    expect(ds[0]!.entity).toEqual({ kind: "ip", id: "10.0.0.5" });
    expect(ds[0]!.summary).toContain("port 22/tcp");
  });

  it("stays quiet on a browser: many connections to one CDN host and to 60 different web hosts on 443", () => {
    const r = rng(7);
    const conns: Conn[] = [];
    for (let i = 0; i < 40; i++) conns.push({ t: T0 + Math.floor(r() * 120_000), src: "10.0.0.7", dst: "203.0.113.80", dport: 443, durationMs: 5000 + r() * 60_000 });
    for (let h = 0; h < 60; h++) conns.push({ t: T0 + Math.floor(r() * 120_000), src: "10.0.0.7", dst: `198.51.100.${h + 1}`, dport: h % 5 === 0 ? 80 : 443, durationMs: 2000 + r() * 30_000 });
    expect(run([detector()], timeline(conns))).toEqual([]);
  });

  it("stays quiet on DNS lookups and an NTP client", () => {
    const conns: Conn[] = [];
    for (let i = 0; i < 300; i++) conns.push({ t: T0 + i * 500, src: "10.0.0.7", dst: "10.0.0.1", dport: 53, proto: "udp", sent: 60, recv: 120 });
    for (let i = 0; i < 20; i++) conns.push({ t: T0 + i * 64_000, src: "10.0.0.7", dst: "192.0.2.123", dport: 123, proto: "udp", sent: 76, recv: 76 });
    expect(run([detector()], timeline(conns))).toEqual([]);
  });

  it("weights failures above established connections: 20 refused ports fire, 20 established ones do not", () => {
    const make = (outcome: "ok" | "refused") => timeline(Array.from({ length: 20 }, (_, i) => ({ t: T0 + i * 100, src: "10.0.0.5", dst: "10.0.0.9", dport: 8000 + i, outcome })));
    expect(run([detector()], make("refused")).length).toBe(1);
    expect(run([detector()], make("ok"))).toEqual([]);
  });

  it("a slow scan whose probes are spread beyond the window does not add up, and ticks forget old state", () => {
    const d = detector();
    const conns: Conn[] = Array.from({ length: 40 }, (_, i) => ({ t: T0 + i * 60_000, src: "10.0.0.5", dst: "10.0.0.9", dport: 1000 + i, outcome: "refused" as const }));
    // 5 probes per 5-minute window: never 15.
    expect(run([d], timeline(conns))).toEqual([]);
    expect(d.tracked()).toBeGreaterThan(0);
    d.tick!(T0 + 40 * 60_000 + 3600_000);
    expect(d.tracked()).toBe(0);
  });

  it("keeps memory bounded with many sources", () => {
    const d = createPortScanDetector(cfg.portScan, 500);
    for (let i = 0; i < 4000; i++) {
      for (const e of conn({ t: T0 + i, src: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, dst: "10.200.0.1", dport: 443, noEnd: true })) d.onEvent(e);
    }
    // 500 sources at most, each with one host group and one port group.
    expect(d.tracked()).toBeLessThanOrEqual(500 * 3);
  });

  it("leaves allowlisted sources alone (a vulnerability scanner)", () => {
    const d = createPortScanDetector(parseFlowDetectorsConfig({ portScan: { allow: [{ source: "10.0.0.0/29", comment: "scanner" }] } }).portScan, 100);
    const conns: Conn[] = Array.from({ length: 100 }, (_, i) => ({ t: T0 + i * 10, src: "10.0.0.5", dst: "10.0.0.9", dport: 1 + i, outcome: "refused" as const }));
    expect(run([d], timeline(conns))).toEqual([]);
  });
});

describe("outcomeOf", () => {
  it("reads conntrack's states and flags: an ACK probe picked up as NEW ESTABLISHED is not established", async () => {
    const { outcomeOf } = await import("../../src/detectors/flows/common.js");
    const [ackProbe] = conn({ t: T0, src: "10.0.0.5", dst: "10.0.0.9", dport: 80, outcome: "timeout" });
    ackProbe!.flow!.state = "ESTABLISHED";
    expect(outcomeOf(ackProbe!)).toBe("pending");
    const refused = conn({ t: T0, src: "10.0.0.5", dst: "10.0.0.9", dport: 81, outcome: "refused", noUpdates: true });
    expect(refused.map(outcomeOf)).toEqual(["pending", "failed"]);
    const ok = conn({ t: T0, src: "10.0.0.5", dst: "10.0.0.9", dport: 443, noUpdates: true });
    expect(ok.map(outcomeOf)).toEqual(["pending", "established"]);
    const unanswered = conn({ t: T0, src: "10.0.0.5", dst: "10.0.0.9", dport: 444, outcome: "timeout" });
    expect(unanswered.map(outcomeOf)).toEqual(["pending", "failed"]);
  });
});
