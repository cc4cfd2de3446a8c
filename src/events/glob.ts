// The one glob matcher (Sigma wildcards, exception and playbook rule globs, condition patterns):
// `*` any run of characters, `?` one character, everything else literal. Globs are not regular
// expressions and are never turned into one: a backtracking RegExp for `*a*a*a*c` takes
// exponential time on a long value an attacker chooses. Here the pattern is split at its stars
// into segments; the first is anchored at the start, the last at the end, and each one between
// is placed at its leftmost occurrence after the previous one (leftmost leaves the most room for
// the rest, so one pass decides the match). Worst case O(value length × pattern length).

export const STAR = 0;
export const QMARK = 1;
/** A parsed glob: literal chunks and wildcards. */
export type Glob = Array<string | typeof STAR | typeof QMARK>;
/** Literal chunks and `?` between two stars. */
type Segment = Array<string | typeof QMARK>;

/**
 * `*` and `?` are wildcards. With `escapes` (Sigma's rule), a backslash before `*`, `?` or `\`
 * makes that character literal, and any other backslash stays a backslash.
 */
export function parseGlob(text: string, escapes: boolean): Glob {
  const out: Glob = [];
  let lit = "";
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (escapes && c === "\\" && i + 1 < text.length && "*?\\".includes(text[i + 1]!)) {
      lit += text[++i];
    } else if (c === "*" || c === "?") {
      if (lit) out.push(lit);
      lit = "";
      out.push(c === "*" ? STAR : QMARK);
    } else lit += c;
  }
  if (lit) out.push(lit);
  return out;
}

/** A test of whole values against a parsed glob (exact case: lower-case both sides to ignore it). */
export function globMatcher(glob: Glob): (value: string) => boolean {
  const parts: Glob = [];
  for (const x of glob) {
    const prev = parts[parts.length - 1];
    if (x === STAR && prev === STAR) continue;
    // Adjacent literal chunks (from callers that build globs) are one chunk.
    if (typeof x === "string" && typeof prev === "string") parts[parts.length - 1] = prev + x;
    else if (x !== "") parts.push(x);
  }
  // The shapes nearly every rule uses are one string operation.
  if (!parts.includes(QMARK)) {
    const stars = parts.filter((x) => x === STAR).length;
    const lead = parts[0] === STAR;
    const trail = parts.length > 1 && parts[parts.length - 1] === STAR;
    const lit = parts.find((x): x is string => typeof x === "string") ?? "";
    if (parts.length === 0) return (v) => v === "";
    if (stars === 0) return (v) => v === lit;
    if (parts.length === 1) return () => true;
    if (stars === 1 && lead) return (v) => v.endsWith(lit);
    if (stars === 1 && trail) return (v) => v.startsWith(lit);
    if (stars === 2 && lead && trail && parts.length === 3) return (v) => v.includes(lit);
    // Stars between literals: a prefix, literals in order, a suffix.
    const lits = [""];
    for (const x of parts) {
      if (x === STAR) lits.push("");
      else lits.push(lits.pop()! + x);
    }
    const head = lits[0]!;
    const tail = lits[lits.length - 1]!;
    const mids = lits.slice(1, -1).filter((x) => x !== "");
    return (v) => {
      if (!v.startsWith(head)) return false;
      let pos = head.length;
      for (let k = 0; k < mids.length; k++) {
        const i = v.indexOf(mids[k]!, pos);
        if (i < 0) return false;
        pos = i + mids[k]!.length;
      }
      return v.length - tail.length >= pos && v.endsWith(tail);
    };
  }
  const segments: Segment[] = [[]];
  for (const x of parts) {
    if (x === STAR) segments.push([]);
    else segments[segments.length - 1]!.push(x);
  }
  const first = segments[0]!;
  if (segments.length === 1) return (v) => matchAt(first, v, 0) === v.length;
  const middle = segments.slice(1, -1).filter((s) => s.length > 0);
  const last = segments[segments.length - 1]!;
  return (v) => {
    let pos = matchAt(first, v, 0);
    for (let k = 0; k < middle.length && pos >= 0; k++) pos = findFrom(middle[k]!, v, pos);
    return pos >= 0 && endsWith(last, v, pos);
  };
}

/** `glob` (no escapes) against whole values; case-insensitive unless `cased`. */
export function globTest(glob: string, cased = false): (value: string) => boolean {
  const m = globMatcher(parseGlob(cased ? glob : glob.toLowerCase(), false));
  return cased ? m : (v) => m(v.toLowerCase());
}

// `?` is one character: one UTF-16 unit, or two for a surrogate pair (as a /u RegExp reads it).
const isHigh = (c: number): boolean => c >= 0xd800 && c <= 0xdbff;
const isLow = (c: number): boolean => c >= 0xdc00 && c <= 0xdfff;
/** Does a character start at `i` (not the second half of a surrogate pair)? */
const startsChar = (v: string, i: number): boolean => i === 0 || !(isLow(v.charCodeAt(i)) && isHigh(v.charCodeAt(i - 1)));

/** The end of `seg` matched exactly at `i`, or -1. */
function matchAt(seg: Segment, v: string, i: number): number {
  for (let k = 0; k < seg.length; k++) {
    const x = seg[k]!;
    if (x === QMARK) {
      if (i >= v.length) return -1;
      i += isHigh(v.charCodeAt(i)) && i + 1 < v.length && isLow(v.charCodeAt(i + 1)) ? 2 : 1;
    } else if (v.startsWith(x, i)) i += x.length;
    else return -1;
  }
  return i;
}

/** The end of the leftmost match of `seg` at or after `from`, or -1. */
function findFrom(seg: Segment, v: string, from: number): number {
  const head = seg[0]!;
  if (head !== QMARK) {
    // Candidates are where the leading literal occurs (indexOf is the fast native search).
    for (let i = v.indexOf(head, from); i >= 0; i = v.indexOf(head, i + 1)) {
      const end = matchAt(seg, v, i);
      if (end >= 0) return end;
    }
    return -1;
  }
  for (let i = from; i < v.length; i++) {
    if (!startsChar(v, i)) continue;
    const end = matchAt(seg, v, i);
    if (end >= 0) return end;
  }
  return -1;
}

/** Does `seg` match a suffix of `v` that starts at or after `from`? */
function endsWith(seg: Segment, v: string, from: number): boolean {
  if (seg.length === 0) return true;
  let lits = 0;
  let qmarks = 0;
  for (const x of seg) {
    if (x === QMARK) qmarks++;
    else lits += x.length;
  }
  // Each `?` takes one or two units, so only qmarks + 1 starting points can end exactly at the end.
  for (let i = Math.max(from, v.length - lits - 2 * qmarks); i <= v.length - lits - qmarks; i++) {
    if (startsChar(v, i) && matchAt(seg, v, i) === v.length) return true;
  }
  return false;
}
