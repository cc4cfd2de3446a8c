import { describe, expect, it } from "vitest";
import { parseFlowDetectorsConfig } from "../../src/detectors/flows/config.js";
import { createDnsTunnelDetector } from "../../src/detectors/flows/dns-tunnel.js";
import { createIcmpTunnelDetector } from "../../src/detectors/flows/icmp-tunnel.js";
import { rng, run, T0, timeline, type Conn } from "./flows-sim.js";

const cfg = parseFlowDetectorsConfig({});
const dns = () => createDnsTunnelDetector(cfg.dnsTunnel, 1000);
const icmp = () => createIcmpTunnelDetector(cfg.icmpTunnel, 1000);

/** Ordinary lookups: one flow per lookup (A + AAAA on one port), 60-90 bytes a query. */
function lookups(n: number, spanMs: number, opts: Partial<Conn> = {}): Conn[] {
  const r = rng(5);
  return Array.from({ length: n }, () => {
    const q = 1 + Math.floor(r() * 2);
    return { t: T0 + Math.floor(r() * spanMs), src: "10.0.0.20", dst: "10.0.0.1", dport: 53, proto: "udp", vm: "app", sent: q * (60 + Math.floor(r() * 30)), sentPackets: q, recv: q * 120, recvPackets: q, ...opts } as Conn;
  });
}

describe("flow:dns-tunnel", () => {
  it("fires on queries carrying data in their names through the VM's resolver (one query per flow)", () => {
    // 300 queries of ~240 bytes, 4 a second: what a script running dig per chunk sends.
    const tunnel: Conn[] = Array.from({ length: 300 }, (_, i) => ({ t: T0 + 60_000 + i * 250, src: "10.0.0.20", dst: "10.0.0.1", dport: 53, proto: "udp", vm: "app", sent: 236 + (i % 9), sentPackets: 1, recv: 290, recvPackets: 1 }));
    const ds = run([dns()], timeline([...lookups(200, 600_000), ...tunnel]));
    expect(ds.length).toBe(1);
    const d = ds[0]!;
    expect(d.rule.id).toBe("flow:dns-tunnel");
    expect(d.entity).toEqual({ kind: "vm", id: "app" });
    expect(d.target).toBe("10.0.0.1:53/udp");
    expect(d.summary).toMatch(/^app \(10\.0\.0\.20\) sent \d+ DNS queries averaging \d+ bytes to 10\.0\.0\.1:53\/udp \(its resolver\)/);
    // Detected within the tunnel's time plus a UDP timeout, not at the end of the stream.
    expect(Date.parse(d.events[d.events.length - 1]!["@timestamp"])).toBeLessThan(T0 + 60_000 + 300 * 250 + 31_000);
  });

  it("fires on one long-lived flow carrying hundreds of queries (iodine keeps one socket), even with names too short to count as long", () => {
    const ds = run([dns()], timeline([...lookups(100, 600_000), { t: T0 + 30_000, src: "10.0.0.20", dst: "10.0.0.1", dport: 53, proto: "udp", vm: "app", durationMs: 90_000, sent: 900 * 110, sentPackets: 900, recv: 900 * 400, recvPackets: 900 }]));
    expect(ds.map((d) => d.rule.id)).toEqual(["flow:dns-tunnel"]);
    expect(ds[0]!.summary).toContain("one flow carried 900 queries");
  });

  it("stays quiet on a client that reuses one socket for many ordinary lookups (c-ares)", () => {
    const ds = run([dns()], timeline([...lookups(100, 600_000), { t: T0 + 30_000, src: "10.0.0.20", dst: "10.0.0.1", dport: 53, proto: "udp", vm: "app", durationMs: 300_000, sent: 2000 * 75, sentPackets: 2000, recv: 2000 * 140, recvPackets: 2000 }]));
    expect(ds).toEqual([]);
  });

  it("stays quiet on a mail server's blocklist lookups: many queries, ordinary names", () => {
    const r = rng(9);
    const dnsbl: Conn[] = Array.from({ length: 3000 }, () => ({ t: T0 + Math.floor(r() * 600_000), src: "10.0.0.20", dst: "10.0.0.1", dport: 53, proto: "udp", vm: "app", sent: 95 + Math.floor(r() * 20), sentPackets: 1, recv: 111, recvPackets: 1 }));
    expect(run([dns()], timeline([...lookups(300, 600_000), ...dnsbl]))).toEqual([]);
  });

  it("lowers the bar for a DNS server that is not the VM's resolver", () => {
    // 30 long queries: 30 × 140 bytes of payload ≈ 4 KiB, under 8 KiB to the resolver, over 2 KiB elsewhere.
    const burst = (dst: string): Conn[] => Array.from({ length: 30 }, (_, i) => ({ t: T0 + 120_000 + i * 300, src: "10.0.0.20", dst, dport: 53, proto: "udp", vm: "app", sent: 240, sentPackets: 1, recv: 300, recvPackets: 1 }));
    expect(run([dns()], timeline([...lookups(200, 600_000), ...burst("10.0.0.1")]))).toEqual([]);
    const ds = run([dns()], timeline([...lookups(200, 600_000), ...burst("198.51.100.53")]));
    expect(ds.length).toBe(1);
    expect(ds[0]!.summary).toContain("(not its resolver)");
    expect(ds[0]!.target).toBe("198.51.100.53:53/udp");
  });

  it("leaves the host's own resolver alone (it forwards its VMs' queries upstream)", () => {
    const forwarded: Conn[] = Array.from({ length: 300 }, (_, i) => ({ t: T0 + i * 250, src: "10.99.0.2", dst: "198.51.100.53", dport: 53, proto: "udp", sent: 240, sentPackets: 1, recv: 290, recvPackets: 1 }));
    expect(run([dns()], timeline(forwarded))).toEqual([]);
  });
});

describe("flow:icmp-tunnel", () => {
  it("fires on echoes carrying 1100-byte payloads for a minute, attributed to the VM", () => {
    const ping: Conn = { t: T0, src: "10.0.0.23", dst: "192.0.2.123", dport: 0, proto: "icmp", vm: "ops", durationMs: 60_000, sent: 240 * 1128, sentPackets: 240, recv: 240 * 1128, recvPackets: 240 };
    const ds = run([icmp()], timeline([ping]));
    expect(ds.length).toBe(1);
    expect(ds[0]!.rule.id).toBe("flow:icmp-tunnel");
    expect(ds[0]!.entity).toEqual({ kind: "vm", id: "ops" });
    expect(ds[0]!.target).toBe("192.0.2.123");
    expect(ds[0]!.summary).toMatch(/^10\.0\.0\.23 ⇄ 192\.0\.2\.123: 1 ICMP flow\(s\), 480 packets averaging 1128 bytes/);
  });

  it("stays quiet on monitoring pings and path-MTU checks", () => {
    const conns: Conn[] = [];
    for (let i = 0; i < 60; i++) conns.push({ t: T0 + i * 10_000, src: "10.0.0.1", dst: "10.0.0.23", dport: 0, proto: "icmp", sent: 84, sentPackets: 1, recv: 84, recvPackets: 1 });
    for (let i = 0; i < 5; i++) conns.push({ t: T0 + i * 120_000, src: "10.0.0.22", dst: "192.0.2.10", dport: 0, proto: "icmp", vm: "mail", durationMs: 1000, sent: 3 * 1500, sentPackets: 3, recv: 3 * 1500, recvPackets: 3 });
    // A long ordinary ping: many packets, ordinary size.
    conns.push({ t: T0, src: "10.0.0.22", dst: "192.0.2.10", dport: 0, proto: "icmp", vm: "mail", durationMs: 600_000, sent: 600 * 84, sentPackets: 600, recv: 600 * 84, recvPackets: 600 });
    expect(run([icmp()], timeline(conns))).toEqual([]);
  });
});
