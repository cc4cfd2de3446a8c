// Model selection for the syscall model without overfitting the attack classes we can see
// (docs/anomaly.md, "How the model was chosen"). For each candidate — a trained language model
// (.onnx) × a trace aggregation × which parts of the score — it computes ROC AUC and detection at
// 1% FPR on ADFA-LD's normal validation traces against each development attack class. Then, for
// each class in turn, it picks the candidate with the best AUC + detection at 1% FPR (the two
// goals, equally weighted) summed over the *other two* classes, and reports how that choice does
// on the class it never looked at. A candidate worth shipping
// wins the rotation (picked for every held-out class) and holds up on each held-out class.
//   node dist/bench/anomaly-select.js MODEL.onnx… [--json]
// Needs ../shared/data/adfa-ld (Training_Data_Master, Validation_Data_Master, Attack_Data_Dev).
// The set part is computed here in TypeScript from the training traces (the same formula as the
// graph's, syscall-sets.ts), so language models trained before it existed can be compared.

import { existsSync } from "node:fs";
import { basename, join } from "node:path";
import { aggregateWindows, combinedScore, scaleOf, type Aggregation } from "../src/detectors/anomaly/aggregate.js";
import { detectionAtFpr, rocAuc, splitHalves } from "../src/detectors/anomaly/calibrate.js";
import { loadSyscallModel, scoreTraces } from "../src/detectors/anomaly/syscall-model.js";
import { presence, setDistance, trainingSets } from "../src/detectors/anomaly/syscall-sets.js";
import { loadLabelledTraceDir, loadTraceDir, type Trace } from "../src/detectors/anomaly/traces.js";
import { SHARED } from "./data.js";

const json = process.argv.includes("--json");
const models = process.argv.slice(2).filter((a) => !a.startsWith("--"));
const adfa = join(SHARED, "adfa-ld");
if (!existsSync(join(adfa, "Attack_Data_Dev"))) {
  process.stderr.write(`skipped: ${adfa}/Attack_Data_Dev not found\n`);
  process.exit(0);
}
if (models.length === 0) {
  process.stderr.write("usage: node dist/bench/anomaly-select.js MODEL.onnx… [--json]\n");
  process.exit(2);
}

const train = loadTraceDir(join(adfa, "Training_Data_Master")).traces;
const normal = loadTraceDir(join(adfa, "Validation_Data_Master")).traces;
const attacks = loadLabelledTraceDir(join(adfa, "Attack_Data_Dev")).classes;
const classNames = [...attacks.keys()];
const all: Trace[] = [...normal, ...[...attacks.values()].flat()];
// The half of the normal traces a trained model's calibration scales its parts on (train-syscalls.ts).
const [scaleHalf] = splitHalves(normal, "threshold");
const scaleIds = new Set(scaleHalf.map((t) => t.id));

const AGGREGATIONS: Record<string, Aggregation> = {
  "top quarter": { top: 10, fraction: 0.25, clip: 16 },
  "top half": { top: 10, fraction: 0.5, clip: 16 },
  mean: { top: 1, fraction: 1, clip: 16 },
};

interface Candidate {
  name: string;
  scores: Map<Trace, number>;
}

const candidates: Candidate[] = [];
let setScores: Map<Trace, number> | undefined;
for (const path of models) {
  const model = await loadSyscallModel(path);
  const scored = await scoreTraces(model, all);
  await model.session.release();
  if (!setScores) {
    const sets = trainingSets(train, model.meta);
    setScores = new Map(all.map((t) => [t, setDistance(presence(t.calls, model.meta), sets.columns, sets.count)]));
    candidates.push({ name: "set part alone", scores: setScores });
  }
  for (const [agg, a] of Object.entries(AGGREGATIONS)) {
    const lm = new Map(all.map((t, i) => [t, aggregateWindows(scored[i]!.nll, a)]));
    candidates.push({ name: `${basename(path)} ${agg}`, scores: lm });
    const onScale = all.filter((t) => scaleIds.has(t.id));
    const combination = { lm: scaleOf(onScale.map((t) => lm.get(t)!)), set: scaleOf(onScale.map((t) => setScores!.get(t)!)) };
    candidates.push({ name: `${basename(path)} ${agg} + set`, scores: new Map(all.map((t) => [t, combinedScore(lm.get(t)!, setScores!.get(t)!, combination)])) });
  }
}

const normalOf = (c: Candidate): number[] => normal.map((t) => c.scores.get(t)!);
const table = candidates.map((c) => {
  const n = normalOf(c);
  const per = Object.fromEntries(classNames.map((k) => {
    const a = attacks.get(k)!.map((t) => c.scores.get(t)!);
    return [k, { auc: rocAuc(n, a), det1: detectionAtFpr(n, a, 0.01).detection }];
  }));
  const a = [...attacks.values()].flat().map((t) => c.scores.get(t)!);
  return { name: c.name, auc: rocAuc(n, a), det1: detectionAtFpr(n, a, 0.01).detection, det5: detectionAtFpr(n, a, 0.05).detection, per };
});

const rotation = classNames.map((held) => {
  const others = classNames.filter((k) => k !== held);
  const merit = (r: (typeof table)[number]): number => others.reduce((s, k) => s + r.per[k]!.auc + r.per[k]!.det1, 0);
  const best = [...table].sort((x, y) => merit(y) - merit(x))[0]!;
  return { held_out: held, chosen: best.name, chosen_on: others, held_out_auc: best.per[held]!.auc, held_out_det1: best.per[held]!.det1 };
});

if (json) process.stdout.write(JSON.stringify({ candidates: table, rotation }) + "\n");
else {
  const pct = (x: number): string => `${(x * 100).toFixed(1)}%`.padStart(6);
  process.stdout.write(`candidate${" ".repeat(36)}AUC   det@1% det@5%  ${classNames.map((k) => `${k} AUC/det@1%`).join("  ")}\n`);
  for (const r of table) {
    process.stdout.write(`${r.name.padEnd(44)} ${r.auc.toFixed(4)} ${pct(r.det1)} ${pct(r.det5)}  ${classNames.map((k) => `${r.per[k]!.auc.toFixed(3)} / ${pct(r.per[k]!.det1)}`).join("  ")}\n`);
  }
  process.stdout.write("\nrotation (choose on two classes, confirm on the third):\n");
  for (const r of rotation) process.stdout.write(`  held out ${r.held_out}: chose "${r.chosen}" on ${r.chosen_on.join(" + ")} → ${r.held_out}: AUC ${r.held_out_auc.toFixed(4)}, det@1% ${pct(r.held_out_det1).trim()}\n`);
}
