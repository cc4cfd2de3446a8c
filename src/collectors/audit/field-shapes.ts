// Building a record's fields object fast. Adding keys one by one to an object costs V8 a generic,
// hashed store per key (~40 ns each, ~1 µs for a SYSCALL record: the largest single cost of
// decoding, measured in bench/decode.ts). The kernel writes the same few key sequences over and
// over (a SYSCALL record always has arch, syscall, success, … in that order), so each sequence
// seen twice gets a small constructor of its own whose stores V8 compiles to fixed slots (~10 ns
// for the whole record).
//
// The constructor's source is built from the keys, which come from the input: only keys of up to
// 64 printable ASCII characters without quotes or backslashes are ever compiled (never
// `__proto__`), each written as a JSON string literal, and at most MAX_SHAPES sequences are compiled. Anything else — a sequence
// seen once, a hostile or broken line — gets a plain dictionary object, as before.
// The objects have no Object.prototype behind them (their prototype is an empty object without
// one), so a field named `constructor` or `toString` is just a field, as with Object.create(null).

export type Fields = Record<string, string | null>;

/** How a value at a position of the sequence is decoded (parse.ts). */
export const PLAIN = 0;
/** Hex when it looks like hex (ENCODED_FIELDS, or an EXECVE argument). */
export const ENCODED = 1;
/** An EXECVE chunk (`a1[0]`): a quoted one keeps its quotes. */
export const CHUNK = 2;

export interface Shape {
  keys: string[];
  /** Each key with its "=": what the line must have at each token for this shape to fit. */
  assigns: string[];
  kinds: Uint8Array;
  build(values: Array<string | null>): Fields;
}

const MAX_SHAPES = 1000;
/** Sequences tried before a line's own keys are read out one by one, per record type. */
const RECENT_PER_TYPE = 4;
/** Printable ASCII without quotes or backslashes (a key never holds a space or "="). */
const SAFE_KEY = /^[!#-&(-[\]-~]{1,64}$/;

/** What every compiled object inherits: nothing (no constructor, no Object.prototype). */
const FIELDS_PROTO: object = Object.create(null) as object;

export class ShapeCache {
  private readonly compiled = new Map<string, Shape>();
  /** Sequences seen once (not compiled yet), bounded like the compiled ones. */
  private readonly seen = new Set<string>();
  private readonly recent = new Map<string, Shape[]>();

  /** The sequences most recently used for this record type (the first is tried first). */
  recentFor(type: string): Shape[] | undefined {
    return this.recent.get(type);
  }

  /** Marks `shape` as the most recently used for `type`. */
  use(type: string, shape: Shape): void {
    let list = this.recent.get(type);
    if (!list) {
      // Record types are a few dozen names; a stream of made-up ones must not grow this without bound.
      if (this.recent.size >= MAX_SHAPES) return;
      list = [];
      this.recent.set(type, list);
    }
    const at = list.indexOf(shape);
    if (at === 0) return;
    if (at > 0) list.splice(at, 1);
    list.unshift(shape);
    if (list.length > RECENT_PER_TYPE) list.pop();
  }

  /**
   * The compiled shape for these keys (unique, in line order), compiling it on its second
   * sighting; undefined while it is new, unsafe, or the cache is full.
   */
  lookup(keys: string[], kinds: Uint8Array): Shape | undefined {
    const id = `${kindsText(kinds)}:${keys.join("=")}`;
    const found = this.compiled.get(id);
    if (found) return found;
    if (this.compiled.size >= MAX_SHAPES || !keys.every((k) => SAFE_KEY.test(k) && k !== "__proto__")) return undefined;
    if (!this.seen.has(id)) {
      if (this.seen.size >= MAX_SHAPES) this.seen.clear();
      this.seen.add(id);
      return undefined;
    }
    this.seen.delete(id);
    const shape: Shape = { keys, assigns: keys.map((k) => `${k}=`), kinds, build: compile(keys) };
    this.compiled.set(id, shape);
    return shape;
  }
}

function kindsText(kinds: Uint8Array): string {
  let s = "";
  for (let i = 0; i < kinds.length; i++) s += kinds[i];
  return s;
}

function compile(keys: string[]): (values: Array<string | null>) => Fields {
  // Safe keys only, each as a JSON string literal (see the top of this file).
  const Ctor = new Function("v", keys.map((k, i) => `this[${JSON.stringify(k)}] = v[${i}];`).join("\n")) as unknown as { prototype: object; new (v: Array<string | null>): Fields };
  Ctor.prototype = FIELDS_PROTO;
  return (values) => new Ctor(values);
}
