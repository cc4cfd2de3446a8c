// The process-behaviour model: a small neural language model over syscalls. For every position of
// a trace it predicts the next syscall from the `context` calls before it; the window's score is
// the negative log-likelihood (NLL) of the call that really came. Normal programs repeat the
// sequences they were trained on (low NLL); injected code, shells and unusual paths through a
// program make calls the model finds unlikely (high NLL). A trace's score aggregates its windows
// (see aggregate.ts).
//
// Architecture (identical in tfjs and in the exported ONNX graph):
//   context int32[N, k] → per-position embedding tables summed (= one-hot · Dense) → +b1 → ReLU
//   → Dense(H1→H2) → ReLU → Dense(H2→V) → LogSoftmax → pick log p(next) → negate → nll[N, 1]
// Index 0 is "a syscall not in the vocabulary", index V is padding before the trace starts.

import type * as Tf from "@tensorflow/tfjs";
import { attr, encodeModel, floatTensor, int32Tensor, int64Tensor, node, valueInfo, type GraphFragment } from "./onnx-build.js";
import { createRng, shuffle } from "./rng.js";
import type { Trace } from "./traces.js";

export interface LmShape {
  /** Syscall numbers in vocabulary order; index i+1 in the model. */
  vocab: number[];
  context: number;
  hidden1: number;
  hidden2: number;
}

export interface LmWeights extends LmShape {
  /** [context * (V + 1), hidden1], V = vocab.length + 1 (OOV at 0), padding at row V of each block. */
  emb: Float32Array;
  b1: Float32Array;
  /** [hidden1, hidden2] */
  w2: Float32Array;
  b2: Float32Array;
  /** [hidden2, V] */
  w3: Float32Array;
  b3: Float32Array;
}

/** Number of output classes: the vocabulary plus "unknown". */
export function classes(shape: Pick<LmShape, "vocab">): number {
  return shape.vocab.length + 1;
}

/** syscall number → model index (0 = unknown). */
export function indexer(vocab: number[]): (call: number) => number {
  const map = new Map<number, number>();
  vocab.forEach((n, i) => map.set(n, i + 1));
  return (call) => map.get(call) ?? 0;
}

/** The windows of a trace: for each position, the `context` indices before it (padded) and the call itself. */
export function traceWindows(calls: readonly number[], shape: LmShape): { ctx: Int32Array; next: Int32Array } {
  const k = shape.context;
  const pad = classes(shape);
  const toIndex = indexer(shape.vocab);
  const idx = calls.map(toIndex);
  const ctx = new Int32Array(idx.length * k);
  const next = new Int32Array(idx.length);
  for (let i = 0; i < idx.length; i++) {
    for (let j = 0; j < k; j++) {
      const p = i - k + j;
      ctx[i * k + j] = p < 0 ? pad : idx[p]!;
    }
    next[i] = idx[i]!;
  }
  return { ctx, next };
}

export interface TrainingSet {
  ctx: Int32Array;
  next: Int32Array;
  /** How often each distinct window occurs in the training traces. */
  count: Float32Array;
  windows: number;
}

/** Distinct (context, next) windows with their counts: training on them weighted by count is the same as training on every window, far faster. */
export function distinctWindows(traces: readonly Trace[], shape: LmShape): TrainingSet {
  const k = shape.context;
  const seen = new Map<string, number>();
  const ctxs: number[] = [];
  const nexts: number[] = [];
  const counts: number[] = [];
  let windows = 0;
  for (const t of traces) {
    const { ctx, next } = traceWindows(t.calls, shape);
    for (let i = 0; i < next.length; i++) {
      windows++;
      const c = ctx.subarray(i * k, i * k + k);
      const key = `${c.join(",")}>${next[i]}`;
      const at = seen.get(key);
      if (at !== undefined) counts[at]!++;
      else {
        seen.set(key, counts.length);
        ctxs.push(...c);
        nexts.push(next[i]!);
        counts.push(1);
      }
    }
  }
  return { ctx: Int32Array.from(ctxs), next: Int32Array.from(nexts), count: Float32Array.from(counts), windows };
}

/** The vocabulary of a training set: every syscall number seen, ascending. */
export function vocabularyOf(traces: readonly Trace[]): number[] {
  const s = new Set<number>();
  for (const t of traces) for (const c of t.calls) s.add(c);
  return [...s].sort((a, b) => a - b);
}

export interface TrainOptions {
  seed: number;
  epochs: number;
  batchSize: number;
  learningRate: number;
  /** Small data sets have few distinct windows: run at least this many optimizer steps (default 300). */
  minSteps?: number;
  onProgress?: (epoch: number, step: number, stepsPerEpoch: number, epochs: number, loss: number) => void;
}

interface Vars {
  emb: Tf.Variable;
  b1: Tf.Variable;
  w2: Tf.Variable;
  b2: Tf.Variable;
  w3: Tf.Variable;
  b3: Tf.Variable;
}

function glorot(rng: ReturnType<typeof createRng>, fanIn: number, fanOut: number, size: number): Float32Array {
  const std = Math.sqrt(2 / (fanIn + fanOut));
  const out = new Float32Array(size);
  for (let i = 0; i < size; i++) out[i] = rng.normal() * std;
  return out;
}

function initialVars(shape: LmShape, seed: number): Vars {
  const rng = createRng(seed);
  const V = classes(shape);
  const rows = shape.context * (V + 1);
  const { hidden1: h1, hidden2: h2 } = shape;
  return {
    emb: tf.variable(tf.tensor2d(glorot(rng, shape.context * V, h1, rows * h1), [rows, h1])),
    b1: tf.variable(tf.zeros([h1])),
    w2: tf.variable(tf.tensor2d(glorot(rng, h1, h2, h1 * h2), [h1, h2])),
    b2: tf.variable(tf.zeros([h2])),
    w3: tf.variable(tf.tensor2d(glorot(rng, h2, V, h2 * V), [h2, V])),
    b3: tf.variable(tf.zeros([V])),
  };
}

/** log p(next | context) for a batch, as the ONNX graph computes it. */
function logProbNext(v: Vars, shape: LmShape, ctx: Tf.Tensor2D, next: Tf.Tensor1D): Tf.Tensor1D {
  const V = classes(shape);
  const n = ctx.shape[0];
  const offsets = tf.range(0, shape.context, 1, "int32").mul(tf.scalar(V + 1, "int32"));
  const rows = ctx.add(offsets.expandDims(0));
  // Gather + sum over the context positions: the ONNX graph's Gather/ReduceSum, op for op.
  const summed = tf.gather(v.emb, rows.flatten()).reshape([n, shape.context, shape.hidden1]).sum(1);
  const h1 = tf.relu(summed.add(v.b1));
  const h2 = tf.relu(tf.matMul(h1 as Tf.Tensor2D, v.w2 as Tf.Tensor2D).add(v.b2));
  const logp = tf.logSoftmax(tf.matMul(h2 as Tf.Tensor2D, v.w3 as Tf.Tensor2D).add(v.b3));
  return logp.mul(tf.oneHot(next, V)).sum(1) as Tf.Tensor1D;
}

// tfjs takes about half a second to import and only training needs it: scoring runs the exported
// graph on onnxruntime (syscall-model.ts), so the agent and `hv model score` import this file for
// its window helpers without loading tfjs. It is set by useWasmBackend, which every user of it awaits.
let tf: typeof Tf;

let backendReady: Promise<void> | undefined;
/** tfjs on its wasm backend (single-threaded here, so results are deterministic). */
export function useWasmBackend(): Promise<void> {
  backendReady ??= (async () => {
    tf = await import("@tensorflow/tfjs");
    await import("@tensorflow/tfjs-backend-wasm");
    await tf.setBackend("wasm");
    await tf.ready();
    (await import("./wasm-segment-sum.js")).registerWasmSegmentSum();
  })();
  return backendReady;
}

/** Fits the model on distinct windows weighted by their count (maximum likelihood). */
export async function trainLm(set: TrainingSet, shape: LmShape, opts: TrainOptions): Promise<LmWeights> {
  await useWasmBackend();
  const vars = initialVars(shape, opts.seed);
  const optimizer = tf.train.adam(opts.learningRate);
  const rng = createRng(opts.seed ^ 0x5bd1e995);
  const order = Array.from({ length: set.next.length }, (_, i) => i);
  const k = shape.context;
  const steps = Math.ceil(order.length / opts.batchSize);
  if (!(opts.epochs >= 1)) throw new Error(`epochs must be at least 1: ${opts.epochs}`);
  const epochs = Math.max(opts.epochs, Math.ceil((opts.minSteps ?? 300) / steps));
  for (let epoch = 0; epoch < epochs; epoch++) {
    shuffle(order, rng);
    for (let s = 0; s < steps; s++) {
      const batch = order.slice(s * opts.batchSize, (s + 1) * opts.batchSize);
      const ctx = new Int32Array(batch.length * k);
      const next = new Int32Array(batch.length);
      const w = new Float32Array(batch.length);
      batch.forEach((j, i) => {
        ctx.set(set.ctx.subarray(j * k, j * k + k), i * k);
        next[i] = set.next[j]!;
        w[i] = set.count[j]!;
      });
      const ctxT = tf.tensor2d(ctx, [batch.length, k], "int32");
      const nextT = tf.tensor1d(next, "int32");
      const wT = tf.tensor1d(w);
      const total = wT.sum();
      const loss = optimizer.minimize(() => logProbNext(vars, shape, ctxT, nextT).mul(wT).sum().neg().div(total) as Tf.Scalar, true);
      const value = loss ? (await loss.data())[0]! : NaN;
      tf.dispose([ctxT, nextT, wT, total, ...(loss ? [loss] : [])]);
      opts.onProgress?.(epoch, s + 1, steps, epochs, value);
    }
  }
  const weights: LmWeights = {
    ...shape,
    emb: (await vars.emb.data()) as Float32Array,
    b1: (await vars.b1.data()) as Float32Array,
    w2: (await vars.w2.data()) as Float32Array,
    b2: (await vars.b2.data()) as Float32Array,
    w3: (await vars.w3.data()) as Float32Array,
    b3: (await vars.b3.data()) as Float32Array,
  };
  optimizer.dispose();
  for (const v of Object.values(vars)) v.dispose();
  return weights;
}

/** The trainer's own NLL for windows (tfjs), to check the exported graph against. */
export async function tfjsWindowNll(weights: LmWeights, ctx: Int32Array, next: Int32Array): Promise<Float32Array> {
  await useWasmBackend();
  const V = classes(weights);
  const h1 = weights.hidden1;
  const h2 = weights.hidden2;
  const vars: Vars = {
    emb: tf.variable(tf.tensor2d(weights.emb, [weights.context * (V + 1), h1])),
    b1: tf.variable(tf.tensor1d(weights.b1)),
    w2: tf.variable(tf.tensor2d(weights.w2, [h1, h2])),
    b2: tf.variable(tf.tensor1d(weights.b2)),
    w3: tf.variable(tf.tensor2d(weights.w3, [h2, V])),
    b3: tf.variable(tf.tensor1d(weights.b3)),
  };
  const out = tf.tidy(() => logProbNext(vars, weights, tf.tensor2d(ctx, [next.length, weights.context], "int32"), tf.tensor1d(next, "int32")).neg());
  const data = (await out.data()) as Float32Array;
  out.dispose();
  for (const v of Object.values(vars)) v.dispose();
  return data;
}

/**
 * The ONNX graph: inputs `context` int32[N, k] and `next` int32[N, 1], output `nll` float[N, 1];
 * plus `extra`, a fragment with inputs and outputs of its own (the set distance, syscall-sets.ts).
 */
export function exportLm(weights: LmWeights, metadata: Record<string, string>, extra?: GraphFragment): Uint8Array {
  const V = classes(weights);
  const k = weights.context;
  const offsets = Array.from({ length: k }, (_, j) => j * (V + 1));
  return encodeModel({
    name: "hv_syscall_lm",
    docString: "hv syscall language model: negative log-likelihood of each syscall given the ones before it",
    inputs: [valueInfo("context", "int32", ["N", k]), valueInfo("next", "int32", ["N", 1]), ...(extra?.inputs ?? [])],
    outputs: [valueInfo("nll", "float", ["N", 1]), ...(extra?.outputs ?? [])],
    initializers: [
      int32Tensor("offsets", [k], offsets),
      int64Tensor("sum_axes", [1], [1]),
      floatTensor("emb", [k * (V + 1), weights.hidden1], weights.emb),
      floatTensor("b1", [weights.hidden1], weights.b1),
      floatTensor("w2", [weights.hidden1, weights.hidden2], weights.w2),
      floatTensor("b2", [weights.hidden2], weights.b2),
      floatTensor("w3", [weights.hidden2, V], weights.w3),
      floatTensor("b3", [V], weights.b3),
      ...(extra?.initializers ?? []),
    ],
    nodes: [
      node("Add", ["context", "offsets"], ["rows"]),
      node("Gather", ["emb", "rows"], ["embedded"], [attr.int("axis", 0)]),
      node("ReduceSum", ["embedded", "sum_axes"], ["summed"], [attr.int("keepdims", 0)]),
      node("Add", ["summed", "b1"], ["z1"]),
      node("Relu", ["z1"], ["h1"]),
      node("MatMul", ["h1", "w2"], ["m2"]),
      node("Add", ["m2", "b2"], ["z2"]),
      node("Relu", ["z2"], ["h2"]),
      node("MatMul", ["h2", "w3"], ["m3"]),
      node("Add", ["m3", "b3"], ["logits"]),
      node("LogSoftmax", ["logits"], ["logp"], [attr.int("axis", 1)]),
      node("GatherElements", ["logp", "next"], ["picked"], [attr.int("axis", 1)]),
      node("Neg", ["picked"], ["nll"]),
      ...(extra?.nodes ?? []),
    ],
    metadata,
  });
}
