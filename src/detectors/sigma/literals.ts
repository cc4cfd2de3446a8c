// The prefilter's literal index for one field: every literal a rule requires in that field's
// values, found in one pass over each value (Aho-Corasick) instead of one substring search per
// literal per event. The automaton is compiled to a dense table (state × character class), so a
// character costs two array reads; literals are lower-case ASCII and upper-case ASCII letters fold
// onto them, which is what the rules' case-insensitive tests see (value.toLowerCase()). A value
// with any other character is scanned lower-cased instead: toLowerCase turns a few of those into
// ASCII letters (the Kelvin sign into "k", "İ" into "i̇"), and the prefilter must never miss a match.

/** Where a scan records what it finds: found[id] = epoch, and each newly found id appended to ids. */
export interface FoundSink {
  found: Int32Array;
  epoch: number;
  ids: Int32Array;
  count: number;
}

/** Characters no literal contains share class 0. */
const OTHER = 0;
/** Flag bit of a transition into a state where literals end; the bits below it are the row offset. */
const FOUND = 1 << 30;
const ROW = FOUND - 1;

export class LiteralIndex {
  private readonly literals = new Map<string, number[]>();
  /** delta[row + class] = the next row (state × width), flagged FOUND where literals end; outIds[outStart[state] …] = their ids. */
  private built: { delta: Int32Array; classes: Uint8Array; outStart: Int32Array; outIds: Int32Array; width: number } | undefined;

  /** Marks `id` present whenever `literal` (lower-case ASCII) occurs in a scanned value. */
  add(literal: string, id: number): void {
    if (this.built) throw new Error("LiteralIndex: add after build");
    if (literal.length === 0 || /[^\x00-\x7f]/.test(literal) || literal !== literal.toLowerCase()) throw new Error(`LiteralIndex: literal ${JSON.stringify(literal)} is not lower-case ASCII`);
    const ids = this.literals.get(literal) ?? [];
    if (!ids.includes(id)) ids.push(id);
    this.literals.set(literal, ids);
  }

  get size(): number {
    return this.literals.size;
  }

  build(): void {
    // Character classes: one per character some literal has, upper-case letters folded onto lower.
    const classes = new Uint8Array(128);
    let width = 1;
    for (const lit of this.literals.keys()) {
      for (let i = 0; i < lit.length; i++) {
        const c = lit.charCodeAt(i);
        if (classes[c] === OTHER) classes[c] = width++;
      }
    }
    for (let c = 65; c <= 90; c++) classes[c] = classes[c + 32]!;

    // The trie, then its failure links breadth first (Aho-Corasick), then the full transition table.
    const children: Array<Map<number, number>> = [new Map()];
    const out: number[][] = [[]];
    for (const [lit, ids] of this.literals) {
      let node = 0;
      for (let i = 0; i < lit.length; i++) {
        const k = classes[lit.charCodeAt(i)]!;
        let child = children[node]!.get(k);
        if (child === undefined) {
          child = children.length;
          children.push(new Map());
          out.push([]);
          children[node]!.set(k, child);
        }
        node = child;
      }
      out[node]!.push(...ids);
    }
    const states = children.length;
    const delta = new Int32Array(states * width);
    const fail = new Int32Array(states);
    const queue: number[] = [];
    for (let k = 0; k < width; k++) {
      const child = children[0]!.get(k) ?? 0;
      delta[k] = child;
      if (child !== 0) queue.push(child);
    }
    for (let q = 0; q < queue.length; q++) {
      const node = queue[q]!;
      const f = fail[node]!;
      out[node] = [...new Set([...out[node]!, ...out[f]!])];
      for (let k = 0; k < width; k++) {
        const child = children[node]!.get(k);
        if (child === undefined) {
          delta[node * width + k] = delta[f * width + k]!;
        } else {
          fail[child] = delta[f * width + k]!;
          delta[node * width + k] = child;
          queue.push(child);
        }
      }
    }
    const outStart = new Int32Array(states + 1);
    const flat: number[] = [];
    for (let state = 0; state < states; state++) {
      outStart[state] = flat.length;
      flat.push(...out[state]!);
    }
    outStart[states] = flat.length;
    // Entries become row offsets (state × width), so a step is one add and one read, with a flag
    // bit for "this state ends a literal" so the common step reads nothing else.
    if (states * width >= FOUND) throw new Error("LiteralIndex: too many literals for one field");
    for (let i = 0; i < delta.length; i++) {
      const next = delta[i]!;
      delta[i] = next * width + (outStart[next + 1]! > outStart[next]! ? FOUND : 0);
    }
    this.built = { delta, classes, outStart, outIds: Int32Array.from(flat), width };
  }

  /** Records in `sink` every literal that occurs in `text`, ignoring case as toLowerCase does. */
  scan(text: string, sink: FoundSink): void {
    const b = this.built;
    if (!b) throw new Error("LiteralIndex: scan before build");
    const { delta, classes } = b;
    let row = 0;
    for (let i = 0; i < text.length; i++) {
      const c = text.charCodeAt(i);
      // Outside ASCII, scan the lower-cased text from the start (marks may be set twice: harmless).
      if (c >= 128) return this.scanLowered(text.toLowerCase(), sink);
      const next = delta[row + classes[c]!]!;
      row = next & ROW;
      if (next >= FOUND) this.mark(row, sink);
    }
  }

  private scanLowered(text: string, sink: FoundSink): void {
    const { delta, classes } = this.built!;
    let row = 0;
    for (let i = 0; i < text.length; i++) {
      const c = text.charCodeAt(i);
      const next = delta[row + (c < 128 ? classes[c]! : OTHER)]!;
      row = next & ROW;
      if (next >= FOUND) this.mark(row, sink);
    }
  }

  private mark(row: number, sink: FoundSink): void {
    const { outStart, outIds, width } = this.built!;
    const state = row / width;
    for (let k = outStart[state]!, end = outStart[state + 1]!; k < end; k++) {
      const id = outIds[k]!;
      if (sink.found[id] === sink.epoch) continue;
      sink.found[id] = sink.epoch;
      sink.ids[sink.count++] = id;
    }
  }
}
