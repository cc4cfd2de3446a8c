// Fuzzing Sigma rule documents: random rules built from Sigma's parts with hostile patterns in
// them, real rules mutated byte by byte, and YAML tricks. For every document the engine must
// answer (no hang: the built engine runs in a worker under a watchdog), never throw, give every
// document it does not load a reason with a line, and evaluate what it loads — on normal events
// and on values built from the document's own patterns — within the per-event bound.

import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import { stringify } from "yaml";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { HvEvent } from "../../../src/events/event.js";
import { makeEvent } from "../../helpers/events.js";
import { decodeFixture } from "./helpers.js";
import { HostileSigma, type Loaded } from "./hostile.js";

const ROOT = new URL("../../../", import.meta.url).pathname;
const PER_EVENT_MS = 2_000;
const IDLE_MS = 30_000;
const RUNS = 200;

const HOSTILE_VALUES = [
  "*a*a*a*c", "*a*a*a*a*a*a*c", "?a*?a*?a*?c", "*a?a?a?a?c*", "a*", "*", "**", "?", "\\", "\\*", "\\\\*", "%x%", "%%",
  "(a+)+$", "^(a|aa)+$", "(a|a)*b", "(.*a){20}", "(a)\\1", "(?=a)", "(?<!a)b", "(?>a)", "a++", "[", "(?x)a", "a{1001}", "((a{100}){100}){100}",
  "\u0000", "é", "😀", "İ", "\n", "",
];
const FIELDS = ["CommandLine", "Image", "ParentImage", "User", "TargetFilename", "DestinationIp", "DestinationPort", "a0", "a1", "type", "exe", "name", "key", "process.command_line", "process.executable", "user.name", "NoSuchField", "Hashes", "", "a|b"];
const MODIFIERS = ["contains", "startswith", "endswith", "all", "re", "i", "m", "s", "base64", "base64offset", "windash", "cidr", "lt", "gte", "exists", "cased", "fieldref", "neq", "expand", "utf16le", "minute", "bogus"];
const LOGSOURCES = [
  { product: "linux", category: "process_creation" },
  { product: "linux", category: "file_event" },
  { product: "linux", category: "network_connection" },
  { product: "linux", service: "auditd" },
  { product: "linux" },
  { product: "hv" },
  { product: "windows", category: "process_creation" },
  {},
];

const value = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...HOSTILE_VALUES) },
  { weight: 2, arbitrary: fc.string({ maxLength: 12 }) },
  { weight: 3, arbitrary: fc.array(fc.constantFrom("a", "*", "?", "\\", "(", ")", "+", "|", "c", "%", "-", "/"), { maxLength: 14 }).map((cs) => cs.join("")) },
  { weight: 1, arbitrary: fc.oneof(fc.integer(), fc.boolean(), fc.constant(null)) },
);
/** Mostly what rules write, sometimes anything (unknown modifiers, impossible combinations). */
const modifiers = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom<string[]>([], ["contains"], ["startswith"], ["endswith"], ["contains", "all"], ["re"], ["re", "i"], ["cased"], ["windash"], ["contains", "windash"], ["base64offset", "contains"]) },
  { weight: 1, arbitrary: fc.array(fc.constantFrom(...MODIFIERS), { maxLength: 3 }) },
);
const field = fc.oneof({ weight: 5, arbitrary: fc.constantFrom("CommandLine", "Image", "ParentImage", "User", "CurrentDirectory") }, { weight: 1, arbitrary: fc.constantFrom(...FIELDS) });
const item = fc.record({ field, modifiers, values: fc.oneof(value, fc.array(value, { maxLength: 4 })) });
const search = fc.oneof(
  { weight: 6, arbitrary: fc.array(item, { minLength: 1, maxLength: 3 }).map((items) => Object.fromEntries(items.map((i) => [[i.field, ...i.modifiers].join("|"), i.values]))) },
  { weight: 1, arbitrary: fc.array(value, { minLength: 1, maxLength: 3 }) },
  { weight: 1, arbitrary: value },
);
const condition = (searches: number): fc.Arbitrary<string> =>
  fc.oneof(
    { weight: 6, arbitrary: fc.constantFrom(...(searches === 1 ? ["sel", "1 of them", "all of them", "not sel"] : ["1 of sel*", "all of them", "sel0 and not sel1", "(sel0 or sel1) and not 1 of sel*"])) },
    { weight: 1, arbitrary: fc.constantFrom("sel | count() > 5", "any of sel*", "sel0 and", "not", "((sel0)", "3 of sel*", "nosuch") },
    { weight: 1, arbitrary: fc.string({ maxLength: 20 }) },
  );
/** A rule built from Sigma's parts, some of them wrong on purpose. */
const builtRule = fc
  .record({
    title: fc.oneof({ weight: 5, arbitrary: fc.constant("fuzz") }, { weight: 1, arbitrary: fc.string({ maxLength: 300 }) }),
    id: fc.oneof({ weight: 10, arbitrary: fc.uuid() }, { weight: 1, arbitrary: fc.constantFrom("dup", "") }),
    level: fc.constantFrom("low", "medium", "high", "critical", "informational", "severe"),
    logsource: fc.oneof({ weight: 5, arbitrary: fc.constant(LOGSOURCES[0]!) }, { weight: 2, arbitrary: fc.constantFrom(...LOGSOURCES) }),
    searches: fc.array(search, { minLength: 1, maxLength: 3 }),
  })
  .chain((r) => condition(r.searches.length).map((c) => ({ ...r, condition: c })))
  .map((r) => {
    const detection: Record<string, unknown> = Object.fromEntries(r.searches.map((s, i) => [r.searches.length === 1 ? "sel" : `sel${i}`, s]));
    detection.condition = r.condition;
    return stringify({ title: r.title, id: r.id, status: "test", level: r.level, logsource: r.logsource, detection });
  });

/** Several documents in one file: duplicates of one id, correlations and filters among them. */
const multiDoc = fc.array(builtRule, { minLength: 1, maxLength: 3 }).map((docs) => docs.join("---\n"));

const REAL_RULES = readdirSync(join(ROOT, "rules", "hv"))
  .filter((f) => f.endsWith(".yml"))
  .map((f) => readFileSync(join(ROOT, "rules", "hv", f), "utf8"));
/** A real rule with bytes changed: YAML tricks, hostile values, deletions, duplicated lines. */
const mutatedRule = fc
  .record({
    text: fc.constantFrom(...REAL_RULES),
    edits: fc.array(
      fc.record({
        at: fc.nat(),
        cut: fc.nat({ max: 20 }),
        insert: fc.oneof(fc.constantFrom("*", "&a ", "*a", "!!binary ", "\t", "---\n", "'", '"', ": ", "\n  - ", "|re", "|contains|all", "{", "[", ...HOSTILE_VALUES), fc.string({ maxLength: 6 })),
      }),
      { minLength: 1, maxLength: 4 },
    ),
  })
  .map(({ text, edits }) => {
    let t = text;
    for (const e of edits) {
      const at = e.at % (t.length + 1);
      t = t.slice(0, at) + e.insert + t.slice(at + e.cut);
    }
    return t;
  });
const yamlTricks = fc.constantFrom(
  "a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n",
  "[".repeat(5000),
  "{".repeat(5000) + "}".repeat(5000),
  "- ".repeat(3000) + "x\n",
  "title: x\ntitle: y\n",
  "%YAML 9.9\n---\nx: 1\n",
  "!!python/object:os.system ls\n",
  "title: x\nlogsource: {product: linux}\ndetection: {sel: !!binary aGVsbG8=, condition: sel}\n",
  "\u0000\u0001\u0002",
  "",
  "---\n---\n---\n",
);
const documents = fc.oneof({ weight: 4, arbitrary: builtRule }, { weight: 2, arbitrary: multiDoc }, { weight: 3, arbitrary: mutatedRule }, { weight: 1, arbitrary: yamlTricks });

/** A normal execve, a file event, and command lines made of the hostile values. */
function events(): HvEvent[] {
  const exec = decodeFixture("real-execve.log").find((e) => e.event.action === "execve")!;
  const file = decodeFixture("real-file.log").find((e) => e.file?.path !== undefined)!;
  const cmd = (command_line: string): HvEvent => makeEvent(1, { process: { pid: 10, executable: command_line, command_line } });
  return [exec, file, cmd("a".repeat(5_000)), cmd("a".repeat(30) + "b"), cmd("ac".repeat(2_000))];
}

/** What "a clear error" means: every document not loaded says why, with a line in the file. */
function expectClearReport(text: string, loaded: Loaded): void {
  const lines = text.split("\n").length;
  for (const r of loaded.report) {
    if (r.status === "loaded") continue;
    expect(r.reasons.length, JSON.stringify(r)).toBeGreaterThan(0);
    for (const x of r.reasons) {
      expect(x.line, JSON.stringify(r)).toBeGreaterThanOrEqual(0);
      expect(x.line, JSON.stringify(r)).toBeLessThanOrEqual(lines + 1);
      expect(x.reason.length).toBeGreaterThan(3);
      expect(x.reason, "an internal error leaked into a reason").not.toMatch(/TypeError|ReferenceError|is not a function|Cannot read propert|undefined is not|\[object Object\]/);
    }
  }
}

let engine: HostileSigma;
beforeAll(() => {
  engine = new HostileSigma(IDLE_MS);
});
afterAll(async () => {
  await engine.close();
});

describe("fuzzed Sigma rule documents", () => {
  it("never hang, never throw, explain every refusal, and evaluate within the bound", async () => {
    const normal = events();
    let loadedRules = 0;
    let refused = 0;
    await fc.assert(
      fc.asyncProperty(documents, async (text) => {
        const loaded = await engine.load({ text, file: "fuzz.yml" });
        expectClearReport(text, loaded);
        loadedRules += loaded.ids.length;
        refused += loaded.report.filter((r) => r.status !== "loaded" && r.status !== "dormant").length;
        if (loaded.ids.length === 0) return;
        const ran = await engine.run(normal);
        expect(ran.worst.ms, `slowest: ${ran.worst.rule}\n${text}`).toBeLessThan(PER_EVENT_MS);
        const hostile = await engine.adversarial(normal.slice(0, 2), [1_000, 10_000], { maxUnits: 6 });
        expect(hostile.worst.ms, `slowest: ${hostile.worst.rule}\n${text}`).toBeLessThan(PER_EVENT_MS);
      }),
      { numRuns: RUNS },
    );
    // The generators reach both sides: documents that load and documents that are refused.
    console.log(`fuzzed Sigma documents: ${RUNS} files, ${loadedRules} rules compiled and run, ${refused} documents refused with reasons`);
    expect(loadedRules).toBeGreaterThan(RUNS / 8);
    expect(refused).toBeGreaterThan(RUNS / 8);
  }, 600_000);
});
