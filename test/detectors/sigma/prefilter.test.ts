// The prefilter may only ever skip rules that could not have matched: its literal automaton must
// find exactly what value.toLowerCase().includes(literal) finds, and a detector with it must give
// the same detections as one without, on real events with SigmaHQ's Linux rules and hv's own.

import fc from "fast-check";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { decodeAuditLines } from "../../../src/collectors/audit/decoder.js";
import { createSigmaDetector } from "../../../src/detectors/sigma/detector.js";
import { LiteralIndex } from "../../../src/detectors/sigma/literals.js";
import { loadRules } from "../../../src/detectors/sigma/ruleset.js";
import type { HvEvent } from "../../../src/events/event.js";

const ROOT = new URL("../../../", import.meta.url).pathname;
const SHARED = process.env.HV_SHARED_DATA ?? join(ROOT, "..", "shared", "data");
const SIGMAHQ = join(SHARED, "sigma", "rules", "linux");
const inCI = process.env.CI === "true";
if (!existsSync(SIGMAHQ)) console.warn(`\n!!! prefilter equivalence with SigmaHQ's rules ${inCI ? "FAILS (CI=true)" : "SKIPPED"}: ${SIGMAHQ} not found; hv's own rules are still compared !!!\n`);

function found(literals: string[], text: string): string[] {
  const index = new LiteralIndex();
  literals.forEach((l, i) => index.add(l, i));
  index.build();
  const sink = { found: new Int32Array(literals.length), epoch: 7, ids: new Int32Array(literals.length), count: 0 };
  index.scan(text, sink);
  // Each found literal is listed once, however often it occurs.
  expect([...sink.ids.subarray(0, sink.count)].sort((a, b) => a - b)).toEqual(literals.map((_, i) => i).filter((i) => sink.found[i] === 7));
  return literals.filter((_, i) => sink.found[i] === 7);
}

describe("LiteralIndex", () => {
  it("finds overlapping, nested and repeated literals, ignoring case as toLowerCase does", () => {
    expect(found(["he", "she", "his", "hers", "wget", "/bin/sh"], "USHERS ran /BIN/SH -c WGET")).toEqual(["he", "she", "hers", "wget", "/bin/sh"]);
    expect(found(["aaa", "aa", "a"], "aA")).toEqual(["aa", "a"]);
    expect(found(["x y", "x"], "nothing here")).toEqual([]);
  });

  it("sees the ASCII letters toLowerCase makes of other characters", () => {
    // The Kelvin sign lower-cases to "k", and "İ" to "i" with a combining dot.
    expect(found(["kill", "i", "in"], "\u212Aill \u0130n")).toEqual(["kill", "i"]);
  });

  it("agrees with toLowerCase().includes on random literals and texts (property test)", () => {
    const alphabet = fc.constantFrom("a", "b", "A", "B", "/", "-", " ", "\u212A", "k", "é", "\u0130", "i", "\n");
    const text = fc.array(alphabet, { maxLength: 60 }).map((a) => a.join(""));
    const literal = fc.array(fc.constantFrom("a", "b", "/", "-", " ", "k", "i"), { minLength: 1, maxLength: 5 }).map((a) => a.join(""));
    fc.assert(
      fc.property(fc.uniqueArray(literal, { minLength: 1, maxLength: 12 }), text, (lits, t) => {
        expect(found(lits, t)).toEqual(lits.filter((l) => t.toLowerCase().includes(l)));
      }),
      { numRuns: 500 },
    );
  });

  it("refuses literals the prefilter could not treat as case-insensitive ASCII", () => {
    const index = new LiteralIndex();
    expect(() => index.add("Wget", 0)).toThrow(/lower-case ASCII/);
    expect(() => index.add("é", 0)).toThrow(/lower-case ASCII/);
  });
});

function realEvents(): HvEvent[] {
  const dir = join(ROOT, "test", "fixtures", "audit");
  const files = readdirSync(dir).filter((f) => f.endsWith(".log")).map((f) => join(dir, f));
  const logs = join(SHARED, "audit-logs");
  if (existsSync(logs)) {
    const walk = (d: string): void => {
      for (const e of readdirSync(d, { withFileTypes: true })) {
        if (e.isDirectory()) walk(join(d, e.name));
        else if (/\.(log|txt)$/.test(e.name)) files.push(join(d, e.name));
      }
    };
    walk(logs);
  }
  return files.flatMap((f) => decodeAuditLines(readFileSync(f, "utf8").split("\n")));
}

describe("the detector with and without the prefilter", () => {
  const events = realEvents();
  const paths = [join(ROOT, "rules"), ...(existsSync(SIGMAHQ) ? [SIGMAHQ] : [])];

  it("gives the same detections, in the same order, evaluating far fewer rules", () => {
    if (inCI) expect(existsSync(SIGMAHQ)).toBe(true);
    const set = loadRules(paths);
    const on = createSigmaDetector({ rules: set });
    const off = createSigmaDetector({ rules: set, prefilter: false });
    const describe = (d: ReturnType<typeof createSigmaDetector>, e: HvEvent): string[] => d.onEvent(e).map((x) => `${x.rule.id} ${x.events.map((y) => y.event.id).join(",")} ${x.summary}`);
    let detections = 0;
    for (const e of events) {
      const a = describe(on, e);
      expect(a).toEqual(describe(off, e));
      detections += a.length;
    }
    expect(detections).toBeGreaterThan(0);
    const a = on.stats();
    const b = off.stats();
    expect(a.perRule.map((r) => r.matches)).toEqual(b.perRule.map((r) => r.matches));
    expect(a.candidates).toBe(b.candidates);
    expect(a.evaluations + a.prefiltered).toBe(a.candidates);
    expect(a.evaluations * 5).toBeLessThan(b.evaluations);
  });
});
