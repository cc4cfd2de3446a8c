// Sigma string values: wildcards (`*` any run, `?` one character, `\` escapes `*`, `?` and `\`)
// compiled into the cheapest test that decides them. A value with wildcards only at its ends is
// a plain string operation (equals / startsWith / endsWith / includes) on a lower-cased value;
// only inner wildcards become a RegExp.

export const STAR = 0;
export const QMARK = 1;
/** A parsed value: literal chunks and wildcards. */
export type Pattern = Array<string | typeof STAR | typeof QMARK>;

export function parseWildcards(s: string): Pattern {
  const out: Pattern = [];
  let lit = "";
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (c === "\\" && i + 1 < s.length && "*?\\".includes(s[i + 1]!)) {
      lit += s[++i];
    } else if (c === "*" || c === "?") {
      if (lit) out.push(lit);
      lit = "";
      out.push(c === "*" ? STAR : QMARK);
    } else lit += c;
  }
  if (lit) out.push(lit);
  return out;
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
  const parts: Pattern = [];
  for (const x of p) if (!(x === STAR && parts[parts.length - 1] === STAR)) parts.push(x);
  const norm = (s: string): string => (cased ? s : s.toLowerCase());
  const pick = (raw: string, lower: string): string => (cased ? raw : lower);
  const inner = parts.slice(1, -1);
  const innerWild = inner.some((x) => typeof x !== "string") || parts.includes(QMARK);
  if (!innerWild) {
    const first = parts[0];
    const last = parts[parts.length - 1];
    const lead = first === STAR;
    const trail = last === STAR && parts.length > 1;
    const lits = parts.filter((x): x is string => typeof x === "string");
    const lit = norm(lits.join(""));
    if (parts.length === 0) return (raw) => raw === "";
    if (parts.length === 1 && lead) return () => true;
    if (lead && trail) return (raw, lower) => pick(raw, lower).includes(lit);
    if (lead) return (raw, lower) => pick(raw, lower).endsWith(lit);
    if (trail) return (raw, lower) => pick(raw, lower).startsWith(lit);
    return (raw, lower) => pick(raw, lower) === lit;
  }
  let src = "^";
  for (const x of parts) src += x === STAR ? "[\\s\\S]*" : x === QMARK ? "[\\s\\S]" : escapeRegExp(norm(x));
  const re = new RegExp(src + "$", "u");
  return (raw, lower) => re.test(pick(raw, lower));
}

export function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
}

/**
 * The literal the event text must contain for this pattern to match, for prefiltering: the
 * longest literal chunk, lower-cased and JSON-escaped (the event text is lower-cased JSON).
 * Undefined when there is none, or it holds non-ASCII (lower-casing is not always substring-safe).
 */
export function requiredLiteral(p: Pattern): string | undefined {
  let best = "";
  for (const x of p) if (typeof x === "string" && x.length > best.length) best = x;
  if (!best || /[^\x00-\x7f]/.test(best)) return undefined;
  return JSON.stringify(best.toLowerCase()).slice(1, -1);
}
