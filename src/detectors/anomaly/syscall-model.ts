// A trained syscall model as the agent and the CLI use it: the ONNX graph in onnxruntime-node
// plus what its metadata says (vocabulary, context, aggregation, how the two parts of the score
// combine, threshold, n-gram and per-call baselines for explanations).

import * as ort from "onnxruntime-node";
import { aggregateWindows, combinedScore, type Aggregation, type Combination } from "./aggregate.js";
import { MAX_MODEL_BYTES, readMetadata } from "./onnx-build.js";
import { i386Name } from "./syscall-names.js";
import { classes, indexer, traceWindows, type LmShape } from "./syscall-lm.js";
import { presence } from "./syscall-sets.js";
import { readFileCapped } from "../../events/input.js";

export interface SyscallModelMeta extends LmShape {
  kind: "syscalls";
  aggregation: Aggregation;
  /** Present when the graph has the set-distance part: how it combines with the sequence part. */
  combination?: Combination;
  threshold: number;
  /** Training n-gram size used for explanations, and the n-gram → count table. */
  ngram: number;
  ngrams: Record<string, number>;
  /** How many training traces make each syscall (by number), for explanations. */
  callTraces: Record<string, number>;
  trainingTraces: number;
  trainingWindows: number;
  raw: Record<string, string>;
}

export interface SyscallModel {
  path: string;
  meta: SyscallModelMeta;
  session: ort.InferenceSession;
  bytes: number;
}

/**
 * Windows per onnxruntime call: big enough to amortize the call, small enough that the gathered
 * embeddings (windows × context × hidden floats: 8 MB at 1,024 × 16 × 128) stay in cache — 4,096
 * was slower with a context of 16 (bench/anomaly.ts).
 */
export const BATCH = 1024;

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
    combination: raw.combination ? (JSON.parse(raw.combination) as Combination) : undefined,
    threshold: Number(raw.threshold ?? "Infinity"),
    ngram: Number(need("ngram_size")),
    ngrams: JSON.parse(need("ngram_counts")) as Record<string, number>,
    callTraces: JSON.parse(raw.call_trace_counts ?? "{}") as Record<string, number>,
    trainingTraces: Number(raw.training_traces ?? "0"),
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

/** The inputs a run does not use, empty (onnxruntime wants every graph input fed). */
function emptyInputs(session: ort.InferenceSession, context: number, vocabClasses: number): Record<string, ort.Tensor> {
  const empty: Record<string, ort.Tensor> = {
    context: new ort.Tensor("int32", new Int32Array(0), [0, context]),
    next: new ort.Tensor("int32", new Int32Array(0), [0, 1]),
  };
  if (session.inputNames.includes("calls_present")) empty.calls_present = new ort.Tensor("float32", new Float32Array(0), [0, vocabClasses]);
  return empty;
}

/** NLL of each window, through onnxruntime, in batches of `batch`. */
export async function windowNll(session: ort.InferenceSession, context: number, ctx: Int32Array, next: Int32Array, batch = BATCH, vocabClasses = 0): Promise<Float32Array> {
  const out = new Float32Array(next.length);
  const empty = emptyInputs(session, context, vocabClasses);
  for (let start = 0; start < next.length; start += batch) {
    const n = Math.min(batch, next.length - start);
    const feeds = {
      ...empty,
      context: new ort.Tensor("int32", ctx.subarray(start * context, (start + n) * context), [n, context]),
      next: new ort.Tensor("int32", next.subarray(start, start + n), [n, 1]),
    };
    const result = await session.run(feeds, ["nll"]);
    out.set(result.nll!.data as Float32Array, start);
  }
  return out;
}

/** Set distance of each sequence (one onnxruntime call). */
async function setDistances(model: SyscallModel, parts: ReadonlyArray<{ calls: readonly number[] }>): Promise<Float32Array> {
  const V = classes(model.meta);
  const toIndex = indexer(model.meta.vocab);
  const rows = new Float32Array(parts.length * V);
  parts.forEach((p, i) => rows.set(presence(p.calls, model.meta, toIndex), i * V));
  const feeds = { ...emptyInputs(model.session, model.meta.context, V), calls_present: new ort.Tensor("float32", rows, [parts.length, V]) };
  return (await model.session.run(feeds, ["set_distance"])).set_distance!.data as Float32Array;
}

export interface TraceScore {
  score: number;
  anomalous: boolean;
  /** NLL of each scored position (the part's own calls, not its history). */
  nll: Float32Array;
  /** The sequence part: aggregated window NLLs. */
  lm: number;
  /** The set part (models that have it). */
  set?: number;
}

/** A sequence to score; `history` gives its first windows their real context and is not scored itself. */
export interface SequencePart {
  history?: readonly number[];
  calls: readonly number[];
}

/** Scores several sequences with their windows packed into shared onnxruntime calls. */
export async function scoreParts(model: SyscallModel, parts: readonly SequencePart[]): Promise<TraceScore[]> {
  const { meta } = model;
  const k = meta.context;
  const windows = parts.map((p) => {
    const skip = p.history?.length ?? 0;
    const w = traceWindows(skip > 0 ? [...p.history!, ...p.calls] : p.calls, meta);
    return { ctx: w.ctx.subarray(skip * k), next: w.next.subarray(skip) };
  });
  const total = windows.reduce((n, w) => n + w.next.length, 0);
  const ctx = new Int32Array(total * k);
  const next = new Int32Array(total);
  let at = 0;
  for (const w of windows) {
    ctx.set(w.ctx, at * k);
    next.set(w.next, at);
    at += w.next.length;
  }
  const nll = await windowNll(model.session, k, ctx, next, BATCH, classes(meta));
  const sets = model.session.outputNames.includes("set_distance") ? await setDistances(model, parts) : undefined;
  at = 0;
  return windows.map((w, i) => {
    const own = nll.slice(at, at + w.next.length);
    at += w.next.length;
    const lm = aggregateWindows(own, meta.aggregation);
    const set = sets?.[i];
    const score = set !== undefined && meta.combination ? combinedScore(lm, set, meta.combination) : lm;
    return { score, anomalous: score > meta.threshold, nll: own, lm, set };
  });
}

export async function scoreCalls(model: SyscallModel, calls: readonly number[]): Promise<TraceScore> {
  return (await scoreParts(model, [{ calls }]))[0]!;
}

/** Scores many traces, packed into groups of about BATCH windows (far fewer onnxruntime calls). */
export async function scoreTraces(model: SyscallModel, traces: ReadonlyArray<{ calls: readonly number[] }>, onProgress?: (done: number) => void): Promise<TraceScore[]> {
  const results: TraceScore[] = [];
  let group: Array<{ calls: readonly number[] }> = [];
  let windows = 0;
  const flush = async (): Promise<void> => {
    if (group.length === 0) return;
    results.push(...(await scoreParts(model, group)));
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

/**
 * The set part of an explanation: the calls of the trace that the fewest training traces make
 * (under 5% of them), e.g. `makes times (1 of 833 training traces), prlimit64 (9 of 833)`.
 */
export function explainCalls(meta: SyscallModelMeta, calls: readonly number[], count = 5): string[] {
  if (meta.trainingTraces === 0) return [];
  const rare = [...new Set(calls)]
    .map((c) => ({ c, n: meta.callTraces[String(c)] ?? 0 }))
    .filter((x) => x.n < 0.05 * meta.trainingTraces)
    .sort((a, b) => a.n - b.n || a.c - b.c)
    .slice(0, count);
  if (rare.length === 0) return [];
  return [`makes ${rare.map((x) => `${i386Name(x.c)} (${x.n} of ${meta.trainingTraces} training traces)`).join(", ")}`];
}
