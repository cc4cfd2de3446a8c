// Listed domains, and the question "which of them are this name or a parent of it?".
//
// The name is read right to left (reversed labels: com, example.com, www.example.com); the hash of
// what has been read so far is taken at every label boundary and looked up in an open-addressing
// table of the listed domains' hashes, then confirmed by comparing the text in place. No substring
// is made, so a lookup allocates nothing but its result; cost is one pass over the name plus one
// probe per label.

const FNV_OFFSET = 0x811c9dc5;
const FNV_PRIME = 0x01000193;

export interface DomainTable {
  /** Ids of the listed domains equal to `name` or a parent of it (already normalized), most specific first. */
  lookup(name: string, out: number[]): void;
  readonly domains: number;
}

/** `domains[i]` (normalized) is listed by payload id `ids[i]`. */
export function buildDomainTable(domains: string[], ids: number[]): DomainTable {
  let capacity = 16;
  while (capacity < domains.length * 2) capacity *= 2;
  const mask = capacity - 1;
  const slotHash = new Uint32Array(capacity);
  const slotKey: Array<string | undefined> = new Array<string | undefined>(capacity).fill(undefined);
  // One id in the slot itself; -(k + 1) points at multi[k] for a domain listed several times.
  const slotId = new Int32Array(capacity);
  const multi: number[][] = [];
  let distinct = 0;

  for (let i = 0; i < domains.length; i++) {
    const d = domains[i]!;
    const h = hashFromRight(d, 0);
    let s = h & mask;
    while (slotKey[s] !== undefined && slotKey[s] !== d) s = (s + 1) & mask;
    const id = ids[i]!;
    if (slotKey[s] === undefined) {
      slotKey[s] = d;
      slotHash[s] = h;
      slotId[s] = id;
      distinct++;
    } else if (slotId[s]! >= 0) {
      multi.push([slotId[s]!, id]);
      slotId[s] = -multi.length;
    } else multi[-slotId[s]! - 1]!.push(id);
  }

  const probe = (name: string, from: number, h: number, out: number[]): void => {
    const len = name.length - from;
    for (let s = h & mask; ; s = (s + 1) & mask) {
      const key = slotKey[s];
      if (key === undefined) return;
      if (slotHash[s] === h && key.length === len && name.endsWith(key)) {
        const v = slotId[s]!;
        if (v >= 0) out.push(v);
        else for (const id of multi[-v - 1]!) out.push(id);
        return;
      }
    }
  };

  return {
    domains: distinct,
    lookup(name, out) {
      if (distinct === 0) return;
      const start = out.length;
      let h = FNV_OFFSET;
      for (let i = name.length - 1; i >= 0; i--) {
        const c = name.charCodeAt(i);
        if (c === 46) probe(name, i + 1, h >>> 0, out);
        h = Math.imul(h ^ c, FNV_PRIME);
      }
      probe(name, 0, h >>> 0, out);
      // Found shortest suffix first; most specific first reads better.
      reverseFrom(out, start);
    },
  };
}

/** FNV-1a over name[from..] read from the last character back. */
function hashFromRight(name: string, from: number): number {
  let h = FNV_OFFSET;
  for (let i = name.length - 1; i >= from; i--) h = Math.imul(h ^ name.charCodeAt(i), FNV_PRIME);
  return h >>> 0;
}

function reverseFrom(a: number[], start: number): void {
  for (let i = start, j = a.length - 1; i < j; i++, j--) {
    const t = a[i]!;
    a[i] = a[j]!;
    a[j] = t;
  }
}
