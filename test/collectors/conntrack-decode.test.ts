// conntrack lines → flow events, on lines recorded from real conntrack 1.4.7 by
// test/fixtures/conntrack/record.sh (client → masquerading router → server; conntrack in the router).

import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { createConntrackDecoder } from "../../src/collectors/flows/conntrack-decode.js";
import { parseConntrackLine } from "../../src/collectors/flows/conntrack-parse.js";
import type { HvEvent } from "../../src/events/event.js";

const FIXTURES = new URL("../fixtures/conntrack/", import.meta.url);
const read = (name: string): string[] => readFileSync(new URL(name, FIXTURES), "utf8").split("\n");

function decodeAll(lines: string[], opts: Parameters<typeof createConntrackDecoder>[0] = {}): { events: HvEvent[]; decoder: ReturnType<typeof createConntrackDecoder> } {
  const decoder = createConntrackDecoder(opts);
  const events: HvEvent[] = [];
  lines.forEach((text, i) => {
    const e = decoder.line(text, i + 1);
    if (e) events.push(e);
  });
  return { events, decoder };
}

/** The one event of a phase for a destination port (or, for portless protocols, transport). */
function find(events: HvEvent[], phase: string, pick: (e: HvEvent) => boolean): HvEvent {
  const found = events.filter((e) => e.flow?.phase === phase && pick(e));
  expect(found, `one ${phase} event`).toHaveLength(1);
  return found[0]!;
}

describe("conntrack parse", () => {
  const lines = read("events.log");

  it("reads the ICMP echo id apart from the entry's id (both are written id=)", () => {
    const icmp = lines.find((l) => l.includes("[NEW]") && l.includes(" icmp "))!;
    const out = parseConntrackLine(icmp);
    if (out.kind !== "event") throw new Error(JSON.stringify(out));
    expect(out.line.orig.icmp).toEqual({ type: 8, code: 0, id: 119 });
    expect(out.line.reply.icmp).toEqual({ type: 0, code: 0, id: 119 });
    expect(out.line.id).toBe("2663191310");
  });

  it("keeps microseconds of the timestamp and reads the header", () => {
    const out = parseConntrackLine(lines[0]!);
    if (out.kind !== "event") throw new Error(JSON.stringify(out));
    expect(out.line).toMatchObject({ time: "1795686101.912239", timeMs: 1795686101912.239, type: "NEW", family: "ipv4", protoName: "tcp", protoNum: 6, timeout: 120, state: "SYN_SENT", flags: ["UNREPLIED"] });
  });

  it("reads DESTROY counters, delta-time and the [USERSPACE] tail", () => {
    const line = lines.find((l) => l.includes("[DESTROY]") && l.includes("TIME_WAIT") && l.includes("ipv4"))!;
    const out = parseConntrackLine(line);
    if (out.kind !== "event") throw new Error(JSON.stringify(out));
    expect(out.line.orig).toMatchObject({ packets: 7, bytes: 10372 });
    expect(out.line.reply).toMatchObject({ packets: 5, bytes: 268 });
    // conntrack rounds up: this flow lived 4.309 s.
    expect(out.line.deltaTime).toBe(5);
    expect(out.line.flags).toEqual(["ASSURED", "USERSPACE"]);
    expect(out.line.extra.portid).toMatch(/^\d+$/);
  });

  it("reads lines without -o extended (family from the address)", () => {
    const noExt = lines[1]!.replace(/ipv6\s+10 /, "");
    const out = parseConntrackLine(noExt);
    if (out.kind !== "event") throw new Error(JSON.stringify(out));
    expect(out.line.family).toBe("ipv6");
    expect(out.line.orig.src).toBe("2001:db8:231:1::2");
  });
});

describe("conntrack decode (recorded NEW/DESTROY)", () => {
  const { events, decoder } = decodeAll(read("events.log"), { host: "router" });
  const stats = decoder.stats();

  it("decodes every event line and skips conntrack's closing summary", () => {
    expect(stats).toMatchObject({ lines: 25, events: 24, new: 12, destroy: 12, update: 0, skipped: 1, malformed: 0, unmatchedNew: 0, destroyWithoutNew: 0, openFlows: 0 });
  });

  it("TCP through masquerade: 5-tuple, bytes each way, duration from the NEW, NAT reply tuple", () => {
    const end = find(events, "end", (e) => e.destination?.port === 5001);
    expect(end.source).toEqual({ ip: "10.231.1.2", port: 60314, bytes: 10372, packets: 7 });
    expect(end.destination).toEqual({ ip: "10.231.2.2", port: 5001, bytes: 268, packets: 5 });
    expect(end.network).toMatchObject({ transport: "tcp", type: "ipv4", iana_number: 6, bytes: 10640, packets: 12 });
    expect(end.flow).toMatchObject({
      collector: "conntrack", phase: "end", id: "2902221329", state: "TIME_WAIT", flags: ["ASSURED", "USERSPACE"],
      start: "2026-11-26T09:41:41.912Z", end: "2026-11-26T09:41:46.221Z", duration_ms: 4309,
      reply: { source: { ip: "10.231.2.2", port: 5001 }, destination: { ip: "10.231.2.1", port: 60314 } },
    });
    expect(end["@timestamp"]).toBe("2026-11-26T09:41:46.221Z");
    expect(end.event).toMatchObject({ module: "flow", action: "flow_end", type: ["connection", "end"] });
    expect(end.host).toEqual({ name: "router" });
    const start = find(events, "new", (e) => e.destination?.port === 5001);
    expect(start.flow).toMatchObject({ phase: "new", id: "2902221329", state: "SYN_SENT", flags: ["UNREPLIED"], start: "2026-11-26T09:41:41.912Z" });
    expect(start.source?.bytes).toBeUndefined();
    expect(start.event.id).not.toBe(end.event.id);
    expect(start.network?.community_id).toBe(end.network?.community_id);
  });

  it("IPv6 TCP without NAT has no reply tuple", () => {
    const end = find(events, "end", (e) => e.destination?.port === 5002);
    expect(end.network?.type).toBe("ipv6");
    expect(end.source).toMatchObject({ ip: "2001:db8:231:1::2", bytes: 20944, packets: 13 });
    expect(end.destination).toMatchObject({ ip: "2001:db8:231:2::2", bytes: 728, packets: 10 });
    expect(end.flow?.reply).toBeUndefined();
  });

  it("UDP in zone 7 with mark 0x2a, UNREPLIED", () => {
    const end = find(events, "end", (e) => e.destination?.port === 7000 && e.source?.ip === "10.231.1.2");
    expect(end.flow).toMatchObject({ zone: 7, mark: 42, flags: ["UNREPLIED", "USERSPACE"] });
    expect(end.destination).toMatchObject({ bytes: 0, packets: 0 });
    expect(end.network?.transport).toBe("udp");
  });

  it("RST-closed TCP (CLOSE, UNREPLIED, zero duration)", () => {
    const end = find(events, "end", (e) => e.destination?.port === 5999);
    expect(end.flow).toMatchObject({ state: "CLOSE", flags: ["UNREPLIED"], duration_ms: 0 });
    expect(end.source).toMatchObject({ bytes: 60, packets: 1 });
  });

  it("ICMP, ICMPv6 (ipv6-icmp) and an unknown protocol (253): no ports", () => {
    const icmp = find(events, "end", (e) => e.network?.transport === "icmp");
    expect(icmp.source).toEqual({ ip: "10.231.1.2", bytes: 60, packets: 1 });
    expect(icmp.flow?.reply?.destination.ip).toBe("10.231.2.1");
    const icmp6 = find(events, "end", (e) => e.network?.transport === "ipv6-icmp");
    expect(icmp6.network?.iana_number).toBe(58);
    expect(icmp6.source).toEqual({ ip: "2001:db8:231:1::2", bytes: 80, packets: 1 });
    const other = find(events, "end", (e) => e.network?.iana_number === 253);
    expect(other.network?.transport).toBe("253");
    expect(other.source).toEqual({ ip: "10.231.1.2", bytes: 32, packets: 1 });
  });

  it("gives the same ids when the same log is decoded again", () => {
    const again = decodeAll(read("events.log"), { host: "router" }).events;
    expect(again.map((e) => e.event.id)).toEqual(events.map((e) => e.event.id));
    expect(new Set(events.map((e) => e.event.id)).size).toBe(events.length);
  });
});

describe("conntrack decode: UPDATE, no accounting, DESTROY without NEW", () => {
  it("UPDATE lines (conntrack -E without -e) are phase update with the state", () => {
    const { events, decoder } = decodeAll(read("all-events.log"));
    expect(decoder.stats()).toMatchObject({ update: 14, new: 12, destroy: 12, malformed: 0 });
    const states = events.filter((e) => e.flow?.phase === "update" && e.destination?.port === 5001).map((e) => e.flow?.state);
    expect(states).toEqual(["SYN_RECV", "ESTABLISHED", "FIN_WAIT", "LAST_ACK", "TIME_WAIT"]);
    const update = events.find((e) => e.flow?.phase === "update")!;
    expect(update.event.type).toEqual(["connection", "change"]);
    expect(update.flow?.start).toBeDefined();
  });

  it("without nf_conntrack_acct a DESTROY has no counters", () => {
    const { events } = decodeAll(read("noacct.log"));
    const end = events.find((e) => e.flow?.phase === "end")!;
    expect(end.source).toEqual({ ip: "10.231.0.1", port: 47454 });
    expect(end.network?.bytes).toBeUndefined();
    expect(end.flow?.duration_ms).toBe(6);
  });

  it("a DESTROY whose NEW was missed takes its duration from delta-time and is counted", () => {
    const destroys = read("events.log").filter((l) => l.includes("[DESTROY]"));
    const { events, decoder } = decodeAll(destroys);
    expect(decoder.stats().destroyWithoutNew).toBe(12);
    const tcp = events.find((e) => e.destination?.port === 5001)!;
    expect(tcp.flow).toMatchObject({ duration_ms: 5000, start: "2026-11-26T09:41:41.221Z", end: "2026-11-26T09:41:46.221Z" });
  });

  it("NEW without DESTROY: expire counts them as unmatched after lostAfterMs of stream time", () => {
    const news = read("events.log").filter((l) => l.includes("[NEW]"));
    const { decoder } = decodeAll(news, { lostAfterMs: 1000 });
    expect(decoder.stats().openFlows).toBe(12);
    decoder.expire(Date.parse("2026-11-26T09:41:44.000Z"));
    // NEW at 41.912, 41.934, 42.974 and 42.982 are over a second old at 44.000.
    expect(decoder.stats()).toMatchObject({ unmatchedNew: 4, openFlows: 8 });
    decoder.expire(Date.parse("2026-11-26T10:00:00.000Z"));
    expect(decoder.stats()).toMatchObject({ unmatchedNew: 12, openFlows: 0 });
  });

  it("maxOpenFlows bounds the NEW entries kept; the pushed-out ones count as unmatched", () => {
    const news = read("events.log").filter((l) => l.includes("[NEW]"));
    const { decoder } = decodeAll(news, { maxOpenFlows: 5 });
    expect(decoder.stats()).toMatchObject({ openFlows: 5, unmatchedNew: 7 });
  });

  it("counts ENOBUFS warnings, on stderr or in a log recorded with 2>&1", () => {
    const err = read("enobufs.err");
    const d = createConntrackDecoder();
    expect(err.map((l) => d.stderr(l))).toEqual([true, false, false, false, false]);
    err.forEach((l, i) => d.line(l, i + 1));
    expect(d.stats()).toMatchObject({ lostBuffer: 2, skipped: 5, malformed: 0, events: 0 });
  });
});

describe("conntrack decode: bad lines", () => {
  const good = read("events.log");
  const tcpNew = good[0]!;
  const tcpEnd = good.find((l) => l.includes("[DESTROY]") && l.includes("TIME_WAIT"))!;
  const cases: [string, string, RegExp][] = [
    ["cut in the destination address", tcpNew.slice(0, tcpNew.indexOf("dst=10.231.2.2") + 8), /^dst: "10\.2" in the original tuple is not an IP address/],
    ["cut after the original tuple", tcpNew.slice(0, tcpNew.indexOf(" [UNREPLIED]")), /^reply tuple: missing/],
    ["cut after the protocol", tcpNew.slice(0, tcpNew.indexOf(" 6 120")), /^protocol number: expected a number after tcp/],
    ["cut in a counter", tcpEnd.slice(0, tcpEnd.indexOf("bytes=") + 6), /^bytes: expected a number, got ""/],
    ["port out of range", tcpNew.replace("sport=60314", "sport=70000"), /^sport: 70000 is out of range/],
    ["no timestamp", tcpNew.slice(tcpNew.indexOf("[NEW]")), /^timestamp: missing/],
    ["bad timestamp", tcpNew.replace("[1795686101.912239]", "[17956x6101]"), /^timestamp: expected \[SEC\.USEC\]/],
    ["unknown event type", tcpNew.replace("[NEW]", "[BOGUS]"), /^event type: expected \[NEW\], \[UPDATE\] or \[DESTROY\], got "\[BOGUS\]"/],
    ["family mismatch", tcpNew.replace("ipv4     2", "ipv6     10"), /^src: 10\.231\.1\.2 is not an ipv6 address/],
    ["missing sport", tcpNew.replace(/ sport=\d+/, ""), /^sport: missing in the original tcp tuple/],
    ["garbage", "\u0000\u0001 binary junk ]]]", /^not a conntrack event line/],
    ["bare word in the tuple", tcpNew.replace("dport=5001", "dport=5001 oops"), /^field: expected key=value, got "oops"/],
  ];
  for (const [name, text, reason] of cases) {
    it(`${name}: malformed, with a reason naming the field`, () => {
      const d = createConntrackDecoder();
      expect(d.line(text, 7)).toBeUndefined();
      const s = d.stats();
      expect(s).toMatchObject({ lines: 1, malformed: 1, events: 0 });
      expect(s.problems[0]?.line).toBe(7);
      expect(s.problems[0]?.reason).toMatch(reason);
      expect(s.problems[0]?.text).toBe(text);
    });
  }

  it("goes on after bad lines and keeps only the first 20 problems", () => {
    const d = createConntrackDecoder();
    for (let i = 0; i < 30; i++) d.line("garbage", i + 1);
    good.forEach((l, i) => d.line(l, 100 + i));
    const s = d.stats();
    expect(s).toMatchObject({ malformed: 30, events: 24, lines: 55, skipped: 1 });
    expect(s.problems).toHaveLength(20);
    expect(s.problems[19]?.line).toBe(20);
  });

  it("blank lines are skipped", () => {
    const d = createConntrackDecoder();
    d.line("", 1);
    d.line("   \t ", 2);
    expect(d.stats()).toMatchObject({ skipped: 2, malformed: 0, lines: 2 });
  });
});
