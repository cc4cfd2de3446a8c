// Feed-parser conformance over the real feed files in ../shared/data/threat-intel: for each file
// (a MISP feed directory counts as one), the detected format, indicators by kind, rejects by
// reason (parse and safety filter), skipped entries by reason. Prints numbers, asserts nothing.
//
//   npm run build && node dist/bench/conformance-feeds.js [--json]

import { existsSync, readdirSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { readFeedFile } from "../src/feeds/read.js";
import { filterUnsafe } from "../src/feeds/safety.js";
import { rejectCopy } from "../src/feeds/safety.js";
import { SHARED } from "./data.js";

const ROOT = join(SHARED, "threat-intel");

function feedFiles(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) {
      if (existsSync(join(p, "manifest.json"))) out.push(p);
      else out.push(...feedFiles(p));
    } else out.push(p);
  }
  return out.sort();
}

function count<T>(items: T[], key: (t: T) => string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const i of items) out[key(i)] = (out[key(i)] ?? 0) + 1;
  return out;
}

function main(): void {
  const json = process.argv.includes("--json");
  if (!existsSync(ROOT)) {
    process.stdout.write(`SKIP: ${ROOT} not found (set HV_SHARED_DATA to the shared data directory)\n`);
    return;
  }
  let files = 0;
  let indicators = 0;
  for (const path of feedFiles(ROOT)) {
    const name = relative(ROOT, path) + (statSync(path).isDirectory() ? "/" : "");
    files++;
    let row: Record<string, unknown>;
    try {
      const parsed = readFeedFile(path);
      // The host's own addresses differ per machine; the conformance run checks the fixed rules only.
      const filtered = filterUnsafe(parsed.indicators, { hostAddresses: [] });
      const rejected = { ...parsed.rejectedByReason };
      for (const [r, n] of Object.entries(filtered.rejectedByReason)) rejected[`safety: ${r}`] = n;
      indicators += filtered.accepted.length;
      row = {
        file: name,
        format: parsed.format,
        accepted: count(filtered.accepted, (i) => i.kind),
        rejected,
        skipped: parsed.skippedByReason,
        duplicates: parsed.duplicates,
        verdict: rejectCopy(parsed, filtered.accepted.length, { minKeepRatio: 0.5 }) ?? "would apply",
      };
    } catch (err) {
      row = { file: name, error: (err as Error).message };
    }
    if (json) process.stdout.write(JSON.stringify(row) + "\n");
    else process.stdout.write(formatRow(row));
  }
  process.stdout.write(`${files} files, ${indicators} indicators accepted\n`);
}

function formatRow(r: Record<string, unknown>): string {
  if (r.error) return `${r.file}\n  not a feed: ${String(r.error)}\n`;
  const kv = (o: unknown): string => Object.entries(o as Record<string, number>).map(([k, v]) => `${k}=${v}`).join(", ") || "-";
  return [
    `${String(r.file)}`,
    `  format    ${String(r.format)}`,
    `  accepted  ${kv(r.accepted)}`,
    `  rejected  ${kv(r.rejected)}`,
    `  skipped   ${kv(r.skipped)}${r.duplicates ? `; duplicates=${String(r.duplicates)}` : ""}`,
    `  verdict   ${String(r.verdict)}`,
    "",
  ].join("\n");
}

main();
