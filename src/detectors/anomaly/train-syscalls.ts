// Training a syscall model end to end: fit on normal traces, export to ONNX, score held-out normal
// traces through onnxruntime to pick the threshold at the target false-positive rate, and write
// everything a reader of the model needs into its metadata.

import * as ort from "onnxruntime-node";
import { combinedScore, scaleOf, type Aggregation, type Combination } from "./aggregate.js";
import { splitHalves, rateAbove, thresholdAtFpr } from "./calibrate.js";
import { exportLm, distinctWindows, trainLm, vocabularyOf, type LmShape, type LmWeights } from "./syscall-lm.js";
import { parseSyscallMeta, scoreTraces, type SyscallModel } from "./syscall-model.js";
import { setDistanceGraph, trainingSets } from "./syscall-sets.js";
import type { Trace } from "./traces.js";

export interface SyscallTrainOptions {
  seed?: number;
  context?: number;
  hidden1?: number;
  hidden2?: number;
  epochs?: number;
  batchSize?: number;
  learningRate?: number;
  aggregation?: Aggregation;
  /** Target false-positive rate for the threshold. */
  fpr?: number;
  /** Normal traces kept out of training for calibration; when absent, a quarter of `traces` is held out. */
  calibration?: Trace[];
  /** Words about where the training data came from, for the model card and `hv model info`. */
  source?: string;
  onProgress?: (phase: string, done: number, total: number, note?: string) => void;
}

export interface CalibrationReport {
  target_fpr: number;
  threshold: number;
  /** Traces the threshold was chosen on, and its FPR there. */
  calibration_traces: number;
  calibration_fpr: number;
  /** Traces not used for anything else, and the FPR on them: the honest estimate. */
  heldout_traces: number;
  heldout_fpr: number;
}

export interface TrainedSyscallModel {
  onnx: Uint8Array;
  weights: LmWeights;
  calibration: CalibrationReport;
  trainingTraces: number;
  trainingWindows: number;
  distinctWindows: number;
  seconds: number;
}

// Context 16 and the mean of the top half of the window NLLs won the selection on ADFA-LD
// (bench/anomaly-select.ts; docs/anomaly.md, "How the model was chosen").
export const DEFAULTS = { seed: 1, context: 16, hidden1: 128, hidden2: 64, epochs: 6, batchSize: 512, learningRate: 0.003, fpr: 0.01, aggregation: { top: 10, fraction: 0.5, clip: 16 } };
const NGRAM = 3;

/** How many traces make each syscall, keyed by number in ascending order (deterministic metadata). */
function callTraceCounts(traces: readonly Trace[]): Record<string, number> {
  const counts = new Map<number, number>();
  for (const t of traces) for (const c of new Set(t.calls)) counts.set(c, (counts.get(c) ?? 0) + 1);
  return Object.fromEntries([...counts.entries()].sort((a, b) => a[0] - b[0]).map(([c, n]) => [String(c), n]));
}

function ngramCounts(traces: readonly Trace[], n: number): Record<string, number> {
  const counts = new Map<string, number>();
  for (const t of traces) {
    for (let i = 0; i + n <= t.calls.length; i++) {
      const key = t.calls.slice(i, i + n).join(" ");
      counts.set(key, (counts.get(key) ?? 0) + 1);
    }
  }
  // Sorted keys: the metadata (and so the file) must not depend on Map insertion order.
  return Object.fromEntries([...counts.entries()].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)));
}

export async function trainSyscallModel(traces: Trace[], opts: SyscallTrainOptions = {}): Promise<TrainedSyscallModel> {
  const started = Date.now();
  // Options given as undefined (an absent CLI flag) keep the default.
  const given = Object.fromEntries(Object.entries(opts).filter(([, v]) => v !== undefined)) as SyscallTrainOptions;
  const o = { ...DEFAULTS, ...given };
  let train = traces;
  let calib = opts.calibration;
  if (!calib) {
    // No separate normal set: hold a quarter of the traces out of training for calibration.
    const [a, b] = splitHalves(traces, "train");
    const [b1, b2] = splitHalves(b, "calibration");
    train = [...a, ...b1];
    calib = b2;
    if (calib.length === 0 || train.length === 0) throw new Error(`too few traces (${traces.length}) to train and calibrate; give --calibrate DIR`);
  }
  const shape: LmShape = { vocab: vocabularyOf(train), context: o.context, hidden1: o.hidden1, hidden2: o.hidden2 };
  const set = distinctWindows(train, shape);
  const weights = await trainLm(set, shape, {
    seed: o.seed, epochs: o.epochs, batchSize: o.batchSize, learningRate: o.learningRate,
    onProgress: (epoch, step, steps, epochs, loss) => opts.onProgress?.("train", epoch * steps + step, epochs * steps, `epoch ${epoch + 1}/${epochs} loss ${loss.toFixed(3)}`),
  });

  const sets = setDistanceGraph(shape, trainingSets(train, shape));
  const baseMeta: Record<string, string> = {
    kind: "syscalls",
    description:
      "hv syscall model: a trace's score is the mean of two parts scaled on normal calibration traces (combination) — its window NLLs under the language model, aggregated (aggregation), and its set distance (1 − best cosine between its set of calls and a training trace's); higher = more anomalous",
    vocabulary: JSON.stringify(shape.vocab),
    vocabulary_numbering: "i386 syscall numbers (audit names are mapped; see docs/anomaly.md)",
    context: String(o.context),
    hidden1: String(o.hidden1),
    hidden2: String(o.hidden2),
    aggregation: JSON.stringify(o.aggregation),
    ngram_size: String(NGRAM),
    seed: String(o.seed),
    epochs: String(o.epochs),
    training_traces: String(train.length),
    training_windows: String(set.windows),
    training_distinct_windows: String(set.next.length),
    training_source: opts.source ?? "unspecified",
  };
  const draft = exportLm(weights, { ...baseMeta, ngram_counts: "{}" }, sets);
  const session = await ort.InferenceSession.create(draft, { intraOpNumThreads: 1, interOpNumThreads: 1 });
  const model: SyscallModel = { path: "(training)", meta: parseSyscallMeta({ ...baseMeta, ngram_counts: "{}" }, "(training)"), session, bytes: draft.length };

  // Half of the calibration traces put the two parts on one scale and set the threshold; the
  // other half only measures the false-positive rate.
  const [thresholdSet, heldoutSet] = splitHalves(calib, "threshold");
  const scoreAll = async (set: Trace[], phase: string) => await scoreTraces(model, set, (done) => opts.onProgress?.(phase, done, set.length));
  const thresholdParts = await scoreAll(thresholdSet.length > 0 ? thresholdSet : heldoutSet, "calibrate");
  const heldoutParts = heldoutSet.length > 0 ? await scoreAll(heldoutSet, "held-out") : [];
  await session.release();
  const combination: Combination = { lm: scaleOf(thresholdParts.map((r) => r.lm)), set: scaleOf(thresholdParts.map((r) => r.set!)) };
  const combine = (parts: typeof thresholdParts): number[] => parts.map((r) => combinedScore(r.lm, r.set!, combination));
  const thresholdScores = combine(thresholdParts);
  const heldoutScores = combine(heldoutParts);
  const threshold = thresholdAtFpr(thresholdScores, o.fpr);
  const calibration: CalibrationReport = {
    target_fpr: o.fpr,
    threshold,
    calibration_traces: thresholdScores.length,
    calibration_fpr: rateAbove(thresholdScores, threshold),
    heldout_traces: heldoutScores.length,
    heldout_fpr: rateAbove(heldoutScores, threshold),
  };
  const onnx = exportLm(weights, {
    ...baseMeta,
    combination: JSON.stringify(combination),
    threshold: String(threshold),
    calibration_fpr: String(o.fpr),
    calibration: JSON.stringify(calibration),
    call_trace_counts: JSON.stringify(callTraceCounts(train)),
    ngram_counts: JSON.stringify(ngramCounts(train, NGRAM)),
  }, sets);
  return {
    onnx, weights, calibration,
    trainingTraces: train.length, trainingWindows: set.windows, distinctWindows: set.next.length,
    seconds: (Date.now() - started) / 1000,
  };
}
