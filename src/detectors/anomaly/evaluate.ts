// Judging a detector on labelled data (`hv model eval`): ROC AUC and the detection rate at a fixed
// false-positive rate, overall and per attack class, for the model and the baselines side by side.
// The threshold for "detection at 1% FPR" is set on the normal scores of the same evaluation (the
// best any threshold could do at that FPR); the model's own calibrated threshold is reported apart.

import { detectionAtFpr, rocAuc } from "./calibrate.js";

export interface Metrics {
  /** Attack items (traces, minutes) scored. */
  count: number;
  roc_auc: number;
  detection_at_1pct_fpr: number;
  detection_at_5pct_fpr: number;
}

export interface EvalRow extends Metrics {
  method: string;
  /** The same metrics for each attack class (against all normal items). */
  classes: Record<string, Metrics>;
}

function metrics(normal: readonly number[], attack: readonly number[]): Metrics {
  return {
    count: attack.length,
    roc_auc: rocAuc(normal, attack),
    detection_at_1pct_fpr: detectionAtFpr(normal, attack, 0.01).detection,
    detection_at_5pct_fpr: detectionAtFpr(normal, attack, 0.05).detection,
  };
}

/** One method's row: its scores of the normal items and of each class's attack items. */
export function evaluateMethod(method: string, normal: readonly number[], attacks: ReadonlyMap<string, readonly number[]>): EvalRow {
  const all = [...attacks.values()].flat();
  const classes = Object.fromEntries([...attacks.entries()].filter(([, s]) => s.length > 0).map(([c, s]) => [c, metrics(normal, s)]));
  return { method, ...metrics(normal, all), classes };
}

const pct = (x: number): string => `${(x * 100).toFixed(1)}%`;

/** The rows as a plain-text table: overall AUC and detection, then AUC / detection at 1% per class. */
export function formatEvalTable(rows: readonly EvalRow[]): string {
  const classes = [...new Set(rows.flatMap((r) => Object.keys(r.classes)))];
  const header = ["method", "AUC", "det@1%", "det@5%", ...classes.map((c) => `${c} AUC/det@1%`)];
  const body = rows.map((r) => [
    r.method, r.roc_auc.toFixed(4), pct(r.detection_at_1pct_fpr), pct(r.detection_at_5pct_fpr),
    ...classes.map((c) => (r.classes[c] ? `${r.classes[c].roc_auc.toFixed(3)} / ${pct(r.classes[c].detection_at_1pct_fpr)}` : "-")),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: string[]): string => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join("  ").trimEnd();
  return [line(header), ...body.map(line)].join("\n") + "\n";
}
