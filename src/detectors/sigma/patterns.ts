// Sigma string values: wildcards (`*` any run, `?` one character, `\` escapes `*`, `?` and `\`),
// matched by the one linear-time glob matcher (src/events/glob.ts) on the value, or on its
// lower-cased twin (computed once per event) unless the rule says `cased`.

import { globMatcher, parseGlob, STAR, type Glob } from "../../events/glob.js";

/** A parsed value: literal chunks and wildcards. */
export type Pattern = Glob;

export function parseWildcards(s: string): Pattern {
  return parseGlob(s, true);
}

export function literal(s: string): Pattern {
  return s ? [s] : [];
}

export function hasWildcards(p: Pattern): boolean {
  return p.some((x) => typeof x !== "string");
}

/** contains / startswith / endswith: wildcards added around the value. */
export function wrap(p: Pattern, before: boolean, after: boolean): Pattern {
  const out: Pattern = [...p];
  if (before && out[0] !== STAR) out.unshift(STAR);
  if (after && out[out.length - 1] !== STAR) out.push(STAR);
  return out;
}

/** Tests one raw value (and its lower-cased twin, computed once per event). */
export type StringTest = (raw: string, lower: string) => boolean;

export function compilePattern(p: Pattern, cased: boolean): StringTest {
  if (cased) {
    const m = globMatcher(p);
    return (raw) => m(raw);
  }
  const m = globMatcher(p.map((x) => (typeof x === "string" ? x.toLowerCase() : x)));
  return (_raw, lower) => m(lower);
}

/**
 * The literal a value must contain (ignoring case) for this pattern to match it, for prefiltering:
 * the longest literal chunk, lower-cased. Undefined when there is none, or it holds non-ASCII
 * (lower-casing is not always substring-safe there).
 */
export function requiredLiteral(p: Pattern): string | undefined {
  let best = "";
  for (const x of p) if (typeof x === "string" && x.length > best.length) best = x;
  if (!best || /[^\x00-\x7f]/.test(best)) return undefined;
  return best.toLowerCase();
}
