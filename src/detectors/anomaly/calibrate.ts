// Thresholds that mean something: a score threshold is chosen on held-out normal data so that a
// target share of normal traces (the false-positive rate) scores above it. ROC AUC and detection
// rate at a fixed FPR summarize a model against labelled attacks (`hv model eval`).

/** The smallest threshold such that at most `fpr` of `normalScores` are strictly above it. */
export function thresholdAtFpr(normalScores: readonly number[], fpr: number): number {
  if (normalScores.length === 0) throw new Error("no normal scores to calibrate on");
  if (!(fpr >= 0 && fpr < 1)) throw new Error(`false-positive rate must be in [0, 1): ${fpr}`);
  const sorted = [...normalScores].sort((a, b) => b - a);
  const allowed = Math.floor(fpr * sorted.length);
  return sorted[Math.min(allowed, sorted.length - 1)]!;
}

/** Share of scores strictly above the threshold. */
export function rateAbove(scores: readonly number[], threshold: number): number {
  if (scores.length === 0) return 0;
  return scores.filter((s) => s > threshold).length / scores.length;
}

/** Area under the ROC curve (ties count half): the chance a random attack outscores a random normal. */
export function rocAuc(normal: readonly number[], attack: readonly number[]): number {
  if (normal.length === 0 || attack.length === 0) throw new Error("ROC AUC needs normal and attack scores");
  const all = [...normal.map((s) => ({ s, a: 0 })), ...attack.map((s) => ({ s, a: 1 }))].sort((x, y) => x.s - y.s);
  // Mann–Whitney U with average ranks for ties.
  let rankSumAttack = 0;
  for (let i = 0; i < all.length; ) {
    let j = i;
    while (j < all.length && all[j]!.s === all[i]!.s) j++;
    const avgRank = (i + 1 + j) / 2;
    for (let t = i; t < j; t++) if (all[t]!.a === 1) rankSumAttack += avgRank;
    i = j;
  }
  const u = rankSumAttack - (attack.length * (attack.length + 1)) / 2;
  return u / (attack.length * normal.length);
}

/** Detection rate at the threshold that gives `fpr` on the normal scores. */
export function detectionAtFpr(normal: readonly number[], attack: readonly number[], fpr: number): { threshold: number; fpr: number; detection: number } {
  const threshold = thresholdAtFpr(normal, fpr);
  return { threshold, fpr: rateAbove(normal, threshold), detection: rateAbove(attack, threshold) };
}

/**
 * Deterministic split of items into two halves by a hash of `salt` and the id's file name (stable
 * under reordering and across machines). Different salts give independent splits.
 */
export function splitHalves<T extends { id: string }>(items: readonly T[], salt = ""): [T[], T[]] {
  const a: T[] = [];
  const b: T[] = [];
  for (const it of items) (mix(fnv1a(`${salt}:${it.id.split("/").pop() ?? it.id}`)) & 1 ? b : a).push(it);
  return [a, b];
}

function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

// FNV-1a's low bit is only the parity of the input's characters; this finalizer (murmur3's)
// spreads every input bit over the output, so the low bit is a fair coin.
function mix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}
