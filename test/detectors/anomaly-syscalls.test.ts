// The syscall model: trainer vs exported ONNX graph, reproducibility, calibration, detection of a
// spliced-in reverse shell, explanations, and the agent detector. Training here is tiny (seconds).

import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import * as ort from "onnxruntime-node";
import { afterAll, describe, expect, it } from "vitest";
import type { HvEvent } from "../../src/events/event.js";
import { rocAuc, thresholdAtFpr, rateAbove } from "../../src/detectors/anomaly/calibrate.js";
import { createAnomalyDetector } from "../../src/detectors/anomaly/detector.js";
import { readMetadata } from "../../src/detectors/anomaly/onnx-build.js";
import { distinctWindows, exportLm, tfjsWindowNll, trainLm, traceWindows, vocabularyOf, type LmShape } from "../../src/detectors/anomaly/syscall-lm.js";
import { explainTrace, loadSyscallModel, scoreTraces, windowNll } from "../../src/detectors/anomaly/syscall-model.js";
import { i386Name } from "../../src/detectors/anomaly/syscall-names.js";
import { trainSyscallModel, type SyscallTrainOptions } from "../../src/detectors/anomaly/train-syscalls.js";
import type { Trace } from "../../src/detectors/anomaly/traces.js";
import { attackTrace, normalTrace } from "../fixtures/anomaly/synthetic.js";

const SMALL: SyscallTrainOptions = { context: 4, hidden1: 24, hidden2: 12, epochs: 4, batchSize: 256, learningRate: 0.01 };
const traces = (from: number, n: number, make = normalTrace): Trace[] => Array.from({ length: n }, (_, i) => ({ id: `t${from + i}`, calls: make(from + i) }));
const tmp = mkdtempSync(join(tmpdir(), "hv-anomaly-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe("syscall language model", () => {
  it("onnxruntime reproduces the trainer's window NLLs to 1e-5", async () => {
    const train = traces(0, 30);
    const shape: LmShape = { vocab: vocabularyOf(train), context: 4, hidden1: 24, hidden2: 12 };
    const weights = await trainLm(distinctWindows(train, shape), shape, { seed: 3, epochs: 2, batchSize: 128, learningRate: 0.01 });
    // Normal and attack windows, unknown syscalls (999) and trace starts (padding) included.
    const probe = [...normalTrace(500), ...attackTrace(501), 999, 5, 999];
    const { ctx, next } = traceWindows(probe, shape);
    const expected = await tfjsWindowNll(weights, ctx, next);
    const session = await ort.InferenceSession.create(exportLm(weights, { kind: "syscalls" }));
    const got = await windowNll(session, shape.context, ctx, next, 100);
    await session.release();
    expect(got.length).toBe(probe.length);
    let maxDiff = 0;
    for (let i = 0; i < got.length; i++) maxDiff = Math.max(maxDiff, Math.abs(got[i]! - expected[i]!));
    expect(maxDiff).toBeLessThan(1e-5);
    // The scores are not all alike (a broken graph returning a constant would also "agree" with itself).
    expect(Math.max(...got) - Math.min(...got)).toBeGreaterThan(1);
  });

  it("the same seed gives byte-identical ONNX, another seed does not", async () => {
    const train = traces(0, 40);
    const a = await trainSyscallModel(train, { ...SMALL, seed: 11 });
    const b = await trainSyscallModel(train, { ...SMALL, seed: 11 });
    const c = await trainSyscallModel(train, { ...SMALL, seed: 12 });
    expect(Buffer.from(a.onnx).equals(Buffer.from(b.onnx))).toBe(true);
    expect(Buffer.from(a.onnx).equals(Buffer.from(c.onnx))).toBe(false);
  });

  it("calibration gives about the target FPR on held-out normal traces, and the metadata says so", async () => {
    const fpr = 0.05;
    const trained = await trainSyscallModel(traces(0, 60), { ...SMALL, seed: 2, fpr, calibration: traces(1000, 400) });
    const meta = readMetadata(trained.onnx);
    expect(meta.kind).toBe("syscalls");
    expect(Number(meta.threshold)).toBeCloseTo(trained.calibration.threshold, 6);
    expect(Number(meta.calibration_fpr)).toBe(fpr);
    expect(JSON.parse(meta.vocabulary!)).toEqual(trained.weights.vocab);
    expect(trained.calibration.calibration_fpr).toBeLessThanOrEqual(fpr);
    // Fresh normal traces the model never saw: FPR near the target.
    const path = join(tmp, "calib.onnx");
    writeFileSync(path, trained.onnx);
    const model = await loadSyscallModel(path);
    const fresh = (await scoreTraces(model, traces(5000, 400))).map((r) => r.score);
    await model.session.release();
    const observed = rateAbove(fresh, trained.calibration.threshold);
    expect(observed).toBeLessThan(fpr * 3);
    expect(trained.calibration.heldout_fpr).toBeLessThan(fpr * 3);
  });

  it("a trace with a spliced-in reverse shell outscores normal traces, and the explanation names it", async () => {
    const trained = await trainSyscallModel(traces(0, 60), { ...SMALL, seed: 5, calibration: traces(2000, 200) });
    const path = join(tmp, "detect.onnx");
    writeFileSync(path, trained.onnx);
    const model = await loadSyscallModel(path);
    const normal = await scoreTraces(model, traces(3000, 100));
    const attacks = await scoreTraces(model, traces(4000, 20, attackTrace));
    expect(rocAuc(normal.map((r) => r.score), attacks.map((r) => r.score))).toBeGreaterThan(0.99);
    expect(attacks.filter((r) => r.anomalous).length).toBeGreaterThanOrEqual(18);
    const calls = attackTrace(4000);
    const why = explainTrace(model.meta, calls, attacks[0]!.nll);
    expect(why.length).toBeGreaterThan(0);
    expect(why.join("\n")).toMatch(/dup2|socketcall/);
    expect(why[0]).toMatch(/seen 0 times/);
    await model.session.release();
  });
});

describe("calibration maths", () => {
  it("thresholdAtFpr leaves at most fpr of the scores above it", () => {
    fc.assert(
      fc.property(fc.array(fc.double({ min: -100, max: 100, noNaN: true }), { minLength: 1, maxLength: 300 }), fc.double({ min: 0, max: 0.5, noNaN: true }), (scores, fpr) => {
        const t = thresholdAtFpr(scores, fpr);
        expect(rateAbove(scores, t)).toBeLessThanOrEqual(fpr + 1e-12);
      }),
    );
  });

  it("rocAuc equals the share of (attack, normal) pairs the attack wins, ties half", () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 9 }), { minLength: 1, maxLength: 40 }), fc.array(fc.integer({ min: 0, max: 9 }), { minLength: 1, maxLength: 40 }), (normal, attack) => {
        let wins = 0;
        for (const a of attack) for (const n of normal) wins += a > n ? 1 : a === n ? 0.5 : 0;
        expect(rocAuc(normal, attack)).toBeCloseTo(wins / (normal.length * attack.length), 10);
      }),
    );
  });
});

describe("agent detector", () => {
  it("scores per-process syscall sequences off the hot path and explains the anomalous one", async () => {
    const trained = await trainSyscallModel(traces(0, 60), { ...SMALL, seed: 5, calibration: traces(2000, 200) });
    const path = join(tmp, "agent.onnx");
    writeFileSync(path, trained.onnx);
    const det = await createAnomalyDetector({ modelPath: path, segment: 400, minCalls: 10 });
    const event = (pid: number, call: number, i: number): HvEvent => ({
      "@timestamp": new Date(1_700_000_000_000 + i).toISOString(),
      event: { module: "audit", kind: "event", action: i386Name(call) },
      process: { pid, executable: pid === 666 ? "/tmp/evil" : "/usr/bin/normal" },
      audit: { syscall: i386Name(call) },
    } as unknown as HvEvent);
    const out = [];
    let i = 0;
    // Two processes interleaved; names go through the audit-name → i386 mapping.
    const a = normalTrace(9000);
    const b = attackTrace(9001);
    for (let j = 0; j < Math.max(a.length, b.length); j++) {
      if (j < a.length) out.push(...det.onEvent(event(100, a[j]!, i++)));
      if (j < b.length) out.push(...det.onEvent(event(666, b[j]!, i++)));
    }
    await det.drain();
    out.push(...det.tick(1_700_000_000_000 + i + 120_000));
    await det.drain();
    out.push(...det.tick(1_700_000_000_000 + i + 130_000));
    expect(det.stats().segmentsScored).toBe(2);
    expect(out.map((d) => d.events[0]?.process?.pid)).toEqual([666]);
    const d = out[0]!;
    expect(d.rule.id).toBe("anomaly:syscalls");
    expect(d.anomaly!.score).toBeGreaterThan(d.anomaly!.threshold);
    expect(d.anomaly!.explanation.join("\n")).toMatch(/dup2/);
    await det.close();
  });
});
