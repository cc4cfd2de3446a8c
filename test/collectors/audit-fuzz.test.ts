// Property test: mutated real-looking audit lines never make the parser or the decoder throw,
// and every line is accounted for (a record, a blank line, or a counted malformed line).
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { AuditDecoder } from "../../src/collectors/audit/decoder.js";
import { parseRecord } from "../../src/collectors/audit/parse.js";
import { readFileSync, readdirSync } from "node:fs";

const FIXTURES = new URL("../fixtures/audit/", import.meta.url);

function seedLines(): string[] {
  const lines: string[] = [];
  for (const name of readdirSync(FIXTURES)) {
    if (!name.endsWith(".log")) continue;
    for (const l of readFileSync(new URL(name, FIXTURES), "utf8").split("\n")) if (l.includes("msg=audit(")) lines.push(l);
  }
  return lines;
}

const SEEDS = seedLines();

const mutation = fc.oneof(
  fc.record({ kind: fc.constant("truncate"), at: fc.nat() }),
  fc.record({ kind: fc.constant("bytes"), at: fc.nat(), text: fc.string({ unit: "binary", maxLength: 8 }) }),
  fc.record({ kind: fc.constant("nul"), at: fc.nat() }),
  fc.record({ kind: fc.constant("quote"), at: fc.nat(), q: fc.constantFrom('"', "'", "{", "}", "=", ")", "(", "\u001d") }),
  fc.record({ kind: fc.constant("hex"), at: fc.nat(), text: fc.constantFrom("G", "0", "ZZ", "0x", "Z0") }),
  fc.record({ kind: fc.constant("huge"), at: fc.nat(), size: fc.integer({ min: 1_000, max: 80_000 }) }),
  fc.record({ kind: fc.constant("delete"), at: fc.nat(), len: fc.integer({ min: 1, max: 20 }) }),
);

type Mutation = typeof mutation extends fc.Arbitrary<infer T> ? T : never;

function mutate(line: string, m: Mutation): string {
  const at = line.length === 0 ? 0 : m.at % line.length;
  switch (m.kind) {
    case "truncate": return line.slice(0, at);
    case "bytes": return line.slice(0, at) + m.text + line.slice(at);
    case "nul": return line.slice(0, at) + "\u0000" + line.slice(at);
    case "quote": return line.slice(0, at) + m.q + line.slice(at);
    case "hex": return line.slice(0, at) + m.text + line.slice(at + 1);
    case "huge": return line.slice(0, at) + "A".repeat(m.size) + line.slice(at);
    case "delete": return line.slice(0, at) + line.slice(at + m.len);
  }
}

describe("audit parser under mutation", () => {
  it("has real seed lines to mutate", () => {
    expect(SEEDS.length).toBeGreaterThan(20);
  });

  it("never throws, and every line is a record, blank or counted malformed", () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.nat(), fc.array(mutation, { maxLength: 3 })), { minLength: 1, maxLength: 40 }), (picks) => {
        const decoder = new AuditDecoder();
        let n = 0;
        for (const [i, muts] of picks) {
          const line = muts.reduce(mutate, SEEDS[i % SEEDS.length]!);
          // A mutation may add a newline; a line source would have split there.
          for (const part of line.split("\n")) {
            n++;
            decoder.pushLine(part, n);
          }
        }
        decoder.flush();
        const s = decoder.stats;
        expect(s.lines).toBe(n);
        expect(s.records + s.blank + s.malformed).toBe(n);
        expect(s.events).toBeLessThanOrEqual(s.records);
      }),
      { numRuns: 300 },
    );
  });

  it("counts field damage: invalid hex in EXECVE and proctitle, unterminated quotes", () => {
    fc.assert(
      fc.property(fc.constantFrom("a0=4G41", "a0=414", "proctitle=6C73Z0"), fc.nat({ max: 1000 }), (field, serial) => {
        const type = field.startsWith("proctitle") ? "PROCTITLE" : "EXECVE";
        const r = parseRecord(`type=${type} msg=audit(1700000000.000:${serial}): argc=1 ${field}`);
        expect(r.ok).toBe(true);
        if (r.ok) expect(r.record.warnings?.length).toBe(1);
      }),
    );
  });

  it("rejects random bytes with a reason instead of throwing", () => {
    fc.assert(
      fc.property(fc.string({ unit: "binary", maxLength: 300 }), (junk) => {
        const r = parseRecord(junk);
        if (!r.ok) expect(r.reason.length).toBeGreaterThan(0);
      }),
      { numRuns: 2000 },
    );
  });
});
