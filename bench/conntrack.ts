// conntrack benchmark: how fast recorded `conntrack -E -o timestamp,extended,id` lines become flow
// events (parse + decode, NEW/DESTROY pairing included). Prints numbers, asserts nothing.
//
//   npm run build && node --expose-gc dist/bench/conntrack.js [--lines N] [--batch N] [--json]
//
// Input: the committed real recording (test/fixtures/conntrack/events.log) repeated until N lines
// (default 1 000 000), each copy with its conntrack ids and times shifted so every flow stays
// distinct and in order. Run twice: from memory (the decoder alone) and from a file through
// the line reader `hv flows --replay` uses (readStreamLines).

import { createReadStream, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { readStreamLines } from "../src/collectors/audit/sources/stdin.js";
import { createConntrackDecoder } from "../src/collectors/flows/conntrack-decode.js";
import { ROOT } from "./data.js";

interface Args {
  lines: number;
  batch: number;
  json: boolean;
}

function parseArgs(argv: string[]): Args {
  const args: Args = { lines: 1_000_000, batch: 1000, json: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--lines") args.lines = Number(argv[++i]);
    else if (a === "--batch") args.batch = Number(argv[++i]);
    else if (a === "--json") args.json = true;
    else if (a === "--help" || a === "-h") {
      process.stdout.write("usage: node dist/bench/conntrack.js [--lines N] [--batch N] [--json]\n  e.g. node --expose-gc dist/bench/conntrack.js --lines 200000\n");
      process.exit(0);
    } else throw new Error(`unknown argument ${a}`);
  }
  if (!Number.isInteger(args.lines) || args.lines < 1000) throw new Error("--lines must be an integer >= 1000");
  if (!Number.isInteger(args.batch) || args.batch < 1) throw new Error("--batch must be a positive integer");
  return args;
}

/** The recording repeated to `count` lines; copy k has ids + k·1e6 (mod 2³²) and times + k·span. */
export function synthesize(seed: string[], count: number): string[] {
  const events = seed.filter((l) => l.startsWith("["));
  const times = events.map((l) => Number(/^\[(\d+\.\d+)\]/.exec(l)![1]));
  const span = Math.ceil(Math.max(...times) - Math.min(...times)) + 1;
  const out: string[] = [];
  for (let k = 0; out.length < count; k++) {
    for (const line of events) {
      if (out.length >= count) break;
      out.push(shiftEntryId(line.replace(/^\[(\d+)\.(\d+)\]/, (_, sec: string, us: string) => `[${Number(sec) + k * span}.${us}]`), k * 1_000_003));
    }
  }
  return out;
}

/** Adds `by` (mod 2³²) to the entry's id: the last id= (an ICMP tuple has its own echo id= before it). */
function shiftEntryId(line: string, by: number): string {
  const at = line.lastIndexOf(" id=");
  const m = /^ id=(\d+)/.exec(line.slice(at));
  if (at < 0 || !m) return line;
  return `${line.slice(0, at)} id=${(Number(m[1]) + by) % 2 ** 32}${line.slice(at + m[0].length)}`;
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const seed = readFileSync(join(ROOT, "test/fixtures/conntrack/events.log"), "utf8").split("\n");
  const lines = synthesize(seed, args.lines);
  const gc = (globalThis as { gc?: () => void }).gc;
  gc?.();
  // The synthesized input itself is held in memory: report it apart from the peak.
  const inputRssMiB = Math.round(process.memoryUsage().rss / 2 ** 20);

  // In memory, in batches (a batch: what one read from conntrack's pipe might hold).
  const decoder = createConntrackDecoder({ host: "bench" });
  const batchMs: number[] = [];
  let events = 0;
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < lines.length; i += args.batch) {
    const b0 = process.hrtime.bigint();
    const end = Math.min(lines.length, i + args.batch);
    for (let j = i; j < end; j++) if (decoder.line(lines[j]!, j + 1)) events++;
    batchMs.push(Number(process.hrtime.bigint() - b0) / 1e6);
  }
  const memMs = Number(process.hrtime.bigint() - t0) / 1e6;
  const stats = decoder.stats();
  batchMs.sort((a, b) => a - b);

  // From a file through the line reader, as a replay reads it.
  const dir = mkdtempSync(join(tmpdir(), "hv-bench-conntrack-"));
  const file = join(dir, "conntrack.log");
  writeFileSync(file, lines.join("\n") + "\n");
  const replay = createConntrackDecoder({ host: "bench" });
  const r0 = process.hrtime.bigint();
  let n = 0;
  for await (const line of readStreamLines(createReadStream(file), { signal: new AbortController().signal })) replay.line(line.text, ++n);
  const fileMs = Number(process.hrtime.bigint() - r0) / 1e6;
  rmSync(dir, { recursive: true, force: true });

  const result = {
    lines: lines.length,
    events,
    malformed: stats.malformed,
    unmatchedNew: stats.unmatchedNew,
    destroyWithoutNew: stats.destroyWithoutNew,
    memory: { seconds: memMs / 1000, linesPerSecond: Math.round(lines.length / (memMs / 1000)) },
    batch: { size: args.batch, p50Ms: percentile(batchMs, 50), p99Ms: percentile(batchMs, 99), maxMs: batchMs[batchMs.length - 1] ?? 0 },
    file: { seconds: fileMs / 1000, linesPerSecond: Math.round(lines.length / (fileMs / 1000)) },
    inputRssMiB,
    peakRssMiB: Math.round(process.resourceUsage().maxRSS / 1024),
  };
  if (args.json) {
    process.stdout.write(JSON.stringify(result) + "\n");
    return;
  }
  const f = (x: number): string => x.toLocaleString("en-US");
  process.stdout.write(
    [
      `conntrack lines: ${f(result.lines)} (${f(events)} flow events, ${result.malformed} malformed, ${result.unmatchedNew} unmatched NEW, ${result.destroyWithoutNew} DESTROY without NEW)`,
      `parse+decode in memory: ${f(result.memory.linesPerSecond)} lines/s (${result.memory.seconds.toFixed(2)} s)`,
      `per batch of ${args.batch}: p50 ${result.batch.p50Ms.toFixed(2)} ms, p99 ${result.batch.p99Ms.toFixed(2)} ms, max ${result.batch.maxMs.toFixed(2)} ms`,
      `replay from file (line reader): ${f(result.file.linesPerSecond)} lines/s (${result.file.seconds.toFixed(2)} s)`,
      `peak RSS: ${result.peakRssMiB} MiB (${result.inputRssMiB} MiB with just the synthesized input loaded)`,
    ].join("\n") + "\n",
  );
}

await main();
