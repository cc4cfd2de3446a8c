// A trained syscall model as the agent and the CLI use it: the ONNX graph in onnxruntime-node
// plus what its metadata says (vocabulary, context, aggregation, threshold, n-gram baseline).

import * as ort from "onnxruntime-node";
import { aggregateWindows, type Aggregation } from "./aggregate.js";
import { MAX_MODEL_BYTES, readMetadata } from "./onnx-build.js";
import { i386Name } from "./syscall-names.js";
import { traceWindows, type LmShape } from "./syscall-lm.js";
import { readFileCapped } from "../../events/input.js";

export interface SyscallModelMeta extends LmShape {
  kind: "syscalls";
  aggregation: Aggregation;
  threshold: number;
  /** Training n-gram size used for explanations, and the n-gram → count table. */
  ngram: number;
  ngrams: Record<string, number>;
  trainingWindows: number;
  raw: Record<string, string>;
}

export interface SyscallModel {
  path: string;
  meta: SyscallModelMeta;
  session: ort.InferenceSession;
  bytes: number;
}

/** Windows per onnxruntime call: big enough to amortize the call, small enough to bound memory. */
export const BATCH = 4096;

export function parseSyscallMeta(raw: Record<string, string>, path: string): SyscallModelMeta {
  if (raw.kind !== "syscalls") throw new Error(`${path}: not a syscall model (kind=${raw.kind ?? "missing"})`);
  const need = (k: string): string => {
    const v = raw[k];
    if (v === undefined) throw new Error(`${path}: metadata field ${k} missing`);
    return v;
  };
  return {
    kind: "syscalls",
    vocab: JSON.parse(need("vocabulary")) as number[],
    context: Number(need("context")),
    hidden1: Number(need("hidden1")),
    hidden2: Number(need("hidden2")),
    aggregation: JSON.parse(need("aggregation")) as Aggregation,
    threshold: Number(raw.threshold ?? "Infinity"),
    ngram: Number(need("ngram_size")),
    ngrams: JSON.parse(need("ngram_counts")) as Record<string, number>,
    trainingWindows: Number(raw.training_windows ?? "0"),
    raw,
  };
}

export async function loadSyscallModel(path: string): Promise<SyscallModel> {
  const bytes = readFileCapped(path, MAX_MODEL_BYTES);
  const meta = parseSyscallMeta(readMetadata(bytes), path);
  const session = await ort.InferenceSession.create(bytes, { intraOpNumThreads: 1, interOpNumThreads: 1 });
  return { path, meta, session, bytes: bytes.length };
}

/** NLL of each window, through onnxruntime, in batches of `batch`. */
export async function windowNll(session: ort.InferenceSession, context: number, ctx: Int32Array, next: Int32Array, batch = BATCH): Promise<Float32Array> {
  const out = new Float32Array(next.length);
  for (let start = 0; start < next.length; start += batch) {
    const n = Math.min(batch, next.length - start);
    const feeds = {
      context: new ort.Tensor("int32", ctx.subarray(start * context, (start + n) * context), [n, context]),
      next: new ort.Tensor("int32", next.subarray(start, start + n), [n, 1]),
    };
    const result = await session.run(feeds);
    out.set(result.nll!.data as Float32Array, start);
  }
  return out;
}

export interface TraceScore {
  score: number;
  anomalous: boolean;
  /** NLL of each position of the trace. */
  nll: Float32Array;
}

export async function scoreCalls(model: SyscallModel, calls: readonly number[]): Promise<TraceScore> {
  const { ctx, next } = traceWindows(calls, model.meta);
  const nll = await windowNll(model.session, model.meta.context, ctx, next);
  const score = aggregateWindows(nll, model.meta.aggregation);
  return { score, anomalous: score > model.meta.threshold, nll };
}

/** The windows of several sequences in one packed inference; each part's window scores, in order. */
export async function scoreWindowParts(model: SyscallModel, parts: ReadonlyArray<{ ctx: Int32Array; next: Int32Array }>): Promise<Float32Array[]> {
  const k = model.meta.context;
  const total = parts.reduce((n, p) => n + p.next.length, 0);
  const ctx = new Int32Array(total * k);
  const next = new Int32Array(total);
  let at = 0;
  for (const p of parts) {
    ctx.set(p.ctx, at * k);
    next.set(p.next, at);
    at += p.next.length;
  }
  const nll = await windowNll(model.session, k, ctx, next);
  at = 0;
  return parts.map((p) => {
    const own = nll.slice(at, at + p.next.length);
    at += p.next.length;
    return own;
  });
}

/** Scores many traces with their windows packed into shared batches (far fewer onnxruntime calls). */
export async function scoreTraces(model: SyscallModel, traces: ReadonlyArray<{ calls: readonly number[] }>, onProgress?: (done: number) => void): Promise<TraceScore[]> {
  const results: TraceScore[] = [];
  let group: Array<{ calls: readonly number[] }> = [];
  let windows = 0;
  const flush = async (): Promise<void> => {
    if (group.length === 0) return;
    for (const own of await scoreWindowParts(model, group.map((t) => traceWindows(t.calls, model.meta)))) {
      const score = aggregateWindows(own, model.meta.aggregation);
      results.push({ score, anomalous: score > model.meta.threshold, nll: own });
    }
    onProgress?.(results.length);
    group = [];
    windows = 0;
  };
  for (const t of traces) {
    group.push(t);
    windows += t.calls.length;
    if (windows >= BATCH) await flush();
  }
  await flush();
  return results;
}

/**
 * Why a trace scored high: its most surprising windows, each with the calls leading up to it, the
 * model's probability for the call that came, and how often the trailing n-gram occurred in training.
 */
export function explainTrace(meta: SyscallModelMeta, calls: readonly number[], nll: ArrayLike<number>, count = 3): string[] {
  const order = Array.from({ length: nll.length }, (_, i) => i).sort((a, b) => nll[b]! - nll[a]! || a - b);
  const lines: string[] = [];
  const used = new Set<number>();
  for (const i of order) {
    if (lines.length >= count) break;
    // Neighbouring windows share most of their calls; show separate stretches.
    if ([...used].some((u) => Math.abs(u - i) < meta.ngram)) continue;
    used.add(i);
    const from = Math.max(0, i - meta.ngram + 1);
    const gram = calls.slice(from, i + 1);
    const seen = meta.ngrams[gram.join(" ")] ?? 0;
    const lead = calls.slice(Math.max(0, i - 4), i).map(i386Name).join(" ");
    lines.push(
      `call #${i + 1} ${i386Name(calls[i]!)} after [${lead}]: p=${Math.exp(-nll[i]!).toExponential(1)} (NLL ${nll[i]!.toFixed(2)}); ` +
        `${meta.ngram}-gram "${gram.map(i386Name).join(" ")}" seen ${seen} times in ${meta.trainingWindows} training windows`,
    );
  }
  return lines;
}
