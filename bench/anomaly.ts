// Anomaly models: windows scored per second by onnxruntime-node at batch 1 and batched, traces
// per second (both parts of the score) beside the STIDE baseline's, training time of a small
// syscall model, model sizes. Numbers, not pass/fail.
//   node dist/bench/anomaly.js [--json]
// Uses models/syscalls-adfa.onnx and ADFA-LD validation traces from ../shared/data when present;
// otherwise synthetic traces (and says so).

import { existsSync, statSync } from "node:fs";
import { join } from "node:path";
import { trainSyscallModel } from "../src/detectors/anomaly/train-syscalls.js";
import { BATCH, loadSyscallModel, scoreTraces, windowNll } from "../src/detectors/anomaly/syscall-model.js";
import { stideScorer } from "../src/detectors/anomaly/baselines.js";
import { classes, traceWindows } from "../src/detectors/anomaly/syscall-lm.js";
import { loadTraceDir, type Trace } from "../src/detectors/anomaly/traces.js";
import { createRng } from "../src/detectors/anomaly/rng.js";
import { ROOT, SHARED } from "./data.js";

const json = process.argv.includes("--json");
const results: Record<string, unknown> = {};
const say = (k: string, v: unknown, unit = ""): void => {
  results[k] = v;
  if (!json) process.stdout.write(`${k.padEnd(34)} ${typeof v === "number" ? v.toFixed(v < 10 ? 3 : 0) : String(v)} ${unit}\n`);
};

function syntheticTraces(n: number, len: number, seed: number): Trace[] {
  const rng = createRng(seed);
  const calls = [3, 4, 5, 6, 45, 54, 91, 102, 120, 168, 192, 195, 197, 240, 252, 265];
  return Array.from({ length: n }, (_, i) => ({ id: `s${i}`, calls: Array.from({ length: len }, () => calls[rng.int(calls.length)]!) }));
}

const modelPath = join(ROOT, "models", "syscalls-adfa.onnx");
if (!existsSync(modelPath)) {
  process.stderr.write(`skipped: ${modelPath} missing (npm run models)\n`);
  process.exit(0);
}
const model = await loadSyscallModel(modelPath);
say("model size (syscalls-adfa.onnx)", statSync(modelPath).size, "bytes");
const flows = join(ROOT, "models", "flows-lab.onnx");
if (existsSync(flows)) say("model size (flows-lab.onnx)", statSync(flows).size, "bytes");

const adfa = join(SHARED, "adfa-ld", "Validation_Data_Master");
let traces: Trace[];
if (existsSync(adfa)) traces = loadTraceDir(adfa).traces.slice(0, 1000);
else {
  process.stderr.write(`note: ${adfa} not found; scoring synthetic traces\n`);
  traces = syntheticTraces(1000, 480, 1);
}
const all = traces.flatMap((t) => t.calls);
const { ctx, next } = traceWindows(all, model.meta);
const k = model.meta.context;

// Batch 1: one onnxruntime call per window (the worst case: a detector that never batches).
const single = Math.min(5000, next.length);
let t0 = performance.now();
const V = classes(model.meta);
await windowNll(model.session, k, ctx.subarray(0, single * k), next.subarray(0, single), 1, V);
say("windows/s, batch 1", single / ((performance.now() - t0) / 1000));
for (const batch of [64, BATCH, 4096]) {
  t0 = performance.now();
  await windowNll(model.session, k, ctx, next, batch, V);
  say(`windows/s, batch ${batch}`, next.length / ((performance.now() - t0) / 1000));
}
t0 = performance.now();
await scoreTraces(model, traces);
const secs = (performance.now() - t0) / 1000;
say("traces/s (scoreTraces, packed)", traces.length / secs, `(${traces.length} traces, ${all.length} calls)`);
await model.session.release();
// The peer: STIDE (7-grams) built from the same traces, scoring them (a Set lookup per window).
const stide = stideScorer(traces, 7);
t0 = performance.now();
for (const t of traces) stide(t.calls);
say("traces/s (STIDE 7-grams, peer)", traces.length / ((performance.now() - t0) / 1000));

// Training time of a small model (the shipped one: `npm run models`, minutes).
const train = syntheticTraces(100, 300, 2);
t0 = performance.now();
const trained = await trainSyscallModel(train, { context: 10, epochs: 2, calibration: syntheticTraces(50, 300, 3) });
say("training s (100×300 synthetic, ctx 10)", (performance.now() - t0) / 1000, `(${trained.distinctWindows} distinct windows)`);
say("rss MB", process.memoryUsage().rss / 1e6);
if (json) process.stdout.write(JSON.stringify(results) + "\n");
