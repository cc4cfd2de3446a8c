// From window scores to one score per trace (or per process segment). Two parts:
//  - the sequence part: the mean of the highest half of the window NLLs (at least 10), each clipped
//    so one never-seen syscall counts as very surprising, not infinitely so. The top quarter let a
//    few odd calls decide and the plain mean diluted a short injected stretch; the top half won
//    the selection on ADFA-LD (docs/anomaly.md, "How the model was chosen");
//  - the set part: how far the trace's set of calls is from every training trace's (syscall-sets.ts).
// They are put on one scale by where normal traces put them — (x − median) / (99th percentile −
// median) on the normal calibration traces, so 1 means "as high as the top 1% of normal" — and
// averaged with equal weights (no weight was tuned on attacks).

export interface Aggregation {
  /** At least this many of the highest window scores are averaged. */
  top: number;
  /** …or this share of the trace's windows, whichever is more (1 = all of them). */
  fraction: number;
  /** Window NLLs are clipped to this before averaging. */
  clip: number;
}

export function aggregateWindows(nll: ArrayLike<number>, agg: Aggregation): number {
  if (nll.length === 0) return 0;
  const values = Array.from(nll, (v) => Math.min(v, agg.clip));
  values.sort((a, b) => b - a);
  const n = Math.min(values.length, Math.max(agg.top, Math.ceil(agg.fraction * values.length)));
  let sum = 0;
  for (let i = 0; i < n; i++) sum += values[i]!;
  return sum / n;
}

/** Where normal calibration traces put one part of the score. */
export interface Scale {
  median: number;
  p99: number;
}

export interface Combination {
  lm: Scale;
  set: Scale;
}

export function scaleOf(normalScores: readonly number[]): Scale {
  const s = [...normalScores].sort((a, b) => a - b);
  const q = (p: number): number => s[Math.min(s.length - 1, Math.floor(p * (s.length - 1)))]!;
  return { median: q(0.5), p99: q(0.99) };
}

function scaled(x: number, s: Scale): number {
  const spread = s.p99 - s.median;
  return (x - s.median) / (spread > 1e-9 ? spread : 1);
}

/** The trace score of a model with both parts: the mean of the two scaled parts. */
export function combinedScore(lm: number, set: number, c: Combination): number {
  return (scaled(lm, c.lm) + scaled(set, c.set)) / 2;
}
