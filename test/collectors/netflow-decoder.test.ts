// NetFlow v5/v9 and IPFIX decoding on hand-built packets (test/fixtures/netflow/build.ts): the
// field mapping, template handling (scope, expiry, withdrawal, options), enterprise and
// variable-length fields, padding, and every kind of malformed packet.

import { describe, it, expect } from "vitest";
import { createNetflowDecoder } from "../../src/collectors/flows/netflow/decoder.js";
import { BASIC, basicRecord, ipfix, ipfixOptionsTemplateRecord, ipv4, set, templateRecord, u16, u32, u64, u8, v5, v9, v9OptionsTemplateRecord, varlen } from "../fixtures/netflow/build.js";

const EXP = { address: "192.0.2.10", port: 4739 };
const T0 = new Date("2026-03-01T12:00:00Z");
const EXPORT_SEC = Date.parse("2026-03-01T12:00:00Z") / 1000;

describe("NetFlow v5", () => {
  it("maps every record field and turns uptime times into wall-clock times, across the 2^32 ms wrap", () => {
    const d = createNetflowDecoder({ host: "hv1" });
    const pkt = v5({ sysUptimeMs: 5000, unixSecs: EXPORT_SEC, unixNsecs: 250_000_000, sequence: 7 }, [
      { src: "10.1.0.1", dst: "10.1.0.2", input: 3, output: 4, packets: 10, octets: 1500, firstMs: 1000, lastMs: 4000, sport: 40000, dport: 443, flags: 0x1b, proto: 6 },
      // Started before the uptime counter wrapped (2^32 − 1000 ms): 6000 ms before the export.
      { src: "10.1.0.3", dst: "10.1.0.4", packets: 1, octets: 84, firstMs: 2 ** 32 - 1000, lastMs: 5000, sport: 0, dport: 0x0800, proto: 1 },
    ]);
    const events = d.packet(pkt, EXP, T0);
    expect(events).toHaveLength(2);
    const [tcp, icmp] = events;
    expect(tcp!.source).toEqual({ ip: "10.1.0.1", port: 40000, bytes: 1500, packets: 10 });
    expect(tcp!.destination).toEqual({ ip: "10.1.0.2", port: 443 });
    expect(tcp!.network).toMatchObject({ transport: "tcp", iana_number: 6, bytes: 1500, packets: 10, type: "ipv4" });
    expect(tcp!.flow).toMatchObject({ collector: "netflow", phase: "end", tcp_flags: ["FIN", "SYN", "PSH", "ACK"], exporter: { address: "192.0.2.10", port: 4739, version: 5, domain: 0 } });
    // export = EXPORT_SEC + 250 ms, at uptime 5000: uptime 1000 is 4000 ms earlier.
    expect(tcp!.flow!.start).toBe(new Date(EXPORT_SEC * 1000 + 250 - 4000).toISOString());
    expect(tcp!.flow!.end).toBe(new Date(EXPORT_SEC * 1000 + 250 - 1000).toISOString());
    expect(tcp!.flow!.duration_ms).toBe(3000);
    expect(tcp!.observer).toEqual({ ingress: { interface: { name: "3" } }, egress: { interface: { name: "4" } } });
    expect(tcp!.host).toEqual({ name: "hv1" });
    expect(tcp!["@timestamp"]).toBe(tcp!.flow!.end);
    // ICMP: type/code in the port field is not a port; interface 0 means unknown.
    expect(icmp!.source!.port).toBeUndefined();
    expect(icmp!.destination!.port).toBeUndefined();
    expect(icmp!.observer).toBeUndefined();
    expect(icmp!.flow!.duration_ms).toBe(6000);
    expect(icmp!.flow!.tcp_flags).toBeUndefined();
    expect(d.stats()).toMatchObject({ packets: 1, flows: 2, malformed: 0, versions: { 5: 1 } });
  });

  it("rejects a header whose record count does not fit the packet, without flows", () => {
    const d = createNetflowDecoder();
    const rec = { src: "10.1.0.1", dst: "10.1.0.2", packets: 1, octets: 60, firstMs: 0, lastMs: 0, sport: 1, dport: 2, proto: 17 };
    expect(d.packet(v5({ sysUptimeMs: 0, unixSecs: EXPORT_SEC, count: 3 }, [rec, rec]), EXP)).toEqual([]);
    expect(d.packet(v5({ sysUptimeMs: 0, unixSecs: EXPORT_SEC, count: 31 }, [rec]), EXP)).toEqual([]);
    expect(d.packet(v5({ sysUptimeMs: 0, unixSecs: EXPORT_SEC }, [rec]).subarray(0, 20), EXP)).toEqual([]);
    const s = d.stats();
    expect(s.malformed).toBe(3);
    expect(s.problems.map((p) => p.reason)).toEqual([
      "v5 header says 3 records (168 bytes), packet has 120 bytes",
      "v5 header says 31 records, more than the 30 a v5 packet can hold",
      "v5 header needs 24 bytes, packet has 20",
    ]);
    expect(s.problems[0]!.exporter).toBe("192.0.2.10:4739");
  });
});

describe("NetFlow v9", () => {
  const tpl = set(0, templateRecord(300, [...BASIC, [22, 4], [21, 4], [10, 2], [14, 2], [56, 6], [80, 6]]));
  const rec = (src: string, octets: number): Buffer =>
    Buffer.concat([basicRecord(src, "10.2.0.9", 5353, 53, 17, octets, 2), u32(90_000), u32(99_000), u16(7), u16(0), Buffer.from("525400aabbcc", "hex"), Buffer.from("525400ddeeff", "hex")]);

  it("decodes data with a template from the same packet; times are relative to sysUptime; domain is the source id", () => {
    const d = createNetflowDecoder();
    const pkt = v9({ sysUptimeMs: 100_000, unixSecs: EXPORT_SEC, sequence: 42, sourceId: 7 }, [tpl, set(300, Buffer.concat([rec("10.2.0.1", 100), rec("10.2.0.2", 200)]), { pad: 2 })]);
    const events = d.packet(pkt, EXP, T0);
    expect(events.map((e) => [e.source!.ip, e.source!.bytes])).toEqual([
      ["10.2.0.1", 100],
      ["10.2.0.2", 200],
    ]);
    const e = events[0]!;
    expect(e.flow!.exporter).toEqual({ address: "192.0.2.10", port: 4739, version: 9, domain: 7, template: 300 });
    expect(e.flow!.start).toBe(new Date(EXPORT_SEC * 1000 - 10_000).toISOString());
    expect(e.flow!.end).toBe(new Date(EXPORT_SEC * 1000 - 1_000).toISOString());
    expect(e.source!.mac).toBe("52:54:00:aa:bb:cc");
    expect(e.destination!.mac).toBe("52:54:00:dd:ee:ff");
    expect(e.observer).toEqual({ ingress: { interface: { name: "7" } } });
    expect(e.network!.community_id).toMatch(/^1:/);
    expect(new Set(events.map((x) => x.event.id)).size).toBe(2);
    expect(d.stats()).toMatchObject({ templates: 1, flows: 2, noTemplate: 0, malformed: 0 });
  });

  it("counts data before its template as noTemplate (not an error), and decodes it once the template came", () => {
    const d = createNetflowDecoder();
    const data = set(300, rec("10.2.0.1", 100));
    expect(d.packet(v9({ sysUptimeMs: 1, unixSecs: EXPORT_SEC }, [data]), EXP, T0)).toEqual([]);
    expect(d.stats()).toMatchObject({ noTemplate: 1, malformed: 0 });
    d.packet(v9({ sysUptimeMs: 1, unixSecs: EXPORT_SEC }, [tpl]), EXP, T0);
    expect(d.packet(v9({ sysUptimeMs: 1, unixSecs: EXPORT_SEC }, [data]), EXP, T0)).toHaveLength(1);
  });

  it("keeps templates per exporter address and port, and per source id", () => {
    const d = createNetflowDecoder();
    d.packet(v9({ sysUptimeMs: 1, unixSecs: EXPORT_SEC, sourceId: 1 }, [tpl]), EXP, T0);
    const data = (sourceId: number): Buffer => v9({ sysUptimeMs: 1, unixSecs: EXPORT_SEC, sourceId }, [set(300, rec("10.2.0.1", 1))]);
    expect(d.packet(data(1), EXP, T0)).toHaveLength(1);
    expect(d.packet(data(2), EXP, T0)).toHaveLength(0);
    expect(d.packet(data(1), { ...EXP, port: 4740 }, T0)).toHaveLength(0);
    expect(d.packet(data(1), { ...EXP, address: "192.0.2.11" }, T0)).toHaveLength(0);
    expect(d.stats().noTemplate).toBe(3);
  });

  it("forgets a template not refreshed within the TTL; a refresh keeps it", () => {
    const d = createNetflowDecoder({ templateTtlMs: 60_000 });
    const at = (s: number): Date => new Date(T0.getTime() + s * 1000);
    const data = v9({ sysUptimeMs: 1, unixSecs: EXPORT_SEC }, [set(300, rec("10.2.0.1", 1))]);
    d.packet(v9({ sysUptimeMs: 1, unixSecs: EXPORT_SEC }, [tpl]), EXP, at(0));
    expect(d.packet(data, EXP, at(50))).toHaveLength(1);
    d.packet(v9({ sysUptimeMs: 1, unixSecs: EXPORT_SEC }, [tpl]), EXP, at(55));
    expect(d.packet(data, EXP, at(110))).toHaveLength(1);
    expect(d.packet(data, EXP, at(200))).toHaveLength(0);
    expect(d.stats()).toMatchObject({ expiredTemplates: 1, noTemplate: 1, activeTemplates: 0 });
  });

  it("decodes options templates and counts their records without making flows", () => {
    const d = createNetflowDecoder();
    const opt = set(1, v9OptionsTemplateRecord(310, [[1, 4]], [[34, 4], [35, 1]]), { pad: 2 });
    const optData = set(310, Buffer.concat([u32(1), u32(100), u8(2), u32(1), u32(50), u8(1)]), { pad: 2 });
    const events = d.packet(v9({ sysUptimeMs: 1, unixSecs: EXPORT_SEC }, [opt, optData]), EXP, T0);
    expect(events).toEqual([]);
    expect(d.stats()).toMatchObject({ optionsTemplates: 1, optionRecords: 2, flows: 0, malformed: 0 });
  });

  it("skips a zero-filled tail after the last set (fixed-size exporter datagrams)", () => {
    const d = createNetflowDecoder();
    const pkt = Buffer.concat([v9({ sysUptimeMs: 1, unixSecs: EXPORT_SEC }, [tpl, set(300, rec("10.2.0.1", 1))]), Buffer.alloc(300)]);
    expect(d.packet(pkt, EXP, T0)).toHaveLength(1);
    expect(d.stats().malformed).toBe(0);
  });
});

describe("IPFIX", () => {
  it("reads milliseconds, NTP and delta times, and the reverse counters of RFC 5103 biflows", () => {
    const d = createNetflowDecoder();
    const t = set(2, templateRecord(400, [...BASIC, [152, 8], [153, 8], [1, 8, 29305], [2, 8, 29305], [6, 2]]));
    const startMs = EXPORT_SEC * 1000 - 5000;
    const r = Buffer.concat([basicRecord("10.3.0.1", "10.3.0.2", 50000, 22, 6, 4000, 30), u64(startMs), u64(startMs + 4000), u64(90000), u64(60), u16(0x0112)]);
    const [e] = d.packet(ipfix({ exportSec: EXPORT_SEC, domain: 9, sequence: 1 }, [t, set(400, r)]), EXP, T0);
    expect(e!.flow).toMatchObject({ collector: "ipfix", start: new Date(startMs).toISOString(), duration_ms: 4000, tcp_flags: ["SYN", "ACK"], exporter: { version: 10, domain: 9, template: 400 } });
    expect(e!.source).toMatchObject({ bytes: 4000, packets: 30 });
    expect(e!.destination).toMatchObject({ bytes: 90000, packets: 60 });
    expect(e!.network).toMatchObject({ bytes: 94000, packets: 90 });

    const t2 = set(2, templateRecord(401, [[27, 16], [28, 16], [4, 1], [154, 8], [159, 4]]));
    const ntp = Buffer.concat([u32(EXPORT_SEC - 10 + 2208988800), u32(0x80000000)]);
    const v6 = Buffer.concat([Buffer.from("20010db8000000000000000000000001", "hex"), Buffer.from("fe800000000000000202b3fffe1e8329", "hex"), u8(58), ntp, u32(2_000_000)]);
    const [e6] = d.packet(ipfix({ exportSec: EXPORT_SEC }, [t2, set(401, v6)]), EXP, T0);
    expect(e6!.source!.ip).toBe("2001:db8::1");
    expect(e6!.destination!.ip).toBe("fe80::202:b3ff:fe1e:8329");
    expect(e6!.network).toMatchObject({ type: "ipv6", transport: "ipv6-icmp" });
    expect(e6!.flow!.start).toBe(new Date(EXPORT_SEC * 1000 - 9500).toISOString());
    expect(e6!.flow!.end).toBe(new Date(EXPORT_SEC * 1000 - 2000).toISOString());
  });

  it("skips enterprise-specific fields by their length, including variable-length ones", () => {
    const d = createNetflowDecoder();
    const t = set(2, templateRecord(402, [[8, 4], [100, 4, 9], [200, 0xffff, 6876], [12, 4], [4, 1], [1, 4]]));
    const r = (extra: Buffer): Buffer => Buffer.concat([ipv4("10.4.0.1"), u32(0xdeadbeef), extra, ipv4("10.4.0.2"), u8(17), u32(321)]);
    const events = d.packet(ipfix({ exportSec: EXPORT_SEC }, [t, set(402, Buffer.concat([r(varlen(Buffer.from("abc"))), r(varlen(Buffer.alloc(300, 1))), r(varlen(Buffer.alloc(0)))]))]), EXP, T0);
    expect(events.map((e) => [e.source!.ip, e.destination!.ip, e.source!.bytes])).toEqual([
      ["10.4.0.1", "10.4.0.2", 321],
      ["10.4.0.1", "10.4.0.2", 321],
      ["10.4.0.1", "10.4.0.2", 321],
    ]);
    expect(d.stats().malformed).toBe(0);
  });

  it("reads a variable-length field in the 3-byte long form even when the value is short", () => {
    const d = createNetflowDecoder();
    const t = set(2, templateRecord(403, [[8, 4], [82, 0xffff], [12, 4], [4, 1]]));
    const r = Buffer.concat([ipv4("10.5.0.1"), varlen(Buffer.from("eth0"), true), ipv4("10.5.0.2"), u8(6)]);
    const [e] = d.packet(ipfix({ exportSec: EXPORT_SEC }, [t, set(403, r, { pad: 3 })]), EXP, T0);
    expect([e!.source!.ip, e!.destination!.ip, e!.network!.transport]).toEqual(["10.5.0.1", "10.5.0.2", "tcp"]);
  });

  it("withdraws one template, and all templates with id 2; options templates with id 3", () => {
    const d = createNetflowDecoder();
    const msg = (...sets: Buffer[]): Buffer => ipfix({ exportSec: EXPORT_SEC }, sets);
    const data = (id: number): Buffer => set(id, basicRecord("10.6.0.1", "10.6.0.2", 1, 2, 17, 10, 1));
    d.packet(msg(set(2, Buffer.concat([templateRecord(500, BASIC), templateRecord(501, BASIC)])), set(3, ipfixOptionsTemplateRecord(502, 1, [[149, 4], [160, 8]]))), EXP, T0);
    expect(d.packet(msg(data(500), data(501)), EXP, T0)).toHaveLength(2);
    d.packet(msg(set(2, Buffer.concat([u16(500), u16(0)]))), EXP, T0);
    expect(d.packet(msg(data(500), data(501)), EXP, T0)).toHaveLength(1);
    d.packet(msg(set(2, Buffer.concat([u16(2), u16(0)]))), EXP, T0);
    expect(d.packet(msg(data(501)), EXP, T0)).toHaveLength(0);
    // The options template survives "withdraw all templates" and goes with "withdraw all options templates".
    expect(d.packet(msg(set(502, Buffer.concat([u32(1), u64(1)]))), EXP, T0)).toHaveLength(0);
    expect(d.stats().optionRecords).toBe(1);
    d.packet(msg(set(3, Buffer.concat([u16(3), u16(0)]))), EXP, T0);
    d.packet(msg(set(502, Buffer.concat([u32(1), u64(1)]))), EXP, T0);
    expect(d.stats()).toMatchObject({ optionRecords: 1, withdrawals: 3, noTemplate: 3, malformed: 0, activeTemplates: 0 });
  });

  it("uses systemInitTimeMilliseconds from an options record for uptime-based times", () => {
    const d = createNetflowDecoder();
    const boot = EXPORT_SEC * 1000 - 3_600_000;
    const pkt = ipfix({ exportSec: EXPORT_SEC }, [
      set(3, ipfixOptionsTemplateRecord(510, 1, [[144, 4], [160, 8]])),
      set(2, templateRecord(511, [...BASIC, [22, 4], [21, 4]])),
      set(510, Buffer.concat([u32(1), u64(boot)])),
      set(511, Buffer.concat([basicRecord("10.7.0.1", "10.7.0.2", 1, 2, 17, 10, 1), u32(1000), u32(3000)])),
    ]);
    const [e] = d.packet(pkt, EXP, T0);
    expect(e!.flow!.start).toBe(new Date(boot + 1000).toISOString());
    expect(e!.flow!.end).toBe(new Date(boot + 3000).toISOString());
  });

  it("evicts the least recently refreshed template beyond maxTemplates", () => {
    const d = createNetflowDecoder({ maxTemplates: 2 });
    for (const id of [600, 601, 602]) d.packet(ipfix({ exportSec: EXPORT_SEC }, [set(2, templateRecord(id, BASIC))]), EXP, T0);
    const data = (id: number): number => d.packet(ipfix({ exportSec: EXPORT_SEC }, [set(id, basicRecord("10.8.0.1", "10.8.0.2", 1, 2, 17, 1, 1))]), EXP, T0).length;
    expect([data(600), data(601), data(602)]).toEqual([0, 1, 1]);
    expect(d.stats()).toMatchObject({ evictedTemplates: 1, activeTemplates: 2 });
  });
});

describe("export loss from sequence numbers", () => {
  const rec = { src: "10.1.0.1", dst: "10.1.0.2", packets: 1, octets: 60, firstMs: 0, lastMs: 0, sport: 1, dport: 2, proto: 17 };

  it("v5 counts flows, v9 packets, IPFIX data records; a restart is a reset, not loss", () => {
    const d = createNetflowDecoder();
    const five = (sequence: number, n: number): Buffer => v5({ sysUptimeMs: 1, unixSecs: EXPORT_SEC, sequence }, Array<typeof rec>(n).fill(rec));
    d.packet(five(100, 2), EXP, T0);
    d.packet(five(102, 3), EXP, T0); // in order
    d.packet(five(110, 1), EXP, T0); // flows 105–109 lost
    expect(d.stats()).toMatchObject({ sequenceLost: 5, sequenceResets: 0 });

    const nine = (sequence: number): Buffer => v9({ sysUptimeMs: 1, unixSecs: EXPORT_SEC, sequence }, [set(0, templateRecord(300, BASIC))]);
    d.packet(nine(7), EXP, T0);
    d.packet(nine(8), EXP, T0);
    d.packet(nine(11), EXP, T0); // packets 9 and 10 lost
    d.packet(nine(2), EXP, T0); // exporter restarted
    expect(d.stats()).toMatchObject({ sequenceLost: 7, sequenceResets: 1 });

    const fix = (sequence: number, n: number): Buffer =>
      ipfix({ exportSec: EXPORT_SEC, sequence }, [set(2, templateRecord(400, BASIC)), set(400, Buffer.concat(Array.from({ length: n }, () => basicRecord("10.1.0.1", "10.1.0.2", 1, 2, 17, 1, 1))))]);
    d.packet(fix(0, 4), EXP, T0);
    d.packet(fix(4, 2), EXP, T0);
    d.packet(fix(2 ** 32 - 1, 1), { ...EXP, port: 1 }, T0);
    d.packet(fix(0, 1), { ...EXP, port: 1 }, T0); // wraps modulo 2^32
    d.packet(fix(16, 1), EXP, T0); // records 6–15 lost
    expect(d.stats()).toMatchObject({ sequenceLost: 17, sequenceResets: 1 });
  });
});

describe("malformed packets: a reason, a count, no throw, no half-read flow", () => {
  const tpl = set(2, templateRecord(700, BASIC));
  const good = set(700, basicRecord("10.9.0.1", "10.9.0.2", 1, 2, 17, 5, 1));
  const cases: Array<[string, Buffer, RegExp, number]> = [
    ["empty datagram", Buffer.alloc(0), /truncated header: 0 bytes/, 0],
    ["unknown version", Buffer.from([0, 7, 0, 0]), /unknown version 7/, 0],
    ["truncated v9 header", v9({ sysUptimeMs: 1, unixSecs: 1 }, []).subarray(0, 12), /v9 header needs 20 bytes, packet has 12/, 0],
    ["truncated IPFIX header", ipfix({ exportSec: 1 }, []).subarray(0, 10), /IPFIX header needs 16 bytes/, 0],
    ["IPFIX length past the datagram", ipfix({ exportSec: 1, lengthOverride: 200 }, [tpl, good]), /says the message is 200 bytes, packet has \d+ \(truncated\)/, 0],
    ["set length past the end", ipfix({ exportSec: 1 }, [tpl, good, set(700, Buffer.alloc(8), { lengthOverride: 100 })]), /set 700 at offset \d+ has length 100, only 12 bytes left/, 1],
    ["zero-length set", ipfix({ exportSec: 1 }, [tpl, good, Buffer.from([2, 188, 0, 0, 1, 2, 3, 4])]), /has length 0 \(zero-length set\)/, 1],
    ["v9 template with 0 fields", v9({ sysUptimeMs: 1, unixSecs: 1 }, [set(0, Buffer.concat([u16(300), u16(0)]))]), /template 300 has 0 fields/, 0],
    ["template whose fields overflow a record", ipfix({ exportSec: 1 }, [set(2, templateRecord(701, [[8, 4], [12, 4], [999, 40000], [998, 40000]]))]), /field lengths add up to 80008 bytes, more than a set can hold/, 0],
    ["template fields cut off by the set end", ipfix({ exportSec: 1 }, [set(2, Buffer.concat([u16(702), u16(5), u16(8), u16(4)]))]), /template 702 declares 5 fields, the set ends after 1/, 0],
    ["reserved template id", ipfix({ exportSec: 1 }, [set(2, templateRecord(255, BASIC))]), /template id 255 is reserved/, 0],
  ];
  for (const [name, pkt, reason, flows] of cases) {
    it(name, () => {
      const d = createNetflowDecoder();
      let events: ReturnType<typeof d.packet> = [];
      expect(() => (events = d.packet(pkt, EXP, T0))).not.toThrow();
      expect(events).toHaveLength(flows);
      const s = d.stats();
      expect(s.malformed).toBe(1);
      expect(s.problems).toHaveLength(1);
      expect(s.problems[0]!.reason).toMatch(reason);
    });
  }

  it("drops a record whose variable-length field runs past the set end, keeping the whole records before it", () => {
    const d = createNetflowDecoder();
    const t = set(2, templateRecord(703, [[8, 4], [12, 4], [82, 0xffff]]));
    const whole = Buffer.concat([ipv4("10.9.1.1"), ipv4("10.9.1.2"), varlen(Buffer.from("a"))]);
    const broken = Buffer.concat([ipv4("10.9.1.3"), ipv4("10.9.1.4"), u8(200), Buffer.from("short")]);
    const events = d.packet(ipfix({ exportSec: 1 }, [t, set(703, Buffer.concat([whole, broken]))]), EXP, T0);
    expect(events.map((e) => e.source!.ip)).toEqual(["10.9.1.1"]);
    expect(d.stats().problems[0]!.reason).toMatch(/record at offset \d+ of template 703 runs past the set end/);
  });

  it("skips a field whose length does not fit its type instead of misreading it", () => {
    const d = createNetflowDecoder();
    // A 2-byte "IPv4 address" (an H3C quirk seen in the conformance packets) and a 3-byte octet count (reduced-size encoding).
    const t = set(2, templateRecord(704, [[8, 4], [12, 4], [15, 2], [1, 3], [4, 1]]));
    const r = Buffer.concat([ipv4("10.9.2.1"), ipv4("10.9.2.2"), u16(0xffff), Buffer.from([1, 0, 0]), u8(17)]);
    const [e] = d.packet(ipfix({ exportSec: 1 }, [t, set(704, r)]), EXP, T0);
    expect(e!.source).toEqual({ ip: "10.9.2.1", bytes: 65536 });
  });

  it("keeps only the first 20 problems but counts every malformed packet", () => {
    const seen: string[] = [];
    const d = createNetflowDecoder({ onProblem: (p) => seen.push(p.reason) });
    for (let i = 0; i < 25; i++) d.packet(Buffer.from([0, 8]), EXP, T0);
    expect(d.stats().malformed).toBe(25);
    expect(d.stats().problems).toHaveLength(20);
    expect(seen).toHaveLength(25);
  });
});
