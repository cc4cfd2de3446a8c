// The VM-network model: an isolation forest over per-VM minute features of flows, trained on
// benign traffic only. Its threshold is set at the target FPR on the benign minutes themselves
// (a recording of a few VMs has too few minutes to hold some out; docs/anomaly.md says so), and
// each feature's benign median and 99th percentile ride in the metadata to explain alerts.

import { MAX_TRAINING_BYTES, readFileCapped, readTextCapped } from "../../events/input.js";
import * as ort from "onnxruntime-node";
import { flowAttribution } from "../../collectors/flows/attribution.js";
import { createConntrackDecoder } from "../../collectors/flows/conntrack-decode.js";
import { loadInventoryFile } from "../../collectors/libvirt/inventory.js";
import type { HvEvent } from "../../events/event.js";
import { rateAbove, thresholdAtFpr } from "./calibrate.js";
import { createMinuteBuilder, FLOW_FEATURES, modelInput, type VmMinute } from "./flow-features.js";
import { exportIsoForest, fitIsoForest } from "./iforest.js";
import { MAX_MODEL_BYTES, readMetadata } from "./onnx-build.js";

// One thread: the tree ensemble's sum is then always in the same order, so scores (and the
// calibrated threshold written into the model) are the same on every run.
const SESSION_OPTIONS = { intraOpNumThreads: 1, interOpNumThreads: 1 };

export interface FlowTrainOptions {
  seed: number;
  fpr: number;
  inventoryPath?: string;
  trees?: number;
  sampleSize?: number;
  onProgress?: (done: number, total: number) => void;
}

export interface FeatureBaseline {
  median: number;
  p99: number;
}

/** Flow events of a conntrack log, attributed to VMs through the inventory (vm.name), with the decoder's counts. */
export function readConntrackLog(path: string, inventoryPath?: string): { events: HvEvent[]; stats: Record<string, unknown> } {
  const decoder = createConntrackDecoder();
  const attribute = inventoryPath ? flowAttribution(loadInventoryFile(inventoryPath)) : undefined;
  const events: HvEvent[] = [];
  readTextCapped(path, MAX_TRAINING_BYTES).split("\n").forEach((text, i) => {
    const ev = decoder.line(text, i + 1);
    if (!ev) return;
    attribute?.(ev);
    events.push(ev);
  });
  const s = decoder.stats();
  return { events, stats: { lines: s.lines, events: s.events, malformed: s.malformed, problems: s.problems.slice(0, 5) } };
}

export function vmMinutes(events: Iterable<HvEvent>): VmMinute[] {
  const b = createMinuteBuilder();
  for (const ev of events) b.add(ev);
  return b.finish();
}

function medians(rows: number[][]): number[] {
  return FLOW_FEATURES.map((_, i) => quantile(rows.map((r) => r[i]!).sort((a, b) => a - b), 0.5));
}

/** Each value raised to at least the floor, in float32 like the graph's Max. */
export function applyFloor(x: readonly number[], floor: readonly number[]): number[] {
  return x.map((v, i) => Math.max(Math.fround(v), Math.fround(floor[i]!)));
}

function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * (sorted.length - 1)))]!;
}

export function baselines(minutes: readonly VmMinute[]): FeatureBaseline[] {
  return FLOW_FEATURES.map((_, i) => {
    const v = minutes.map((m) => m.raw[i]!).sort((a, b) => a - b);
    return { median: quantile(v, 0.5), p99: quantile(v, 0.99) };
  });
}

export async function trainFlowModelFromFile(path: string, opts: FlowTrainOptions): Promise<{ onnx: Uint8Array; report: Record<string, unknown> }> {
  const started = Date.now();
  const { events, stats } = readConntrackLog(path, opts.inventoryPath);
  const minutes = vmMinutes(events);
  if (minutes.length < 8) throw new Error(`${path}: only ${minutes.length} VM-minutes of flows (need ≥ 8; is --inventory given so flows map to VMs?)`);
  // One-sided: less activity than a VM's usual minute is not what this model hunts (an idle or
  // half-recorded minute would otherwise look "isolated"), so each feature is floored at its
  // benign median before fitting and scoring (a Max node in the graph).
  const floor = medians(minutes.map((m) => modelInput(m.raw)));
  const points = minutes.map((m) => applyFloor(modelInput(m.raw), floor));
  const forest = fitIsoForest(points, { trees: opts.trees ?? 100, sampleSize: opts.sampleSize ?? 256, seed: opts.seed });
  opts.onProgress?.(1, 2);
  // Calibrate on the scores the deployed graph computes (float32), so a threshold tie means the same in the agent.
  const draft = exportIsoForest(forest, { kind: "flows" }, floor);
  const session = await ort.InferenceSession.create(draft, SESSION_OPTIONS);
  const F = FLOW_FEATURES.length;
  const raw = Float32Array.from(minutes.flatMap((m) => modelInput(m.raw)));
  const scores = Array.from((await session.run({ features: new ort.Tensor("float32", raw, [minutes.length, F]) })).score!.data as Float32Array);
  await session.release();
  const threshold = thresholdAtFpr(scores, opts.fpr);
  const vms = [...new Set(minutes.map((m) => m.vm))].sort();
  const training = { file: path, flow_events: events.length, vm_minutes: minutes.length, vms, decoder: stats };
  const onnx = exportIsoForest(forest, {
    kind: "flows",
    description: "hv isolation forest over per-VM minute flow features; higher = more anomalous",
    feature_names: JSON.stringify(FLOW_FEATURES),
    feature_transform: "log1p for counts and bytes; ratios as is",
    trees: String(forest.trees.length),
    sample_size: String(forest.sampleSize),
    seed: String(opts.seed),
    threshold: String(threshold),
    calibration_fpr: String(opts.fpr),
    calibration: JSON.stringify({ target_fpr: opts.fpr, threshold, minutes: scores.length, fpr_on_training_minutes: rateAbove(scores, threshold), note: "in-sample: benign minutes were also the training data" }),
    baseline: JSON.stringify(baselines(minutes)),
    training: JSON.stringify(training),
  }, floor);
  opts.onProgress?.(2, 2);
  return { onnx, report: { kind: "flows", ...training, threshold, seconds: (Date.now() - started) / 1000 } };
}

export interface MinuteScore {
  vm: string;
  minute: string;
  score: number;
  anomalous: boolean;
  explanation: string[];
  features: Record<string, number>;
}

/** Scores every VM-minute of a conntrack log with a flow model through onnxruntime. */
export async function scoreFlowLog(modelPath: string, logPath: string, inventoryPath?: string): Promise<MinuteScore[]> {
  const bytes = readFileCapped(modelPath, MAX_MODEL_BYTES);
  const meta = readMetadata(bytes);
  if (meta.kind !== "flows") throw new Error(`${modelPath}: not a flow model (kind=${meta.kind ?? "missing"})`);
  const threshold = Number(meta.threshold);
  const base = JSON.parse(meta.baseline ?? "[]") as FeatureBaseline[];
  const minutes = vmMinutes(readConntrackLog(logPath, inventoryPath).events);
  if (minutes.length === 0) return [];
  const session = await ort.InferenceSession.create(bytes, SESSION_OPTIONS);
  const F = FLOW_FEATURES.length;
  const input = new Float32Array(minutes.length * F);
  minutes.forEach((m, i) => input.set(modelInput(m.raw), i * F));
  const out = await session.run({ features: new ort.Tensor("float32", input, [minutes.length, F]) });
  await session.release();
  const scores = out.score!.data as Float32Array;
  return minutes.map((m, i) => ({
    vm: m.vm,
    minute: new Date(m.minute).toISOString(),
    score: scores[i]!,
    anomalous: scores[i]! > threshold,
    explanation: explainMinute(m.raw, base),
    features: Object.fromEntries(FLOW_FEATURES.map((f, j) => [f, m.raw[j]!])),
  }));
}

/**
 * A rule-of-thumb detector to compare the flow model with: how far the VM-minute's most raised
 * feature is above its benign median, in units of (99th percentile − median). 1 = at the benign
 * 99th percentile.
 */
export function featureExcess(raw: readonly number[], base: readonly FeatureBaseline[]): number {
  return Math.max(...raw.map((v, i) => {
    const b = base[i] ?? { median: 0, p99: 0 };
    return (v - b.median) / Math.max(b.p99 - b.median, 1e-9);
  }));
}

/** The features furthest above their benign baseline (in units of the baseline's spread), with the baseline. */
export function explainMinute(raw: readonly number[], base: readonly FeatureBaseline[], count = 3): string[] {
  const far = FLOW_FEATURES.map((f, i) => {
    const b = base[i] ?? { median: 0, p99: 0 };
    const spread = Math.max(b.p99 - b.median, 1e-9);
    return { f, v: raw[i]!, b, distance: (raw[i]! - b.median) / spread };
  })
    .filter((x) => x.distance > 1)
    .sort((a, b) => b.distance - a.distance)
    .slice(0, count);
  return far.map((x) => `${x.f} ${fmt(x.v)} (benign median ${fmt(x.b.median)}, 99th percentile ${fmt(x.b.p99)})`);
}

function fmt(n: number): string {
  return Number.isInteger(n) ? String(n) : n.toFixed(2);
}
