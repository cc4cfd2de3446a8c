// Alerts per hour on recorded benign days of hypervisor administration, before and after quiet
// routing and learning (docs/noise.md). Prints numbers, asserts nothing.
//
//   npm run build && node dist/bench/noise.js [DIR]
//   node dist/bench/noise.js test/fixtures/audit/hv     # the benign takes of the technique recordings
//
// DIR (default test/fixtures/audit/benign-days) holds <ruleset>-day<N>.log.gz from
// scripts/record-benign-days.sh, or RULESET/benign/*.log from scripts/record-hv-rule-fixtures.sh
// (the benign look-alikes of every family under one audit ruleset, read as one day). Rules: hv's
// rules/hv plus SigmaHQ's linux rules from ../shared/data/sigma (or $HV_SHARED_DATA). For each
// ruleset it prints:
//   everything    every detection an alert (routing.signalsBelow: none), all days together
//   defaults      the documented defaults, all days together
//   learned i→j   defaults plus the exceptions learned on day i, judged on day j (each j ≠ i)

import { existsSync, mkdtempSync, readdirSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Alert } from "../src/events/alert.js";
import { ROOT, SHARED } from "./data.js";
import { atLeastMedium, decodeDay, judge, learn, type NoiseResult } from "./noise-eval.js";

function main(): void {
  const dir = process.argv[2] ?? join(ROOT, "test", "fixtures", "audit", "benign-days");
  const sigma = join(SHARED, "sigma", "rules", "linux");
  const rulePaths = [join(ROOT, "rules", "hv"), ...(existsSync(sigma) ? [sigma] : [])];
  if (!existsSync(sigma)) process.stderr.write(`note: ${sigma} not found; only hv's own rules are loaded\n`);
  const byRuleset = new Map<string, Map<number, string>>();
  for (const f of readdirSync(dir)) {
    const m = /^(.+)-day(\d+)\.log(\.gz)?$/.exec(f);
    if (!m) continue;
    const days = byRuleset.get(m[1]!) ?? new Map<number, string>();
    days.set(Number(m[2]), join(dir, f));
    byRuleset.set(m[1]!, days);
  }
  for (const f of readdirSync(dir)) {
    const take = join(dir, f, "benign");
    if (existsSync(take) && statSync(take).isDirectory()) byRuleset.set(`${f} (benign take)`, new Map([[1, take]]));
  }
  if (byRuleset.size === 0) throw new Error(`no <ruleset>-day<N>.log.gz nor RULESET/benign/*.log in ${dir} (scripts/record-benign-days.sh, scripts/record-hv-rule-fixtures.sh)`);
  console.log(`rules: ${rulePaths.join(", ")}\nrecordings: ${dir}\n`);
  for (const [ruleset, files] of [...byRuleset].sort()) {
    const days = [...files].sort((a, b) => a[0] - b[0]).map(([n, f]) => ({ n, events: decodeDay(f) }));
    const all = days.flatMap((d) => d.events);
    console.log(`== ruleset ${ruleset}: ${days.map((d) => `day ${d.n} ${d.events.length} events`).join(", ")}`);
    const row = (label: string, r: NoiseResult): void => {
      const med = r.alerts.filter((a) => atLeastMedium(a.severity)).length;
      const perH = (n: number): string => (r.hours > 0 ? (n / r.hours).toFixed(1) : "-");
      console.log(
        `  ${label.padEnd(26)} ${r.hours.toFixed(2).padStart(5)} h  alerts ${String(r.alerts.length).padStart(4)} (${perH(r.alerts.length).padStart(6)}/h)  ` +
          `≥medium ${String(med).padStart(3)} (${perH(med).padStart(5)}/h)  signals ${String(r.signals).padStart(4)}  detections ${r.detections}` +
          (r.suppressedByLearning > 0 ? `  suppressed by learning ${r.suppressedByLearning}` : ""),
      );
    };
    const fresh = <T>(fn: (stateDir: string) => T): T => {
      const stateDir = mkdtempSync(join(tmpdir(), "hv-noise-"));
      try {
        return fn(stateDir);
      } finally {
        rmSync(stateDir, { recursive: true, force: true });
      }
    };
    const everything = fresh((s) => judge({ rulePaths, events: all, stateDir: s, signalsBelow: "none" }));
    row("everything an alert", everything);
    const defaults = fresh((s) => judge({ rulePaths, events: all, stateDir: s }));
    row("defaults", defaults);
    listMedium(defaults.alerts);
    for (const judged of days) {
      for (const learned of days) {
        if (learned.n === judged.n) continue;
        const alone = fresh((s) => judge({ rulePaths, events: judged.events, stateDir: s }));
        row(`defaults, day ${judged.n}`, alone);
        const r = fresh((s) => {
          learn({ rulePaths, events: learned.events, stateDir: s });
          return judge({ rulePaths, events: judged.events, stateDir: s });
        });
        row(`learned day ${learned.n} → day ${judged.n}`, r);
        listMedium(r.alerts);
      }
    }
    console.log("");
  }
}

function listMedium(alerts: Alert[]): void {
  for (const a of alerts.filter((x) => atLeastMedium(x.severity))) {
    console.log(`      ${a.severity.padEnd(8)} ${a.rule.title} ×${a.count}  ${a.entity.kind}=${a.entity.id}  ${(a.process?.command_line ?? a.process?.executable ?? "").slice(0, 100)}`);
  }
}

main();
