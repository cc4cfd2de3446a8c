// STIX 2.1 bundles: indicator objects with pattern_type "stix". A pattern made only of equality
// comparisons joined by OR (inside one [ ] or across several) on an address, domain, URL or
// file hash gives one indicator per comparison; AND, FOLLOWEDBY, NOT, other operators and
// qualifiers cannot be matched against single entries and are skipped with a counted reason.

import { canonicalDomain, canonicalHash, canonicalNet, canonicalUrl, type Canon } from "../canonical.js";
import { FeedBuilder, parseJsonDocument, type ParsedFeed } from "./result.js";

type Token = { t: "str"; v: string } | { t: "word"; v: string } | { t: "punct"; v: string };

function tokenize(pattern: string): Token[] | undefined {
  const out: Token[] = [];
  let i = 0;
  while (i < pattern.length) {
    const c = pattern[i]!;
    if (/\s/.test(c)) {
      i++;
    } else if (c === "'") {
      let v = "";
      i++;
      for (;;) {
        if (i >= pattern.length) return undefined;
        if (pattern[i] === "\\" && i + 1 < pattern.length) {
          v += pattern[i + 1];
          i += 2;
        } else if (pattern[i] === "'") {
          i++;
          break;
        } else v += pattern[i++];
      }
      out.push({ t: "str", v });
    } else if ("[]()".includes(c)) {
      out.push({ t: "punct", v: c });
      i++;
    } else if (c === "!" || c === "<" || c === ">" || c === "=") {
      const two = pattern.slice(i, i + 2);
      const op = ["!=", "<=", ">="].includes(two) ? two : c;
      out.push({ t: "punct", v: op });
      i += op.length;
    } else {
      const end = wordEnd(pattern, i);
      if (end === i) return undefined;
      out.push({ t: "word", v: pattern.slice(i, end) });
      i = end;
    }
  }
  return out;
}

/** Where a word (an object path like file:hashes.'SHA-256' or a[*].b, or a keyword) ends. */
function wordEnd(pattern: string, start: number): number {
  let i = start;
  while (i < pattern.length) {
    const c = pattern[i]!;
    if (/[A-Za-z0-9_:.-]/.test(c)) i++;
    else if (c === "[" && /^\[(\*|\d+)\]/.test(pattern.slice(i))) i = pattern.indexOf("]", i) + 1;
    else if (c === "'" && pattern[i - 1] === "." ) {
      const close = pattern.indexOf("'", i + 1);
      if (close < 0) return i;
      i = close + 1;
    } else break;
  }
  return i;
}

export interface Comparison {
  path: string;
  value: string;
}

/** The equality comparisons of an OR-only pattern, or why the pattern cannot be used. */
export function orComparisons(pattern: string): Comparison[] | { skip: string } {
  const tokens = tokenize(pattern);
  if (!tokens) return { skip: "pattern does not tokenize" };
  const out: Comparison[] = [];
  let i = 0;
  let expectComparison = true;
  while (i < tokens.length) {
    const tok = tokens[i]!;
    if (tok.t === "punct" && "[]()".includes(tok.v)) {
      i++;
      continue;
    }
    if (tok.t === "word" && /^(AND|FOLLOWEDBY|NOT)$/i.test(tok.v)) return { skip: `complex pattern (${tok.v.toUpperCase()})` };
    if (tok.t === "word" && /^(WITHIN|REPEATS|START|STOP)$/i.test(tok.v)) return { skip: `complex pattern (${tok.v.toUpperCase()} qualifier)` };
    if (tok.t === "word" && /^OR$/i.test(tok.v)) {
      if (expectComparison) return { skip: "pattern does not parse" };
      expectComparison = true;
      i++;
      continue;
    }
    if (tok.t === "word" && expectComparison) {
      const op = tokens[i + 1];
      const val = tokens[i + 2];
      if (!op || !val) return { skip: "pattern does not parse" };
      const opText = op.v.toUpperCase();
      const subset = opText === "ISSUBSET" && /^ipv[46]-addr:value$/.test(tok.v);
      if (opText !== "=" && !subset) return { skip: `complex pattern (${opText})` };
      if (val.t !== "str") return { skip: "pattern does not parse" };
      out.push({ path: tok.v, value: val.v });
      expectComparison = false;
      i += 3;
      continue;
    }
    return { skip: "pattern does not parse" };
  }
  if (out.length === 0 || expectComparison) return { skip: "pattern does not parse" };
  return out;
}

/** What a comparison's object path means for hv, or undefined when hv cannot match it. */
function canonFor(path: string, value: string): { canon: Canon; meta?: Record<string, string> } | undefined {
  switch (path) {
    case "ipv4-addr:value":
    case "ipv6-addr:value":
    case "network-traffic:dst_ref.value":
    case "network-traffic:src_ref.value":
      return { canon: canonicalNet(value) };
    case "domain-name:value":
      return { canon: canonicalDomain(value) };
    case "url:value":
      return { canon: canonicalUrl(value) };
  }
  const hash = /^file:hashes\.'?([A-Za-z0-9-]+)'?$/.exec(path);
  if (hash && /^(md5|sha-?1|sha-?256|sha-?512)$/i.test(hash[1]!)) return { canon: canonicalHash(value) };
  return undefined;
}

/** A bundle ({"type":"bundle","objects":[…]}), a bare array of objects, or one indicator. */
export function parseStix(text: string, source: string, now = Date.now()): ParsedFeed {
  const b = new FeedBuilder("stix", source);
  const parsed = parseJsonDocument(b, text);
  if (!parsed) return b.done();
  const { doc } = parsed;
  const objects: unknown[] = Array.isArray(doc) ? doc : Array.isArray((doc as { objects?: unknown })?.objects) ? (doc as { objects: unknown[] }).objects : [doc];
  for (const obj of objects) {
    if (typeof obj !== "object" || obj === null) {
      b.reject(String(obj), "STIX object is not an object");
      continue;
    }
    const o = obj as Record<string, unknown>;
    if (o.type !== "indicator") {
      b.skip(`STIX ${String(o.type)} object`);
      continue;
    }
    addIndicator(b, o, now);
  }
  return b.done();
}

function addIndicator(b: FeedBuilder, o: Record<string, unknown>, now: number): void {
  const id = typeof o.id === "string" ? o.id : "(no id)";
  if (o.revoked === true) return b.skip("revoked");
  if (typeof o.valid_until === "string" && Date.parse(o.valid_until) < now) return b.skip("expired (valid_until passed)");
  if (o.pattern_type !== undefined && o.pattern_type !== "stix") return b.skip(`pattern_type ${String(o.pattern_type)}`);
  if (typeof o.pattern !== "string") return b.reject(id, "indicator without a pattern");
  const comps = orComparisons(o.pattern);
  if ("skip" in comps) return b.skip(comps.skip);
  const meta: Record<string, string> = { stix_id: id };
  if (typeof o.name === "string") meta.name = o.name.slice(0, 200);
  const types = Array.isArray(o.indicator_types) ? o.indicator_types : Array.isArray(o.labels) ? o.labels : [];
  if (types.length > 0) meta.types = types.join(",");
  if (typeof o.confidence === "number") meta.confidence = String(o.confidence);
  if (typeof o.valid_until === "string") meta.valid_until = o.valid_until;
  let usable = 0;
  for (const c of comps) {
    const target = canonFor(c.path, c.value);
    if (!target) continue;
    usable++;
    b.add(target.canon, c.value, undefined, { ...meta, ...target.meta });
  }
  if (usable === 0) b.skip(`pattern on ${[...new Set(comps.map((c) => c.path))].join(", ")} not matchable`);
}
