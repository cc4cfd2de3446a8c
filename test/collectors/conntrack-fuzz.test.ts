// Whatever arrives — recorded lines cut, spliced, with fields mangled, or noise — the decoder
// never throws, and every line is accounted for: lines = events + skipped + malformed.

import { readFileSync } from "node:fs";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { createConntrackDecoder } from "../../src/collectors/flows/conntrack-decode.js";

const RECORDED = ["events.log", "all-events.log", "noacct.log", "enobufs.err"].flatMap((f) =>
  readFileSync(new URL(`../fixtures/conntrack/${f}`, import.meta.url), "utf8").split("\n"),
);

/** A recorded line, then cut, spliced with another, or with one token replaced. */
const mutatedLine = fc.oneof(
  fc.constantFrom(...RECORDED),
  fc.tuple(fc.constantFrom(...RECORDED), fc.nat()).map(([l, n]) => l.slice(0, n % (l.length + 1))),
  fc.tuple(fc.constantFrom(...RECORDED), fc.constantFrom(...RECORDED), fc.nat(), fc.nat()).map(([a, b, i, j]) => a.slice(0, i % (a.length + 1)) + b.slice(j % (b.length + 1))),
  fc.tuple(fc.constantFrom(...RECORDED), fc.nat(), fc.string({ maxLength: 12 })).map(([l, i, s]) => {
    const tokens = l.split(" ");
    tokens[i % tokens.length] = s;
    return tokens.join(" ");
  }),
  fc.tuple(fc.constantFrom(...RECORDED), fc.nat(), fc.constantFrom("=", "[", "]", " ", "\t", "id=", "src=", "99999999999999999999", "-1", "::", "\u0000")).map(([l, i, s]) => {
    const at = i % (l.length + 1);
    return l.slice(0, at) + s + l.slice(at);
  }),
  fc.string({ maxLength: 200 }),
);

describe("conntrack decoder fuzz", () => {
  it("never throws and accounts for every line", () => {
    fc.assert(
      fc.property(fc.array(mutatedLine, { maxLength: 60 }), fc.integer({ min: 0, max: 2 ** 42 }), (lines, now) => {
        const d = createConntrackDecoder({ lostAfterMs: 1000, maxOpenFlows: 8 });
        let returned = 0;
        lines.forEach((l, i) => {
          const e = d.line(l, i + 1);
          if (e) {
            returned++;
            // What comes out is a flow event with a usable time and addresses.
            expect(Number.isNaN(Date.parse(e["@timestamp"]))).toBe(false);
            expect(e.source?.ip).toBeTruthy();
            expect(e.destination?.ip).toBeTruthy();
          }
          d.stderr(l);
        });
        d.expire(now);
        const s = d.stats();
        expect(s.lines).toBe(lines.length);
        expect(s.lines).toBe(s.events + s.skipped + s.malformed);
        expect(s.events).toBe(returned);
        expect(s.events).toBe(s.new + s.update + s.destroy);
        expect(s.problems.length).toBe(Math.min(20, s.malformed));
        expect(s.openFlows).toBeLessThanOrEqual(8);
      }),
      { numRuns: 400 },
    );
  });
});
