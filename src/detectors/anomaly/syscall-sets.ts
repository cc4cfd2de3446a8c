// Which syscalls a trace makes at all, against the traces seen in training: the "set distance" is
// 1 − the best cosine similarity between the trace's set of calls (a 0/1 vector over the model's
// vocabulary, "unknown" included) and the set of any training trace. It sees what the sequence
// model cannot: a process whose mix of calls matches no normal program (a shell in a server, a
// payload that polls and sleeps), even when each local stretch of calls looks ordinary. On
// ADFA-LD it separates attacks from normal traces better than the sequence model alone, and the
// two together better than either (docs/anomaly.md). Computed in the ONNX graph: one MatMul
// against the distinct training sets, then ReduceMax.

import { attr, floatTensor, node, valueInfo, type GraphFragment } from "./onnx-build.js";
import type { LmShape } from "./syscall-lm.js";
import { classes, indexer } from "./syscall-lm.js";

/** The 0/1 presence vector of a sequence over the model's classes (index 0 = unknown call). */
export function presence(calls: readonly number[], shape: Pick<LmShape, "vocab">, toIndex = indexer(shape.vocab)): Float32Array {
  const v = new Float32Array(classes(shape));
  for (const c of calls) v[toIndex(c)] = 1;
  return v;
}

/** The distinct presence vectors of the training traces, each scaled to unit length, as columns [V, S]. */
export function trainingSets(traces: ReadonlyArray<{ calls: readonly number[] }>, shape: Pick<LmShape, "vocab">): { columns: Float32Array; count: number } {
  const toIndex = indexer(shape.vocab);
  const V = classes(shape);
  const seen = new Set<string>();
  const sets: Float32Array[] = [];
  for (const t of traces) {
    const p = presence(t.calls, shape, toIndex);
    const key = p.join("");
    if (seen.has(key)) continue;
    seen.add(key);
    sets.push(p);
  }
  const columns = new Float32Array(V * sets.length);
  sets.forEach((p, s) => {
    const norm = Math.sqrt(p.reduce((a, b) => a + b, 0));
    for (let i = 0; i < V; i++) columns[i * sets.length + s] = p[i]! / norm;
  });
  return { columns, count: sets.length };
}

/** Set distance of one presence vector, as the graph computes it (for tests and explanations). */
export function setDistance(p: Float32Array, columns: Float32Array, count: number): number {
  const norm = Math.sqrt(p.reduce((a, b) => a + b, 0)) || 1;
  let best = 0;
  for (let s = 0; s < count; s++) {
    let dot = 0;
    for (let i = 0; i < p.length; i++) if (p[i]) dot += columns[i * count + s]!;
    best = Math.max(best, dot / norm);
  }
  return 1 - best;
}

/** The graph fragment: input `calls_present` float[M, V] → output `set_distance` float[M, 1]. */
export function setDistanceGraph(shape: Pick<LmShape, "vocab">, sets: { columns: Float32Array; count: number }): GraphFragment {
  const V = classes(shape);
  return {
    inputs: [valueInfo("calls_present", "float", ["M", V])],
    outputs: [valueInfo("set_distance", "float", ["M", 1])],
    initializers: [floatTensor("train_sets", [V, sets.count], sets.columns), floatTensor("one", [], [1]), floatTensor("tiny", [], [1e-12])],
    nodes: [
      node("ReduceL2", ["calls_present"], ["present_norm"], [attr.ints("axes", [1]), attr.int("keepdims", 1)]),
      node("Max", ["present_norm", "tiny"], ["present_norm_safe"]),
      node("Div", ["calls_present", "present_norm_safe"], ["present_unit"]),
      node("MatMul", ["present_unit", "train_sets"], ["cosines"]),
      node("ReduceMax", ["cosines"], ["best_cosine"], [attr.ints("axes", [1]), attr.int("keepdims", 1)]),
      node("Sub", ["one", "best_cosine"], ["set_distance"]),
    ],
  };
}
