// Isolation forest (Liu, Ting & Zhou 2008), fitted directly in TypeScript: random axis-aligned
// splits isolate unusual points in few steps. Exported as an ai.onnx.ml TreeEnsembleRegressor whose
// leaves hold the path length, averaged over trees; the graph turns that into the usual score
// 2^(-E[h] / c(ψ)) in (0, 1], higher = more anomalous.

import { attr, encodeModel, floatTensor, node, valueInfo } from "./onnx-build.js";
import { createRng, type Rng } from "./rng.js";

export type IsoNode = { leaf: true; size: number; depth: number } | { leaf: false; feature: number; split: number; left: IsoNode; right: IsoNode; depth: number };

export interface IsoForest {
  trees: IsoNode[];
  sampleSize: number;
  features: number;
}

/** Average path length of an unsuccessful BST search among n points: the normaliser c(n). */
export function averagePath(n: number): number {
  if (n <= 1) return 0;
  if (n === 2) return 1;
  return 2 * (Math.log(n - 1) + 0.5772156649) - (2 * (n - 1)) / n;
}

function grow(points: number[][], depth: number, limit: number, rng: Rng): IsoNode {
  if (depth >= limit || points.length <= 1) return { leaf: true, size: points.length, depth };
  const nf = points[0]!.length;
  // Pick a feature that varies among these points; a leaf if none does.
  const order = Array.from({ length: nf }, (_, i) => i);
  for (let tries = 0; tries < nf; tries++) {
    const j = tries + rng.int(nf - tries);
    [order[tries], order[j]] = [order[j]!, order[tries]!];
    const f = order[tries]!;
    let lo = Infinity;
    let hi = -Infinity;
    for (const p of points) {
      lo = Math.min(lo, p[f]!);
      hi = Math.max(hi, p[f]!);
    }
    if (hi <= lo) continue;
    // float32 split, as the ONNX graph compares in float32.
    const split = Math.fround(lo + rng.next() * (hi - lo));
    const left = points.filter((p) => Math.fround(p[f]!) < split);
    const right = points.filter((p) => Math.fround(p[f]!) >= split);
    if (left.length === 0 || right.length === 0) continue;
    return { leaf: false, feature: f, split, depth, left: grow(left, depth + 1, limit, rng), right: grow(right, depth + 1, limit, rng) };
  }
  return { leaf: true, size: points.length, depth };
}

export function fitIsoForest(points: number[][], opts: { trees: number; sampleSize: number; seed: number }): IsoForest {
  if (points.length < 2) throw new Error(`isolation forest needs at least 2 points, got ${points.length}`);
  const rng = createRng(opts.seed);
  const psi = Math.min(opts.sampleSize, points.length);
  const limit = Math.ceil(Math.log2(psi));
  const trees: IsoNode[] = [];
  for (let t = 0; t < opts.trees; t++) {
    const idx = Array.from({ length: points.length }, (_, i) => i);
    for (let i = 0; i < psi; i++) {
      const j = i + rng.int(idx.length - i);
      [idx[i], idx[j]] = [idx[j]!, idx[i]!];
    }
    trees.push(grow(idx.slice(0, psi).map((i) => points[i]!), 0, limit, rng));
  }
  return { trees, sampleSize: psi, features: points[0]!.length };
}

function leafValue(n: { size: number; depth: number }): number {
  return n.depth + averagePath(n.size);
}

/** Mean path length of x over the trees (what the ONNX TreeEnsembleRegressor outputs). */
export function meanPath(forest: IsoForest, x: readonly number[]): number {
  let sum = 0;
  for (const tree of forest.trees) {
    let n = tree;
    while (!n.leaf) n = Math.fround(x[n.feature]!) < n.split ? n.left : n.right;
    sum += Math.fround(leafValue(n));
  }
  return sum / forest.trees.length;
}

export function isoScore(forest: IsoForest, x: readonly number[]): number {
  return Math.pow(2, -meanPath(forest, x) / averagePath(forest.sampleSize));
}

/**
 * ONNX: input `features` float[N, F] → output `score` float[N, 1]. With `floor`, each feature is
 * first raised to at least floor[f] (Max), as the trainer did before fitting.
 */
export function exportIsoForest(forest: IsoForest, metadata: Record<string, string>, floor?: readonly number[]): Uint8Array {
  const ids = { tree: [] as number[], node: [] as number[], feature: [] as number[], value: [] as number[], mode: [] as string[], t: [] as number[], f: [] as number[] };
  const tgt = { tree: [] as number[], node: [] as number[], id: [] as number[], weight: [] as number[] };
  forest.trees.forEach((tree, ti) => {
    let next = 0;
    const walk = (n: IsoNode): number => {
      const id = next++;
      const at = ids.node.length;
      ids.tree.push(ti);
      ids.node.push(id);
      if (n.leaf) {
        ids.feature.push(0);
        ids.value.push(0);
        ids.mode.push("LEAF");
        ids.t.push(0);
        ids.f.push(0);
        tgt.tree.push(ti);
        tgt.node.push(id);
        tgt.id.push(0);
        tgt.weight.push(leafValue(n));
        return id;
      }
      ids.feature.push(n.feature);
      ids.value.push(n.split);
      ids.mode.push("BRANCH_LT");
      ids.t.push(0);
      ids.f.push(0);
      const l = walk(n.left);
      const r = walk(n.right);
      ids.t[at] = l;
      ids.f[at] = r;
      return id;
    };
    walk(tree);
  });
  const c = averagePath(forest.sampleSize);
  return encodeModel({
    name: "hv_flow_iforest",
    docString: "hv isolation forest over per-VM minute features; score = 2^(-mean path / c(psi))",
    ml: true,
    inputs: [valueInfo("features", "float", ["N", forest.features])],
    outputs: [valueInfo("score", "float", ["N", 1])],
    initializers: [floatTensor("neg_ln2_over_c", [1], [-Math.LN2 / c]), ...(floor ? [floatTensor("floor", [forest.features], floor)] : [])],
    nodes: [
      ...(floor ? [node("Max", ["features", "floor"], ["floored"])] : []),
      node("TreeEnsembleRegressor", [floor ? "floored" : "features"], ["mean_path"], [
        attr.string("aggregate_function", "AVERAGE"),
        attr.int("n_targets", 1),
        attr.ints("nodes_treeids", ids.tree),
        attr.ints("nodes_nodeids", ids.node),
        attr.ints("nodes_featureids", ids.feature),
        attr.floats("nodes_values", ids.value),
        attr.strings("nodes_modes", ids.mode),
        attr.ints("nodes_truenodeids", ids.t),
        attr.ints("nodes_falsenodeids", ids.f),
        attr.ints("target_treeids", tgt.tree),
        attr.ints("target_nodeids", tgt.node),
        attr.ints("target_ids", tgt.id),
        attr.floats("target_weights", tgt.weight),
      ], "ai.onnx.ml"),
      node("Mul", ["mean_path", "neg_ln2_over_c"], ["log_score"]),
      node("Exp", ["log_score"], ["score"]),
    ],
    metadata,
  });
}
