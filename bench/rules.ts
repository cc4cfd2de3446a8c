// Sigma engine benchmark: how fast the detector evaluates every loadable rule over real audit
// events. Events are decoded once up front; only the engine is timed. Prints numbers, asserts nothing.
// Then the matchers alone on the same events' values, each beside its peer: the linear-time glob
// beside the RegExp translation wildcards had before it, RE2 (|re) beside JavaScript's RegExp.
//
//   npm run build && node dist/bench/rules.js [--events N]
//
// Rules: ../shared/data/sigma/rules/linux plus hv's own rules/ (whatever is there).
// Events: the largest real log in ../shared/data/audit-logs (else the committed fixtures),
// decoded and repeated until N events (default 200 000).

import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { decodeAuditLines } from "../src/collectors/audit/decoder.js";
import { createSigmaDetector } from "../src/detectors/sigma/detector.js";
import { loadRules, summarize, type RuleSet } from "../src/detectors/sigma/ruleset.js";
import { QMARK, STAR } from "../src/events/glob.js";
import { compilePattern, parseWildcards, wrap } from "../src/detectors/sigma/patterns.js";
import { compileRegex } from "../src/detectors/sigma/regex.js";
import type { HvEvent } from "../src/events/event.js";
import { largestAuditLog, ROOT, SHARED } from "./data.js";

function decode(file: string): HvEvent[] {
  return decodeAuditLines(readFileSync(file, "utf8").split("\n"));
}

function main(): void {
  const argv = process.argv.slice(2);
  const n = argv[0] === "--events" ? Number(argv[1]) : 200_000;
  const rulePaths = [join(SHARED, "sigma", "rules", "linux"), join(ROOT, "rules")].filter((p) => existsSync(p));
  if (!rulePaths.some((p) => p.includes("sigma"))) process.stderr.write("note: SigmaHQ rules not found; only hv's own rules are loaded\n");
  const t0 = performance.now();
  const set = loadRules(rulePaths);
  const loadMs = performance.now() - t0;
  const s = summarize(set.report);

  const log = largestAuditLog();
  const seed = decode(log);
  // Execs are what most rules look at; add the committed exec fixture so every run has some.
  const fixture = decode(join(ROOT, "test", "fixtures", "audit", "real-execve.log"));
  const pool = [...seed, ...fixture];
  const events: HvEvent[] = [];
  for (let i = 0; events.length < n; i++) events.push(pool[i % pool.length]!);

  const run = (prefilter: boolean): { seconds: number; stats: ReturnType<ReturnType<typeof createSigmaDetector>["stats"]>; detections: number } => {
    const d = createSigmaDetector({ rules: set, prefilter });
    let detections = 0;
    const start = performance.now();
    for (const e of events) detections += d.onEvent(e).length;
    return { seconds: (performance.now() - start) / 1000, stats: d.stats(), detections };
  };
  run(true); // warm-up (JIT)
  const on = run(true);
  const off = run(false);

  const perEvent = (x: number): string => (x / events.length).toFixed(2);
  const lines = [
    `rules: ${rulePaths.join(", ")}`,
    `  ${s.loaded} loaded (${s.dormant} dormant), ${s.unsupported} unsupported, ${s.invalid} invalid; ${set.rules.length} active; load+compile ${loadMs.toFixed(0)} ms`,
    `events: ${events.length} (seed ${log.slice(log.indexOf("audit-logs") >= 0 ? log.indexOf("audit-logs") : 0)}: ${seed.length} events, + ${fixture.length} exec fixture events, repeated)`,
    `with prefilter:    ${(events.length / on.seconds).toFixed(0)} events/s, per event: ${perEvent(on.stats.candidates)} candidate rules (logsource index), ${perEvent(on.stats.evaluations)} evaluated, ${perEvent(on.stats.prefiltered)} skipped by literals; ${on.detections} detections`,
    `without prefilter: ${(events.length / off.seconds).toFixed(0)} events/s, per event: ${perEvent(off.stats.evaluations)} evaluated; ${off.detections} detections`,
    `without any index, every event would meet all ${set.rules.length} rules`,
    ...matchers(set, seed),
    `peak RSS: ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MiB`,
  ];
  process.stdout.write(lines.join("\n") + "\n");
}

/** Tests per second of `tests` over every value, best of three rounds. */
function rate(tests: Array<(v: string) => boolean>, values: string[]): number {
  let best = Infinity;
  for (let round = 0; round < 3; round++) {
    const t0 = performance.now();
    for (const t of tests) for (const v of values) t(v);
    best = Math.min(best, performance.now() - t0);
  }
  return (tests.length * values.length) / (best / 1000);
}

/**
 * The matchers on the events' own strings (command lines, paths, names): every wildcard value of
 * the rules that has a wildcard inside (those were a RegExp before the glob matcher) beside the
 * RegExp they used to compile to, and every |re value on RE2 beside JavaScript's RegExp.
 */
function matchers(set: RuleSet, events: HvEvent[]): string[] {
  const values = [...new Set(events.flatMap((e) => [e.process?.command_line, e.process?.executable, e.file?.path, e.user?.name]).filter((v): v is string => v !== undefined))].map((v) => v.toLowerCase());
  const globs: string[] = [];
  const regexes: string[] = [];
  for (const rule of [...set.rules, ...set.dormant]) {
    for (const s of rule.doc.searches) {
      for (const items of s.alternatives) {
        for (const item of items) {
          for (const v of item.values) {
            if (typeof v !== "string") continue;
            if (item.modifiers.includes("re")) regexes.push(v);
            else if (parseWildcards(v).slice(1, -1).some((x) => x === STAR || x === QMARK)) globs.push(v);
          }
        }
      }
    }
  }
  const glob = globs.map((g) => {
    const t = compilePattern(wrap(parseWildcards(g), false, false), false);
    return (v: string): boolean => t(v, v);
  });
  const oldRegExp = globs.map((g) => {
    let src = "^";
    for (const x of parseWildcards(g.toLowerCase())) src += x === STAR ? "[\\s\\S]*" : x === QMARK ? "[\\s\\S]" : x.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
    const re = new RegExp(src + "$", "u");
    return (v: string): boolean => re.test(v);
  });
  const re2 = regexes.map((r) => compileRegex(r, {})).filter((t): t is (v: string) => boolean => typeof t === "function");
  const js = regexes.map((r) => new RegExp(r.replace(/^\(\?i\)/, ""), r.startsWith("(?i)") ? "i" : ""));
  const jsTests = js.map((re) => (v: string): boolean => re.test(v));
  const m = (x: number): string => `${(x / 1e6).toFixed(2)} M tests/s`;
  return [
    `matchers on ${values.length} distinct event values (command lines, paths, names):`,
    `  wildcards with * or ? inside (${globs.length} values): glob ${m(rate(glob, values))}; RegExp translation (before) ${m(rate(oldRegExp, values))}`,
    `  |re (${regexes.length} values): RE2 ${m(rate(re2, values))}; JavaScript RegExp ${m(rate(jsTests, values))}`,
  ];
}

main();
