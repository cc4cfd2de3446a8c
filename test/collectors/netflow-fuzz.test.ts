// Property tests: mutated real exports (softflowd fixtures) and hand-built packets never make the
// decoder throw; each datagram is counted; every emitted flow is well-formed; a truncated IPFIX
// message is counted malformed and yields nothing.

import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { createNetflowDecoder } from "../../src/collectors/flows/netflow/decoder.js";
import type { HvEvent } from "../../src/events/event.js";
import { BASIC, basicRecord, ipfix, ipfixOptionsTemplateRecord, set, templateRecord, u32, u64, varlen, v9, v9OptionsTemplateRecord } from "../fixtures/netflow/build.js";
import type { RecordedExport } from "../fixtures/netflow/softflowd-traffic.js";

const DIR = join(import.meta.dirname, "..", "fixtures", "netflow");
const recorded = readdirSync(DIR)
  .filter((f) => f.endsWith(".json"))
  .flatMap((f) => (JSON.parse(readFileSync(join(DIR, f), "utf8")) as RecordedExport).packets.map((p) => Buffer.from(p.hex, "hex")));
const built = [
  ipfix({ exportSec: 1_700_000_000, domain: 3 }, [
    set(2, templateRecord(400, [...BASIC, [82, 0xffff], [100, 4, 9]])),
    set(3, ipfixOptionsTemplateRecord(401, 1, [[149, 4], [160, 8]])),
    set(400, Buffer.concat([basicRecord("10.0.0.1", "10.0.0.2", 1, 2, 6, 100, 2), varlen(Buffer.from("eth0")), u32(5)]), { pad: 3 }),
    set(401, Buffer.concat([u32(1), u64(1_600_000_000_000)])),
  ]),
  v9({ sysUptimeMs: 10_000, unixSecs: 1_700_000_000 }, [set(0, templateRecord(300, BASIC)), set(1, v9OptionsTemplateRecord(301, [[1, 4]], [[34, 4]])), set(300, basicRecord("10.0.0.3", "10.0.0.4", 3, 4, 17, 50, 1), { pad: 1 })]),
];
const SEEDS = [...recorded, ...built];

const mutation = fc.oneof(
  fc.record({ kind: fc.constant("truncate" as const), at: fc.nat() }),
  fc.record({ kind: fc.constant("flip" as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ kind: fc.constant("u16" as const), at: fc.nat(), value: fc.constantFrom(0, 1, 2, 3, 4, 255, 256, 0x7fff, 0x8000, 0xffff) }),
  fc.record({ kind: fc.constant("insert" as const), at: fc.nat(), bytes: fc.uint8Array({ maxLength: 12 }) }),
  fc.record({ kind: fc.constant("delete" as const), at: fc.nat(), len: fc.integer({ min: 1, max: 16 }) }),
);
type Mutation = typeof mutation extends fc.Arbitrary<infer T> ? T : never;

function mutate(buf: Buffer, m: Mutation): Buffer {
  const at = buf.length === 0 ? 0 : m.at % buf.length;
  const out = Buffer.from(buf);
  switch (m.kind) {
    case "truncate":
      return out.subarray(0, at);
    case "flip":
      out[at] = m.value;
      return out;
    case "u16":
      if (at + 1 < out.length) out.writeUInt16BE(m.value, at);
      return out;
    case "insert":
      return Buffer.concat([out.subarray(0, at), Buffer.from(m.bytes), out.subarray(at)]);
    case "delete":
      return Buffer.concat([out.subarray(0, at), out.subarray(at + m.len)]);
  }
}

function wellFormed(e: HvEvent): void {
  expect(typeof e.source?.ip).toBe("string");
  expect(typeof e.destination?.ip).toBe("string");
  for (const n of [e.source?.bytes, e.source?.packets, e.destination?.bytes, e.network?.bytes, e.source?.port]) {
    if (n !== undefined) expect(Number.isFinite(n) && n >= 0).toBe(true);
  }
  for (const t of [e.flow?.start, e.flow?.end, e["@timestamp"]]) if (t !== undefined) expect(Number.isNaN(Date.parse(t))).toBe(false);
}

describe("NetFlow/IPFIX decoder fuzz", () => {
  it("never throws on mutated packets; counts every datagram; emits only well-formed flows", () => {
    // One decoder for the whole run, so corrupted templates stay in its cache and meet later data.
    const internal: string[] = [];
    const d = createNetflowDecoder({ maxTemplates: 200, onProblem: (p) => p.reason.startsWith("internal") && internal.push(p.reason) });
    let sent = 0;
    fc.assert(
      fc.property(fc.constantFrom(...SEEDS), fc.array(mutation, { minLength: 1, maxLength: 4 }), fc.integer({ min: 1, max: 3 }), (seed, ms, port) => {
        const pkt = ms.reduce(mutate, seed);
        const events = d.packet(pkt, { address: "192.0.2.5", port }, new Date(1_700_000_000_000));
        sent++;
        events.forEach(wellFormed);
        expect(d.stats().packets).toBe(sent);
      }),
      { numRuns: 3000, seed: 5 },
    );
    const s = d.stats();
    // The decoder's catch-all is a safety net, not a path: no bounds check may be missing.
    expect(internal).toEqual([]);
    expect(s.malformed).toBeGreaterThan(0);
    expect(s.flows).toBeGreaterThan(0);
  });

  it("random bytes never throw", () => {
    const internal: string[] = [];
    const d = createNetflowDecoder({ onProblem: (p) => p.reason.startsWith("internal") && internal.push(p.reason) });
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), fc.constantFrom(5, 9, 10), (bytes, version) => {
        const pkt = Buffer.from(bytes);
        if (pkt.length >= 2) pkt.writeUInt16BE(version, 0);
        expect(() => d.packet(pkt, { address: "192.0.2.6", port: 1 })).not.toThrow();
      }),
      { numRuns: 3000, seed: 6 },
    );
    expect(internal).toEqual([]);
  });

  it("a truncated IPFIX message is malformed and yields no flow", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: built[0]!.length - 1 }), (cut) => {
        const d = createNetflowDecoder();
        const events = d.packet(built[0]!.subarray(0, cut), { address: "192.0.2.7", port: 1 });
        expect(events).toEqual([]);
        expect(d.stats().malformed).toBe(1);
      }),
      { seed: 7 },
    );
  });
});
