// The decoder was rewritten for speed (issue 18); its output must not change. This test runs the
// decoder as it was before (test/collectors/audit-reference/, kept only for this comparison) and
// the current one over every real log — the committed fixtures always, ../shared/data/audit-logs
// when present (CI=true requires it) — and over mutated lines, and wants the same events byte for
// byte (as JSON), the same records, warnings and malformed-line reasons, the same counters.

import fc from "fast-check";
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { findRepoRoot, listRawLogs, locateAuditLogs, splitLines } from "../../bench/conformance-audit.js";
import { AuditDecoder } from "../../src/collectors/audit/decoder.js";
import { parseRecord } from "../../src/collectors/audit/parse.js";
import { AuditDecoder as ReferenceDecoder } from "./audit-reference/decoder.js";
import { parseRecord as referenceParse } from "./audit-reference/parse.js";

const inCI = process.env.CI === "true";
const root = findRepoRoot();
const shared = locateAuditLogs(root);
if (!shared.found) console.warn(`\n*** audit differential on ${shared.dir} ${inCI ? "FAILS (CI=true)" : "SKIPPED"}: not found; the committed fixtures are still compared ***\n`);

function fixtureLogs(): string[] {
  const dir = join(root, "test", "fixtures", "audit");
  const out: string[] = [];
  const walk = (d: string): void => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      if (e.isDirectory()) walk(join(d, e.name));
      else if (e.name.endsWith(".log")) out.push(join(d, e.name));
    }
  };
  walk(dir);
  return out.sort();
}

interface Run {
  events: string[];
  stats: string;
  lost: string;
}

/** Both decoders have the same surface; `make` picks one. */
function decode(lines: string[], make: () => AuditDecoder | ReferenceDecoder): Run {
  const d = make();
  const events: string[] = [];
  lines.forEach((line, i) => {
    for (const e of d.pushLine(line, i + 1, i * 100, i * 100 + 99).events) events.push(JSON.stringify(e));
  });
  for (const e of d.flush()) events.push(JSON.stringify(e));
  return { events, stats: JSON.stringify(d.stats), lost: JSON.stringify(d.lostRanges(1000)) };
}

function compareFile(lines: string[]): void {
  for (const line of lines) expect(JSON.stringify(parseRecord(line))).toBe(JSON.stringify(referenceParse(line)));
  const want = decode(lines, () => new ReferenceDecoder());
  // Twice: the second pass meets key sequences the first made the parser compile (field-shapes.ts).
  for (let pass = 0; pass < 2; pass++) {
    const got = decode(lines, () => new AuditDecoder());
    expect(got.events.length).toBe(want.events.length);
    for (let i = 0; i < want.events.length; i++) expect(got.events[i]).toBe(want.events[i]);
    expect(got.stats).toBe(want.stats);
    expect(got.lost).toBe(want.lost);
  }
}

describe("the decoder against its reference (the decoder before the speed rewrite)", () => {
  it.each(fixtureLogs().map((f) => [f.slice(root.length + 1), f]))("committed fixture %s", (_name, file) => {
    compareFile(splitLines(readFileSync(file, "utf8")));
  });

  const sharedLogs = shared.found ? listRawLogs(shared.dir) : [];
  it.skipIf(!shared.found && !inCI)("finds the shared real logs", () => {
    expect(shared.found).toBe(true);
    expect(sharedLogs.length).toBeGreaterThan(20);
  });
  it.each(sharedLogs.map((f) => [f]))("shared log %s", (file) => {
    compareFile(splitLines(readFileSync(join(shared.dir, file), "utf8")));
  });

  it("builds fields objects with nothing inherited (no constructor, no Object.prototype)", () => {
    const lines = readFileSync(join(root, "test", "fixtures", "audit", "real-execve.log"), "utf8").split("\n").filter(Boolean);
    // Enough repeats that the parser builds these key sequences with compiled constructors.
    for (let pass = 0; pass < 3; pass++) {
      for (const line of lines) {
        const r = parseRecord(line);
        if (!r.ok) continue;
        for (const f of r.record.enriched ? [r.record.fields, r.record.enriched] : [r.record.fields]) {
          expect((f as Record<string, unknown>).constructor).toBeUndefined();
          expect((f as Record<string, unknown>).toString).toBeUndefined();
          expect("hasOwnProperty" in f).toBe(false);
        }
      }
    }
    const hostile = parseRecord('type=SYSCALL msg=audit(1.000:1): constructor=x toString=y __proto__=z');
    expect(hostile.ok && hostile.record.fields).toEqual({ constructor: "x", toString: "y", ["__proto__"]: "z" });
  });

  it("agrees on mutated real lines (property test)", () => {
    const seeds = fixtureLogs().flatMap((f) => readFileSync(f, "utf8").split("\n").filter((l) => l.includes("msg=audit(")));
    const mutation = fc.oneof(
      fc.record({ kind: fc.constant("insert" as const), at: fc.nat(), text: fc.constantFrom(" ", "=", '"', "'", "{", "}", "(null)", "\u001d", "msg='a=1 b=2'", "x=", "=y", "a1[0]=41", "a1_len=2", "avc: denied { read }", "ZZ", "0A0B", "abc", ":") }),
      fc.record({ kind: fc.constant("bytes" as const), at: fc.nat(), text: fc.string({ unit: "binary", maxLength: 6 }) }),
      fc.record({ kind: fc.constant("delete" as const), at: fc.nat(), len: fc.integer({ min: 1, max: 12 }) }),
      fc.record({ kind: fc.constant("truncate" as const), at: fc.nat() }),
    );
    type M = typeof mutation extends fc.Arbitrary<infer T> ? T : never;
    const mutate = (line: string, m: M): string => {
      const at = line.length === 0 ? 0 : m.at % line.length;
      if (m.kind === "insert" || m.kind === "bytes") return line.slice(0, at) + m.text + line.slice(at);
      if (m.kind === "delete") return line.slice(0, at) + line.slice(at + m.len);
      return line.slice(0, at);
    };
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.nat(), fc.array(mutation, { maxLength: 3 })), { minLength: 1, maxLength: 30 }), (picks) => {
        const lines = picks.flatMap(([i, muts]) => muts.reduce(mutate, seeds[i % seeds.length]!).split("\n"));
        const want = decode(lines, () => new ReferenceDecoder());
        const got = decode(lines, () => new AuditDecoder());
        for (const line of lines) expect(JSON.stringify(parseRecord(line))).toBe(JSON.stringify(referenceParse(line)));
        expect(got).toEqual(want);
      }),
      { numRuns: 300 },
    );
  });
});
