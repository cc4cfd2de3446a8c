// The intel detector on real-shaped events: flow events made by the flow collector's own
// flowEvent(), and audit connect events decoded from the committed real auditd recording.

import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { decodeAuditLines } from "../../src/collectors/audit/decoder.js";
import { flowEvent, type FlowRecord } from "../../src/collectors/flows/flow-event.js";
import { Alerter } from "../../src/detectors/alerts.js";
import { createIntelDetector } from "../../src/detectors/intel/detector.js";
import { buildIntelIndex, type IntelIndex } from "../../src/detectors/intel/index.js";
import type { HvEvent } from "../../src/events/event.js";
import type { StoredIndicator } from "../../src/events/indicator.js";

const stored = (feed: string, kind: StoredIndicator["kind"], value: string, meta?: Record<string, string>): StoredIndicator => ({
  feed,
  kind,
  value,
  first_seen: "2026-11-01T00:00:00.000Z",
  last_seen: "2026-11-26T06:00:00.000Z",
  ...(meta ? { meta } : {}),
});

const index = buildIntelIndex([
  { feed: "feodo", indicators: [stored("feodo", "ip", "198.51.100.7", { malware: "Dridex", port: "443", first_seen: "2026-10-30 08:15:02" }), stored("feodo", "ip", "2001:db8:bad::7")] },
  { feed: "drop", severity: "medium", indicators: [stored("drop", "cidr", "198.51.0.0/16", { sblid: "SBL123" })] },
  { feed: "domains", indicators: [stored("domains", "domain", "evil.example"), stored("domains", "url", "http://dl.example/x.sh"), stored("domains", "hash", "a".repeat(64))] },
]);

let ts = Date.parse("2026-11-26T10:00:00.000Z");

/** A conntrack-style flow event of VM web1 (10.0.0.5) unless told otherwise. */
function flow(phase: "new" | "update" | "end", over: Partial<FlowRecord> & { vm?: string } = {}): HvEvent {
  ts += 1000;
  const { vm, ...rest } = over;
  const e = flowEvent({
    timestamp: new Date(ts).toISOString(),
    transport: "tcp",
    source: { ip: "10.0.0.5", port: 40000 },
    destination: { ip: "198.51.100.7", port: 443 },
    flow: { collector: "conntrack", phase, id: "3735928559" },
    ...(phase === "end" ? { source: { ip: "10.0.0.5", port: 40000, bytes: 600, packets: 6 }, destination: { ip: "198.51.100.7", port: 443, bytes: 9000, packets: 8 } } : {}),
    ...rest,
  });
  if (vm !== "") e.vm = { name: vm ?? "web1", uuid: "6f1d3e0c-0000-4000-8000-000000000001" };
  return e;
}

const only = (i: IntelIndex) => () => i;

describe("intel detector on flow events", () => {
  it("a VM's connection to a listed address: one detection per listing feed, at NEW only, threat fields filled", () => {
    const d = createIntelDetector({ index: only(index) });
    const atNew = d.onEvent(flow("new"));
    const atEnd = d.onEvent(flow("end"));
    expect(atEnd).toEqual([]);
    expect(atNew.map((x) => x.rule.id).sort()).toEqual(["intel:drop", "intel:feodo"]);
    const feodo = atNew.find((x) => x.rule.id === "intel:feodo")!;
    expect(feodo.rule.source).toBe("intel");
    expect(feodo.rule.title).toContain("feodo");
    expect(feodo.rule.tags).toEqual(expect.arrayContaining(["attack.command_and_control", "attack.t1071"]));
    expect(feodo.severity).toBe("high");
    expect(feodo.threat).toEqual({
      feed: "feodo",
      indicator: "198.51.100.7",
      kind: "ip",
      matched: "198.51.100.7",
      field: "destination.ip",
      first_seen: "2026-11-01T00:00:00.000Z",
      last_seen: "2026-11-26T06:00:00.000Z",
      description: "Dridex, port=443, first_seen=2026-10-30 08:15:02",
      meta: { malware: "Dridex", port: "443", first_seen: "2026-10-30 08:15:02" },
    });
    expect(feodo.summary).toBe("web1 connected to 198.51.100.7:443 listed by feodo (Dridex, first seen 2026-10-30 08:15:02)");
    const drop = atNew.find((x) => x.rule.id === "intel:drop")!;
    expect(drop.severity).toBe("medium");
    expect(drop.threat).toMatchObject({ indicator: "198.51.0.0/16", kind: "cidr", matched: "198.51.100.7", description: "sblid=SBL123" });
    expect(drop.summary).toContain("listed by drop as 198.51.0.0/16");
    expect(d.stats()).toMatchObject({ repeats: 1, rememberedFlows: 0, detections: 2 });
  });

  it("through the Alerter a NEW+END pair is one alert per feed, counted once", () => {
    const d = createIntelDetector({ index: only(index) });
    const alerter = new Alerter();
    const updates = [flow("new"), flow("update"), flow("end")].flatMap((e) => d.onEvent(e)).map((x) => alerter.process(x));
    expect(updates.map((u) => [u.alert.rule.id, u.alert.count, u.isNew])).toEqual([
      ["intel:feodo", 1, true],
      ["intel:drop", 1, true],
    ]);
    expect(updates[0]!.alert.entity).toEqual({ kind: "vm", id: "web1" });
    expect(updates[0]!.alert.mitre).toEqual({ tactics: ["command_and_control"], techniques: ["T1071"] });
  });

  it("matches END when no NEW was seen (NetFlow, or conntrack lost the NEW)", () => {
    const d = createIntelDetector({ index: only(index) });
    const netflow = flow("end", { flow: { collector: "netflow", phase: "end", exporter: { address: "10.0.0.1", version: 9 } } });
    expect(d.onEvent(netflow).map((x) => x.rule.id).sort()).toEqual(["intel:drop", "intel:feodo"]);
    // Another connection's NEW matched; this END is of a different id.
    d.onEvent(flow("new", { flow: { collector: "conntrack", phase: "new", id: "1" } }));
    expect(d.onEvent(flow("end", { flow: { collector: "conntrack", phase: "end", id: "2" } }))).toHaveLength(2);
  });

  it("a listed address connecting in is a hit on source.ip, tagged as inbound", () => {
    const d = createIntelDetector({ index: only(index) });
    const inbound = flow("new", { source: { ip: "2001:db8:bad::7", port: 51000 }, destination: { ip: "2001:db8:1::5", port: 22 } });
    const [hit, ...rest] = d.onEvent(inbound);
    expect(rest).toEqual([]);
    expect(hit!.threat).toMatchObject({ feed: "feodo", field: "source.ip", matched: "2001:db8:bad::7", kind: "ip" });
    expect(hit!.rule.tags).toContain("attack.initial_access");
    expect(hit!.summary).toBe("[2001:db8:bad::7]:51000 listed by feodo (first seen 2026-11-01T00:00:00.000Z) connected to web1 ([2001:db8:1::5]:22)");
  });

  it("says nothing about unlisted traffic, at NEW or END", () => {
    const d = createIntelDetector({ index: only(index) });
    const other = { destination: { ip: "203.0.113.9", port: 443 } };
    expect(d.onEvent(flow("new", other))).toEqual([]);
    expect(d.onEvent(flow("end", other))).toEqual([]);
    expect(d.stats()).toMatchObject({ lookups: 4, hits: 0, detections: 0 });
  });

  it("uses the index it is given at each event: a feed synced mid-flow catches the END", () => {
    let current = buildIntelIndex([]);
    const d = createIntelDetector({ index: () => current });
    expect(d.onEvent(flow("new"))).toEqual([]);
    current = index;
    expect(d.onEvent(flow("end")).map((x) => x.rule.id).sort()).toEqual(["intel:drop", "intel:feodo"]);
  });

  it("remembers at most maxRememberedFlows matched flows", () => {
    const d = createIntelDetector({ index: only(index), maxRememberedFlows: 10 });
    for (let i = 0; i < 50; i++) d.onEvent(flow("new", { flow: { collector: "conntrack", phase: "new", id: String(i) } }));
    expect(d.stats().rememberedFlows).toBe(10);
    // The newest are kept: their END is a repeat; an evicted one's END matches again.
    expect(d.onEvent(flow("end", { flow: { collector: "conntrack", phase: "end", id: "49" } }))).toEqual([]);
    expect(d.onEvent(flow("end", { flow: { collector: "conntrack", phase: "end", id: "0" } }))).toHaveLength(2);
  });

  it("names the host or the local address when no VM is known", () => {
    const d = createIntelDetector({ index: only(index) });
    const [hit] = d.onEvent(flow("new", { vm: "", host: "hv1" }));
    expect(hit!.summary).toMatch(/^hv1 connected to 198\.51\.100\.7:443/);
    const [bare] = d.onEvent(flow("new", { vm: "", flow: { collector: "conntrack", phase: "new", id: "77" } }));
    expect(bare!.summary).toMatch(/^10\.0\.0\.5 connected to/);
  });
});

describe("ignoreNets", () => {
  const loopbackFeed = buildIntelIndex([{ feed: "broken", indicators: [stored("broken", "cidr", "127.0.0.0/8"), stored("broken", "ip", "10.0.0.5")] }]);

  it("by default never matches loopback, but does match private addresses", () => {
    const d = createIntelDetector({ index: only(loopbackFeed) });
    expect(d.onEvent(flow("new", { source: { ip: "127.0.0.1", port: 5000 }, destination: { ip: "127.0.0.1", port: 80 } }))).toEqual([]);
    expect(d.stats().ignored).toBe(2);
    expect(d.onEvent(flow("new", { flow: { collector: "conntrack", phase: "new", id: "9" } }))[0]!.threat!.field).toBe("source.ip");
  });

  it("is configurable, and a bad entry is a clear error", () => {
    const d = createIntelDetector({ index: only(loopbackFeed), ignoreNets: ["10.0.0.0/8"] });
    expect(d.onEvent(flow("new", { destination: { ip: "127.0.0.1", port: 80 } }))).toHaveLength(1);
    expect(() => createIntelDetector({ index: only(loopbackFeed), ignoreNets: ["10.0.0.0/8", "10.0.0.0/40"] })).toThrow(/ignoreNets\[1\] "10.0.0.0\/40": bad prefix length/);
  });
});

describe("intel detector on audit events", () => {
  // Real auditd 3.0.9 records of bash connecting to 127.0.0.1 (one accepted, one refused).
  const audit = decodeAuditLines(readFileSync(join(import.meta.dirname, "..", "fixtures", "audit", "real-connect.log"), "utf8").split("\n"));
  const listed = buildIntelIndex([{ feed: "test", indicators: [stored("test", "ip", "127.0.0.1", { threat: "test entry" })] }]);

  it("matches connect's destination.ip and says when the connect failed", () => {
    expect(audit.map((e) => [e.event.action, e.destination?.ip])).toEqual([
      ["connect", "127.0.0.1"],
      ["connect", "127.0.0.1"],
    ]);
    const d = createIntelDetector({ index: only(listed), ignoreNets: [] });
    const hits = audit.flatMap((e) => d.onEvent(e));
    expect(hits.map((h) => h.threat!.field)).toEqual(["destination.ip", "destination.ip"]);
    expect(hits[0]!.summary).toBe("the host: /usr/bin/bash (pid 9754) connected to 127.0.0.1:40057 listed by test (test entry, first seen 2026-11-01T00:00:00.000Z)");
    expect(hits[1]!.summary).toContain("tried to connect to 127.0.0.1:1");
    // Loopback is in the default ignoreNets.
    const byDefault = createIntelDetector({ index: only(listed) });
    expect(audit.flatMap((e) => byDefault.onEvent(e))).toEqual([]);
  });

  it("does not treat the local address of bind as a remote party", () => {
    const bind = { ...audit[0]!, event: { ...audit[0]!.event, action: "bind" }, source: { ip: "127.0.0.1", port: 8080 } };
    delete (bind as HvEvent).destination;
    const d = createIntelDetector({ index: only(listed), ignoreNets: [] });
    expect(d.onEvent(bind)).toEqual([]);
    const accept = { ...bind, event: { ...bind.event, action: "accept" } };
    expect(d.onEvent(accept)[0]!.summary).toMatch(/accepted a connection from 127\.0\.0\.1:8080/);
  });
});

describe("intel detector on names and hashes", () => {
  it("matches destination.domain by suffix, url.full exactly and by host, file hashes", () => {
    const d = createIntelDetector({ index: only(index) });
    const base = flow("new", { destination: { ip: "203.0.113.80", port: 80 } });
    const dns = { ...base, destination: { ...base.destination, domain: "cdn.EVIL.example." } };
    const [byDomain] = d.onEvent(dns);
    expect(byDomain!.threat).toMatchObject({ feed: "domains", kind: "domain", indicator: "evil.example", matched: "cdn.EVIL.example.", field: "destination.domain" });
    expect(byDomain!.summary).toContain("web1 contacted cdn.EVIL.example. listed by domains as evil.example");

    const web = { ...base, flow: { ...base.flow!, id: "u1" }, url: { full: "HTTP://dl.example:80/x.sh" } } as HvEvent;
    const [byUrl] = d.onEvent(web);
    expect(byUrl!.threat).toMatchObject({ kind: "url", indicator: "http://dl.example/x.sh", field: "url.full" });

    const viaHost = { ...base, flow: { ...base.flow!, id: "u2" }, url: { full: "https://a.evil.example/login" } } as HvEvent;
    expect(d.onEvent(viaHost)[0]!.threat).toMatchObject({ kind: "domain", indicator: "evil.example", field: "url.full" });

    const file = { ...audit0(), file: { path: "/tmp/x", hash: { sha256: "A".repeat(64) } } } as HvEvent;
    const [byHash] = d.onEvent(file);
    expect(byHash!.threat).toMatchObject({ kind: "hash", field: "file.hash.sha256" });
    expect(byHash!.rule.tags).toContain("attack.execution");
    expect(byHash!.summary).toContain("of /tmp/x");
  });
});

function audit0(): HvEvent {
  return {
    "@timestamp": "2026-11-26T10:00:00.000Z",
    event: { id: "a0", kind: "event", module: "audit", action: "openat", category: ["file"], type: ["access"], outcome: "success" },
    process: { pid: 42, executable: "/usr/bin/cat" },
    vm: { name: "web1" },
  };
}
