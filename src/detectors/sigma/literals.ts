// The prefilter's literal index: every literal any rule requires, found in one pass over the
// event's text (Aho-Corasick), instead of one substring search per literal per event — with a
// few hundred literals (SigmaHQ's keyword rules alone bring ~150) that pass is the difference.

export class LiteralIndex {
  private readonly ids = new Map<string, number>();
  private next: Array<Map<number, number>> = [new Map()];
  private fail: number[] = [0];
  /** Literal ids ending at each node (its own and, through fail links, its suffixes'). */
  private out: number[][] = [[]];
  private built = false;

  /** The id of a literal (adding it while the index is still being built). */
  add(literal: string): number {
    let id = this.ids.get(literal);
    if (id !== undefined) return id;
    if (this.built) throw new Error("LiteralIndex: add after build");
    id = this.ids.size;
    this.ids.set(literal, id);
    let node = 0;
    for (let i = 0; i < literal.length; i++) {
      const c = literal.charCodeAt(i);
      let child = this.next[node]!.get(c);
      if (child === undefined) {
        child = this.next.length;
        this.next.push(new Map());
        this.fail.push(0);
        this.out.push([]);
        this.next[node]!.set(c, child);
      }
      node = child;
    }
    this.out[node]!.push(id);
    return id;
  }

  get size(): number {
    return this.ids.size;
  }

  build(): void {
    const queue: number[] = [];
    for (const child of this.next[0]!.values()) queue.push(child);
    for (let q = 0; q < queue.length; q++) {
      const node = queue[q]!;
      for (const [c, child] of this.next[node]!) {
        let f = this.fail[node]!;
        while (f !== 0 && !this.next[f]!.has(c)) f = this.fail[f]!;
        const target = this.next[f]!.get(c);
        this.fail[child] = target !== undefined && target !== child ? target : 0;
        this.out[child] = [...this.out[child]!, ...this.out[this.fail[child]!]!];
        queue.push(child);
      }
    }
    this.built = true;
  }

  /** Which literals occur in the text (index = literal id). */
  scan(text: string): Uint8Array {
    const present = new Uint8Array(this.ids.size);
    let node = 0;
    for (let i = 0; i < text.length; i++) {
      const c = text.charCodeAt(i);
      let nxt = this.next[node]!.get(c);
      while (nxt === undefined && node !== 0) {
        node = this.fail[node]!;
        nxt = this.next[node]!.get(c);
      }
      node = nxt ?? 0;
      const hits = this.out[node]!;
      for (let k = 0; k < hits.length; k++) present[hits[k]!] = 1;
    }
    return present;
  }
}
