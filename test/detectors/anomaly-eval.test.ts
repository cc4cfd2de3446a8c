// `hv model eval`'s arithmetic on cases small enough to work out by hand, the STIDE and frequency
// baselines, and the set-distance part of the syscall graph against its TypeScript formula.

import * as ort from "onnxruntime-node";
import { describe, expect, it } from "vitest";
import { frequencyScorer, stideScorer } from "../../src/detectors/anomaly/baselines.js";
import { evaluateMethod, formatEvalTable } from "../../src/detectors/anomaly/evaluate.js";
import { exportLm, trainLm, distinctWindows, vocabularyOf, type LmShape } from "../../src/detectors/anomaly/syscall-lm.js";
import { presence, setDistance, setDistanceGraph, trainingSets } from "../../src/detectors/anomaly/syscall-sets.js";
import { attackTrace, normalTrace } from "../fixtures/anomaly/synthetic.js";

describe("evaluation arithmetic", () => {
  // Normal scores 0..99; class A scores 99.5 (above every normal) and 50 (above 50, tied with 1);
  // class B scores 20 (above 20, tied with 1).
  const normal = Array.from({ length: 100 }, (_, i) => i);
  const row = evaluateMethod("m", normal, new Map([["A", [99.5, 50]], ["B", [20]]]));

  it("ROC AUC counts the normal items each attack outscores, ties as half", () => {
    expect(row.classes.A!.roc_auc).toBeCloseTo((100 + 50.5) / 200, 12);
    expect(row.classes.B!.roc_auc).toBeCloseTo(20.5 / 100, 12);
    expect(row.roc_auc).toBeCloseTo((100 + 50.5 + 20.5) / 300, 12);
  });

  it("detection at 1% and 5% FPR uses the threshold that lets 1 and 5 of 100 normal items through", () => {
    // At 1%: only 99 is above the threshold (98), so 99.5 is caught and 50 is not.
    expect(row.classes.A!.detection_at_1pct_fpr).toBe(0.5);
    expect(row.classes.B!.detection_at_1pct_fpr).toBe(0);
    expect(row.detection_at_1pct_fpr).toBeCloseTo(1 / 3, 12);
    expect(row.detection_at_5pct_fpr).toBeCloseTo(1 / 3, 12);
    const lower = evaluateMethod("m", normal, new Map([["C", [96, 94.5]]]));
    // 96 is above 5 normal items' threshold (94) but not the 1% one; 94.5 likewise.
    expect(lower.detection_at_1pct_fpr).toBe(0);
    expect(lower.detection_at_5pct_fpr).toBe(1);
    expect(row.classes.A!.count).toBe(2);
    expect(row.count).toBe(3);
  });

  it("the table has one column per class and a row per method", () => {
    const text = formatEvalTable([row, evaluateMethod("baseline", normal, new Map([["A", [0, 0]], ["B", [99.5]]]))]);
    const lines = text.trim().split("\n");
    expect(lines[0]).toMatch(/method\s+AUC\s+det@1%\s+det@5%\s+A AUC\/det@1%\s+B AUC\/det@1%/);
    expect(lines[1]).toMatch(/^m\s+0\.5700\s+33\.3%\s+33\.3%\s+0\.752 \/ 50\.0%\s+0\.205 \/ 0\.0%$/);
    expect(lines[2]).toMatch(/^baseline\s+/);
  });
});

describe("baselines", () => {
  const train = [{ calls: [1, 2, 3, 4, 5, 6, 7, 8] }];

  it("STIDE is the share of a trace's n-grams never seen in training", () => {
    const stide = stideScorer(train, 3);
    expect(stide([1, 2, 3, 4, 5, 6, 7, 8])).toBe(0);
    // 1 2 3, 2 3 4 seen; 3 4 9, 4 9 5 not.
    expect(stide([1, 2, 3, 4, 9, 5])).toBe(0.5);
    // Shorter than n: the whole trace is one gram.
    expect(stide([1, 2])).toBe(1);
  });

  it("frequency is 0 for a training trace and grows with calls training never made", () => {
    const freq = frequencyScorer([...train, { calls: [1, 1, 1, 2, 2, 3] }]);
    expect(freq([1, 2, 3, 4, 5, 6, 7, 8])).toBeCloseTo(0, 6);
    expect(freq([1, 2, 3, 4, 5, 6, 7, 99])).toBeGreaterThan(0.05);
    expect(freq([99, 98, 97])).toBeCloseTo(1, 6);
  });
});

describe("set distance in the ONNX graph", () => {
  it("equals the TypeScript formula, is 0 for a training trace's set and grows with calls outside every training set", async () => {
    const train = Array.from({ length: 20 }, (_, i) => ({ calls: normalTrace(i) }));
    // A second kind of normal program, so there is more than one distinct training set.
    train.push({ calls: [5, 3, 3, 6, 252] });
    const shape: LmShape = { vocab: vocabularyOf(train.map((t, i) => ({ id: String(i), ...t }))), context: 3, hidden1: 8, hidden2: 4 };
    const weights = await trainLm(distinctWindows(train.map((t, i) => ({ id: String(i), ...t })), shape), shape, { seed: 1, epochs: 1, batchSize: 64, learningRate: 0.01, minSteps: 1 });
    const sets = trainingSets(train, shape);
    expect(sets.count).toBe(2);
    const session = await ort.InferenceSession.create(exportLm(weights, { kind: "syscalls" }, setDistanceGraph(shape, sets)));
    const probes = [normalTrace(100), [5, 3, 252], attackTrace(101), [999, 998], [5, 3, 3, 6, 252]];
    const V = shape.vocab.length + 1;
    const rows = new Float32Array(probes.length * V);
    probes.forEach((p, i) => rows.set(presence(p, shape), i * V));
    const out = await session.run({
      context: new ort.Tensor("int32", new Int32Array(0), [0, 3]),
      next: new ort.Tensor("int32", new Int32Array(0), [0, 1]),
      calls_present: new ort.Tensor("float32", rows, [probes.length, V]),
    });
    await session.release();
    const got = out.set_distance!.data as Float32Array;
    probes.forEach((p, i) => expect(Math.abs(got[i]! - setDistance(presence(p, shape), sets.columns, sets.count))).toBeLessThan(1e-5));
    expect(got[0]!).toBeLessThan(1e-5);
    expect(got[4]!).toBeLessThan(1e-5);
    // A strict subset of a training set (3 of its 4 calls: cosine 3/√12) is close but not equal; the
    // reverse shell adds calls; unknown calls share nothing.
    expect(got[1]!).toBeCloseTo(1 - 3 / Math.sqrt(12), 5);
    expect(got[2]!).toBeGreaterThan(got[0]! + 0.01);
    expect(got[3]!).toBeCloseTo(1, 5);
  });
});
