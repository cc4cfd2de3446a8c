// Sigma engine benchmark: how fast the detector evaluates every loadable rule over real audit
// events. Events are decoded once up front; only the engine is timed. Prints numbers, asserts nothing.
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
import { loadRules, summarize } from "../src/detectors/sigma/ruleset.js";
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
    `peak RSS: ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MiB`,
  ];
  process.stdout.write(lines.join("\n") + "\n");
}

main();
