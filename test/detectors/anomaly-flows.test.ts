// The VM-network model: isolation forest vs its ONNX TreeEnsembleRegressor export, reproducibility,
// and what it says about the lab recording (test/fixtures/flows/lab: benign-only log for training,
// a log with scans, brute force, beaconing, exfiltration and a UDP flood for scoring).

import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as ort from "onnxruntime-node";
import { afterAll, describe, expect, it } from "vitest";
import { createRng } from "../../src/detectors/anomaly/rng.js";
import { exportIsoForest, fitIsoForest, isoScore } from "../../src/detectors/anomaly/iforest.js";
import { readMetadata } from "../../src/detectors/anomaly/onnx-build.js";
import { applyFloor, scoreFlowLog, trainFlowModelFromFile } from "../../src/detectors/anomaly/train-flows.js";

const LAB = new URL("../fixtures/flows/lab/", import.meta.url).pathname;
const tmp = mkdtempSync(join(tmpdir(), "hv-flows-model-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe("isolation forest", () => {
  it("onnxruntime's TreeEnsembleRegressor reproduces the trainer's scores to 1e-5", async () => {
    const rng = createRng(4);
    const points = Array.from({ length: 300 }, () => [rng.normal(), rng.normal() * 3, rng.next()]);
    const forest = fitIsoForest(points, { trees: 50, sampleSize: 128, seed: 9 });
    const floor = [-0.5, 0, 0.2];
    const probe = [...points.slice(0, 50), [8, 0, 0.5], [0, 20, 0.1], [0.1, 0.2, 3]];
    const session = await ort.InferenceSession.create(exportIsoForest(forest, { kind: "test" }, floor));
    const out = await session.run({ features: new ort.Tensor("float32", Float32Array.from(probe.flat()), [probe.length, 3]) });
    await session.release();
    const got = out.score!.data as Float32Array;
    let maxDiff = 0;
    probe.forEach((p, i) => (maxDiff = Math.max(maxDiff, Math.abs(got[i]! - isoScore(forest, applyFloor(p, floor))))));
    expect(maxDiff).toBeLessThan(1e-5);
    // The far-out points score higher than the typical ones.
    const typical = [...got.slice(0, 50)].sort((a, b) => a - b)[25]!;
    for (const far of [50, 51, 52]) expect(got[far]!).toBeGreaterThan(typical + 0.03);
  });
});

describe("flow model on the lab recording", () => {
  it("is reproducible, calibrated on benign minutes, and flags the scan minute with reasons", async () => {
    const opts = { seed: 1, fpr: 0.05, inventoryPath: join(LAB, "lab.inventory.json") };
    const a = await trainFlowModelFromFile(join(LAB, "lab-benign.conntrack.log"), opts);
    const b = await trainFlowModelFromFile(join(LAB, "lab-benign.conntrack.log"), opts);
    expect(Buffer.from(a.onnx).equals(Buffer.from(b.onnx))).toBe(true);
    const meta = readMetadata(a.onnx);
    expect(meta.kind).toBe("flows");
    expect(JSON.parse(meta.feature_names!)).toContain("distinct_ports");
    const path = join(tmp, "flows.onnx");
    writeFileSync(path, a.onnx);

    const benign = await scoreFlowLog(path, join(LAB, "lab-benign.conntrack.log"), opts.inventoryPath);
    const benignRate = benign.filter((m) => m.anomalous).length / benign.length;
    expect(benignRate).toBeLessThanOrEqual(0.05);

    const lab = await scoreFlowLog(path, join(LAB, "lab.conntrack.log"), opts.inventoryPath);
    // devbox01 ran three nmap scans (lab.truth.json); its worst minute must stand out and say why.
    const scan = lab.filter((m) => m.vm === "devbox01").sort((x, y) => y.score - x.score)[0]!;
    expect(scan.anomalous).toBe(true);
    expect(scan.explanation.join(" ")).toMatch(/distinct_ports \d+ \(benign median/);
    const maxBenign = Math.max(...benign.map((m) => m.score));
    expect(scan.score).toBeGreaterThan(maxBenign - 0.05);
  });
});
