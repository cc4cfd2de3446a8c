// From window scores to one score per trace (or per process). A trace is as suspicious as its
// most surprising stretch, but a few odd calls in a long normal trace should not decide it: the
// score is the mean of the highest `fraction` of window NLLs (at least `top` of them), each
// clipped so one never-seen syscall counts as very surprising, not infinitely so. On ADFA-LD
// validation traces, fraction 0.25 keeps the 99th percentile of normal scores well below the
// clip (top-10 alone saturates there: many normal traces hold several never-trained calls).

export interface Aggregation {
  /** At least this many of the highest window scores are averaged. */
  top: number;
  /** …or this share of the trace's windows, whichever is more. */
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
