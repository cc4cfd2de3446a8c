// Ingest benchmark: how fast hv turns raw audit lines into stored events, next to ausearch on
// the same file in the same run. Prints numbers, asserts nothing.
//
//   npm run build && node --expose-gc dist/bench/ingest.js [--lines N] [--json] [--keep FILE]
//
// Input: the largest real log in ../shared/data/audit-logs repeated until N lines (default
// 500 000), each copy's serials and times shifted so every event stays distinct and in order.
// Without ../shared the committed fixtures are used instead (and the run says so).

import { execFileSync, spawnSync } from "node:child_process";
import { createReadStream, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { AuditCollector } from "../src/collectors/audit/collector.js";
import { AuditDecoder } from "../src/collectors/audit/decoder.js";
import { readStreamLines } from "../src/collectors/audit/sources/stdin.js";
import { startPipeline } from "../src/agent/pipeline.js";
import { buildInput, ROOT, seedLog } from "./data.js";
import { openStore } from "../src/store/open.js";


interface Args {
  lines: number;
  json: boolean;
  keep?: string;
}

function parseArgs(argv: string[]): Args {
  const args: Args = { lines: 500_000, json: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--lines") args.lines = Number(argv[++i]);
    else if (a === "--json") args.json = true;
    else if (a === "--keep") args.keep = argv[++i];
    else if (a === "--help" || a === "-h") {
      process.stdout.write("usage: node dist/bench/ingest.js [--lines N] [--json] [--keep FILE]\n");
      process.exit(0);
    } else throw new Error(`unknown argument ${a}`);
  }
  if (!Number.isInteger(args.lines) || args.lines < 1000) throw new Error("--lines must be an integer >= 1000");
  return args;
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

async function timeDecodeOnly(file: string): Promise<{ seconds: number; records: number; events: number }> {
  const start = process.hrtime.bigint();
  const decoder = new AuditDecoder();
  let events = 0;
  for await (const line of readStreamLines(createReadStream(file), { signal: new AbortController().signal })) {
    events += decoder.pushLine(line.text, line.lineNo).events.length;
  }
  events += decoder.flush().length;
  return { seconds: Number(process.hrtime.bigint() - start) / 1e9, records: decoder.stats.records, events };
}

async function timeIngest(file: string, dir: string): Promise<{ seconds: number; records: number; events: number; stored: number; batchMs: number[] }> {
  const db = openStore(join(dir, "bench.db"));
  const collector = new AuditCollector({ kind: "file", path: file, follow: false });
  const batchMs: number[] = [];
  let last = process.hrtime.bigint();
  const start = last;
  const pipeline = startPipeline(
    {
      db,
      collectors: [collector],
      onEvents: () => {
        // Time between commits: how long one batch took to parse, group, normalize and store.
        const now = process.hrtime.bigint();
        batchMs.push(Number(now - last) / 1e6);
        last = now;
      },
    },
    new AbortController().signal,
  );
  await pipeline.done;
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  const stored = pipeline.stats().stored;
  db.close();
  return { seconds, records: collector.stats.records, events: collector.stats.events, stored, batchMs: batchMs.sort((a, b) => a - b) };
}

function timeCommand(cmd: string, args: string[]): { seconds: number; ok: boolean; note?: string } {
  const start = process.hrtime.bigint();
  const r = spawnSync(cmd, args, { stdio: ["ignore", "ignore", "pipe"], maxBuffer: 1 << 30 });
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  if (r.error) return { seconds, ok: false, note: r.error.message };
  return { seconds, ok: r.status === 0, note: r.status === 0 ? undefined : `exit ${r.status}: ${r.stderr.toString().slice(0, 200)}` };
}

function hasCommand(cmd: string): boolean {
  try {
    execFileSync("sh", ["-c", `command -v ${cmd}`], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const seed = seedLog();
  const dir = mkdtempSync(join(tmpdir(), "hv-bench-"));
  const file = args.keep ?? join(dir, "audit.log");
  writeFileSync(file, buildInput(seed.lines, args.lines));
  const bytes = statSync(file).size;

  const decode = await timeDecodeOnly(file);
  // In a child of its own, so the peak RSS is the pipeline's, not this process's copy of the input.
  const child = spawnSync(process.execPath, [process.argv[1]!, "--ingest-child", file, dir], { encoding: "utf8", maxBuffer: 64 << 20 });
  if (child.status !== 0) throw new Error(`ingest child failed: ${child.stderr}`);
  const { peakRssMiB, ...ingest } = JSON.parse(child.stdout) as Awaited<ReturnType<typeof timeIngest>> & { peakRssMiB: number };
  const cli = timeCommand(process.execPath, [join(ROOT, "bin", "hv.js"), "events", "--replay", file, "--json"]);

  const ausearch = hasCommand("ausearch") ? timeCommand("ausearch", ["-if", file]) : undefined;
  const ausearchCsv = hasCommand("ausearch") ? timeCommand("ausearch", ["-if", file, "--format", "csv"]) : undefined;

  const result = {
    input: { seed: seed.name, lines: args.lines, MiB: +(bytes / 2 ** 20).toFixed(1) },
    decode: { seconds: +decode.seconds.toFixed(2), records_per_s: Math.round(decode.records / decode.seconds), events_per_s: Math.round(decode.events / decode.seconds) },
    ingest: {
      seconds: +ingest.seconds.toFixed(2),
      records_per_s: Math.round(ingest.records / ingest.seconds),
      events_per_s: Math.round(ingest.stored / ingest.seconds),
      events: ingest.events,
      stored: ingest.stored,
      batch_ms: { p50: +percentile(ingest.batchMs, 50).toFixed(1), p99: +percentile(ingest.batchMs, 99).toFixed(1), max: +(ingest.batchMs.at(-1) ?? 0).toFixed(1) },
      peak_rss_MiB: Math.round(peakRssMiB),
    },
    hv_events_cli_seconds: +cli.seconds.toFixed(2),
    ausearch: ausearch ? { seconds: +ausearch.seconds.toFixed(2), ok: ausearch.ok, note: ausearch.note } : "not installed",
    ausearch_csv: ausearchCsv ? { seconds: +ausearchCsv.seconds.toFixed(2), ok: ausearchCsv.ok, note: ausearchCsv.note } : "not installed",
    ratios: ausearch && ausearchCsv
      ? {
          ingest_vs_ausearch: +(ingest.seconds / ausearch.seconds).toFixed(2),
          ingest_vs_ausearch_csv: +(ingest.seconds / ausearchCsv.seconds).toFixed(2),
          cli_vs_ausearch: +(cli.seconds / ausearch.seconds).toFixed(2),
          cli_vs_ausearch_csv: +(cli.seconds / ausearchCsv.seconds).toFixed(2),
        }
      : undefined,
  };
  if (!args.keep) rmSync(dir, { recursive: true, force: true });

  if (args.json) {
    process.stdout.write(JSON.stringify(result) + "\n");
    return;
  }
  const r = result;
  const line = (s: string): boolean => process.stdout.write(s + "\n");
  line(`input            ${r.input.lines} lines (${r.input.MiB} MiB) from ${r.input.seed}`);
  line(`decode only      ${r.decode.seconds} s  ${r.decode.records_per_s} records/s  ${r.decode.events_per_s} events/s`);
  line(`parse+group+store ${r.ingest.seconds} s  ${r.ingest.records_per_s} records/s  ${r.ingest.events_per_s} events/s  (${r.ingest.stored} stored)`);
  line(`  batch interval p50 ${r.ingest.batch_ms.p50} ms  p99 ${r.ingest.batch_ms.p99} ms  max ${r.ingest.batch_ms.max} ms; peak RSS ${r.ingest.peak_rss_MiB} MiB`);
  line(`hv events --json ${r.hv_events_cli_seconds} s (whole CLI, JSON to /dev/null)`);
  line(`ausearch -if     ${typeof r.ausearch === "string" ? r.ausearch : `${r.ausearch.seconds} s${r.ausearch.ok ? "" : ` (${r.ausearch.note})`}`}`);
  line(`ausearch --format csv ${typeof r.ausearch_csv === "string" ? r.ausearch_csv : `${r.ausearch_csv.seconds} s${r.ausearch_csv.ok ? "" : ` (${r.ausearch_csv.note})`}`}`);
  if (r.ratios) {
    line(`ratios (hv time / ausearch time; < 1 means hv is faster):`);
    line(`  ingest vs ausearch ${r.ratios.ingest_vs_ausearch}, vs ausearch csv ${r.ratios.ingest_vs_ausearch_csv}`);
    line(`  hv events CLI vs ausearch ${r.ratios.cli_vs_ausearch}, vs ausearch csv ${r.ratios.cli_vs_ausearch_csv}`);
  }
}

async function ingestChild(file: string, dir: string): Promise<void> {
  const result = await timeIngest(file, dir);
  process.stdout.write(JSON.stringify({ ...result, peakRssMiB: process.resourceUsage().maxRSS / 1024 }) + "\n");
}

(process.argv[2] === "--ingest-child" ? ingestChild(process.argv[3]!, process.argv[4]!) : main()).catch((err: unknown) => {
  process.stderr.write(`bench/ingest: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
