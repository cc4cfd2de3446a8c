// The classic baselines `hv model eval` prints beside a syscall model, built from the same normal
// training traces:
//  - STIDE (Forrest et al. 1996): the share of a trace's n-grams (n = 7 by default) never seen in
//    training;
//  - frequency (Liao & Vemuri 2002): 1 − the cosine similarity between the trace's tf·idf vector of
//    syscall counts and the nearest training trace's.
// Higher = more anomalous for both. They are yardsticks, not detectors hv runs.

type Calls = readonly number[];

export function stideScorer(train: ReadonlyArray<{ calls: Calls }>, n = 7): (calls: Calls) => number {
  const grams = (calls: Calls): string[] => {
    if (calls.length < n) return [calls.join(" ")];
    const out: string[] = [];
    for (let i = 0; i + n <= calls.length; i++) out.push(calls.slice(i, i + n).join(" "));
    return out;
  };
  const seen = new Set<string>();
  for (const t of train) for (const g of grams(t.calls)) seen.add(g);
  return (calls) => {
    const gs = grams(calls);
    return gs.filter((g) => !seen.has(g)).length / gs.length;
  };
}

export function frequencyScorer(train: ReadonlyArray<{ calls: Calls }>): (calls: Calls) => number {
  const counts = (calls: Calls): Map<number, number> => {
    const m = new Map<number, number>();
    for (const c of calls) m.set(c, (m.get(c) ?? 0) + 1);
    return m;
  };
  const docFreq = new Map<number, number>();
  const trainCounts = train.map((t) => counts(t.calls));
  for (const m of trainCounts) for (const c of m.keys()) docFreq.set(c, (docFreq.get(c) ?? 0) + 1);
  // Smoothed idf; a call no training trace makes gets the largest weight.
  const idf = (c: number): number => Math.log((train.length + 1) / ((docFreq.get(c) ?? 0) + 1)) + 1;
  const unit = (m: Map<number, number>): Map<number, number> => {
    const v = new Map<number, number>();
    let norm = 0;
    for (const [c, n] of m) {
      const w = n * idf(c);
      v.set(c, w);
      norm += w * w;
    }
    norm = Math.sqrt(norm) || 1;
    for (const [c, w] of v) v.set(c, w / norm);
    return v;
  };
  const vectors = trainCounts.map(unit);
  return (calls) => {
    const v = unit(counts(calls));
    let best = 0;
    for (const u of vectors) {
      let dot = 0;
      for (const [c, w] of v) dot += w * (u.get(c) ?? 0);
      best = Math.max(best, dot);
    }
    return 1 - best;
  };
}
