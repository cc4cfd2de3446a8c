// Millions of addresses and CIDRs, and the question "which of them contain this address?".
//
// Two prefixes are either disjoint or one contains the other, so the distinct prefixes form a
// forest under containment. They are kept sorted by (first address, length) in typed arrays
// with each one's parent (the smallest prefix containing it). For an address, a binary search
// finds the last prefix starting at or before it; the deepest prefix containing the address is
// that one or one of its ancestors (anything starting before it and containing the address
// contains it too), and every prefix containing the address is on the chain above that one.
// A lookup is one binary search plus a walk of at most 33 (IPv4) or 129 (IPv6) parents, and
// returns every containing prefix, most specific first. Each prefix has a list of payload ids
// (the same CIDR listed by several feeds), stored as one flat array with offsets.

import { wordMask } from "./ip.js";

export interface PrefixSet {
  readonly prefixes: number;
  /** Payload ids of every prefix containing the address (words as parsed), most specific first. */
  lookup(words: ArrayLike<number>, out: number[]): void;
  /** Approximate bytes held by the typed arrays. */
  readonly bytes: number;
}

/**
 * Builds the set for IPv4 (`width` 32: item i's address is starts[i]) or IPv6 (`width` 128:
 * starts[4i..4i+3]), host bits already cleared; ids[i] is the caller's payload id of item i.
 */
export function buildPrefixSet(width: 32 | 128, starts: Uint32Array, lens: Uint8Array, ids: Uint32Array, count: number): PrefixSet {
  const W = width === 32 ? 1 : 4;
  const order = sortedOrder(W, starts, lens, count);

  // Distinct prefixes in order, and for each input item the distinct prefix it belongs to.
  const nodeOfItem = new Uint32Array(count);
  let m = 0;
  for (let k = 0; k < count; k++) {
    const i = order[k]!;
    if (k === 0 || compareItems(W, starts, lens, order[k - 1]!, i) !== 0) m++;
    nodeOfItem[i] = m - 1;
  }
  const nodeStart = new Uint32Array(m * W);
  const nodeLen = new Uint8Array(m);
  const offsets = new Uint32Array(m + 1);
  for (let k = 0; k < count; k++) {
    const i = order[k]!;
    const node = nodeOfItem[i]!;
    offsets[node + 1]!++;
    for (let w = 0; w < W; w++) nodeStart[node * W + w] = starts[i * W + w]!;
    nodeLen[node] = lens[i]!;
  }
  for (let j = 0; j < m; j++) offsets[j + 1]! += offsets[j]!;
  const payload = new Uint32Array(count);
  const cursor = offsets.slice(0, m);
  for (let k = 0; k < count; k++) {
    const i = order[k]!;
    payload[cursor[nodeOfItem[i]!]!++] = ids[i]!;
  }

  const parent = parentsOf(W, nodeStart, nodeLen, m);
  const bytes = nodeStart.byteLength + nodeLen.byteLength + offsets.byteLength + payload.byteLength + parent.byteLength;
  return W === 1 ? v4Set(nodeStart, nodeLen, parent, offsets, payload, m, bytes) : v6Set(nodeStart, nodeLen, parent, offsets, payload, m, bytes);
}

function v4Set(start: Uint32Array, len: Uint8Array, parent: Int32Array, offsets: Uint32Array, payload: Uint32Array, m: number, bytes: number): PrefixSet {
  return {
    prefixes: m,
    bytes,
    lookup(words, out) {
      const ip = words[0]!;
      // Last node with start <= ip.
      let lo = 0;
      let hi = m - 1;
      let j = -1;
      while (lo <= hi) {
        const mid = (lo + hi) >>> 1;
        if (start[mid]! <= ip) {
          j = mid;
          lo = mid + 1;
        } else hi = mid - 1;
      }
      while (j >= 0 && !containsV4(start[j]!, len[j]!, ip)) j = parent[j]!;
      for (; j >= 0; j = parent[j]!) {
        for (let p = offsets[j]!; p < offsets[j + 1]!; p++) out.push(payload[p]!);
      }
    },
  };
}

function containsV4(start: number, len: number, ip: number): boolean {
  return len === 0 || (start ^ ip) >>> (32 - len) === 0;
}

function v6Set(start: Uint32Array, len: Uint8Array, parent: Int32Array, offsets: Uint32Array, payload: Uint32Array, m: number, bytes: number): PrefixSet {
  return {
    prefixes: m,
    bytes,
    lookup(words, out) {
      const a0 = words[0]!;
      const a1 = words[1]!;
      const a2 = words[2]!;
      const a3 = words[3]!;
      let lo = 0;
      let hi = m - 1;
      let j = -1;
      while (lo <= hi) {
        const mid = (lo + hi) >>> 1;
        const b = mid * 4;
        const s0 = start[b]!;
        let le: boolean;
        if (s0 !== a0) le = s0 < a0;
        else {
          const s1 = start[b + 1]!;
          if (s1 !== a1) le = s1 < a1;
          else {
            const s2 = start[b + 2]!;
            le = s2 !== a2 ? s2 < a2 : start[b + 3]! <= a3;
          }
        }
        if (le) {
          j = mid;
          lo = mid + 1;
        } else hi = mid - 1;
      }
      while (j >= 0 && !containsV6(start, j * 4, len[j]!, a0, a1, a2, a3)) j = parent[j]!;
      for (; j >= 0; j = parent[j]!) {
        for (let p = offsets[j]!; p < offsets[j + 1]!; p++) out.push(payload[p]!);
      }
    },
  };
}

function containsV6(start: Uint32Array, b: number, len: number, a0: number, a1: number, a2: number, a3: number): boolean {
  return (
    ((start[b]! ^ a0) & wordMask(len)) === 0 &&
    ((start[b + 1]! ^ a1) & wordMask(len - 32)) === 0 &&
    ((start[b + 2]! ^ a2) & wordMask(len - 64)) === 0 &&
    ((start[b + 3]! ^ a3) & wordMask(len - 96)) === 0
  );
}

/** Item indexes sorted by first address, then length (a container before what it contains). */
function sortedOrder(W: number, starts: Uint32Array, lens: Uint8Array, count: number): Uint32Array {
  if (W === 1) {
    // One float key per item (address * 64 + length) sorts natively, much faster than a comparator;
    // the items are then placed by binary search into the sorted keys.
    const keys = new Float64Array(count);
    for (let i = 0; i < count; i++) keys[i] = starts[i]! * 64 + lens[i]!;
    const sorted = keys.slice().sort();
    return placeByKey(keys, sorted, count);
  }
  const order = new Array<number>(count);
  for (let i = 0; i < count; i++) order[i] = i;
  order.sort((x, y) => compareItems(4, starts, lens, x, y));
  return Uint32Array.from(order);
}

/** The permutation that sorts `keys`, given `sorted` (its sorted copy): each item goes to the next free slot of its key. */
function placeByKey(keys: Float64Array, sorted: Float64Array, count: number): Uint32Array {
  const next = new Uint32Array(count);
  const order = new Uint32Array(count);
  for (let i = 0; i < count; i++) {
    const first = lowerBound(sorted, keys[i]!);
    const slot = first + next[first]!++;
    order[slot] = i;
  }
  return order;
}

function lowerBound(a: Float64Array, x: number): number {
  let lo = 0;
  let hi = a.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (a[mid]! < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function compareItems(W: number, starts: Uint32Array, lens: Uint8Array, x: number, y: number): number {
  for (let w = 0; w < W; w++) {
    const d = starts[x * W + w]! - starts[y * W + w]!;
    if (d !== 0) return d;
  }
  return lens[x]! - lens[y]!;
}

/** The smallest containing prefix of each node (-1 for a root), by a stack over the sorted nodes. */
function parentsOf(W: number, start: Uint32Array, len: Uint8Array, m: number): Int32Array {
  const parent = new Int32Array(m);
  const stack: number[] = [];
  for (let j = 0; j < m; j++) {
    while (stack.length > 0 && !nodeContains(W, start, len, stack[stack.length - 1]!, j)) stack.pop();
    parent[j] = stack.length > 0 ? stack[stack.length - 1]! : -1;
    stack.push(j);
  }
  return parent;
}

/** Whether node `outer` contains node `inner` (sorted order guarantees outer starts first). */
function nodeContains(W: number, start: Uint32Array, len: Uint8Array, outer: number, inner: number): boolean {
  const l = len[outer]!;
  if (l > len[inner]!) return false;
  for (let w = 0; w < W; w++) {
    if (((start[outer * W + w]! ^ start[inner * W + w]!) & wordMask(l - 32 * w)) !== 0) return false;
  }
  return true;
}
