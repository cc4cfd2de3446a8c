// The condition expression of a Sigma detection: `and`, `or`, `not`, parentheses, `1 of X*`,
// `all of X*`, `1 of them`, `all of them`. Precedence: not > and > or. Aggregations after `|`
// (the deprecated `| count() > n`) and `any of` are rejected with a reason.

import { globMatcher, STAR, type Glob } from "../../events/glob.js";

export type Cond =
  | { op: "and" | "or"; args: Cond[] }
  | { op: "not"; arg: Cond }
  | { op: "id"; name: string }
  | { op: "of"; all: boolean; pattern: string };

export class ConditionError extends Error {}

function tokenize(src: string): string[] {
  const tokens: string[] = [];
  const re = /\s*(\(|\)|\||[^\s()|]+)/gy;
  let m: RegExpExecArray | null;
  let pos = 0;
  while ((m = re.exec(src)) !== null) {
    tokens.push(m[1]!);
    pos = re.lastIndex;
  }
  if (src.slice(pos).trim() !== "") throw new ConditionError(`cannot read condition at '${src.slice(pos)}'`);
  return tokens;
}

export function parseCondition(src: string): Cond {
  const tokens = tokenize(src);
  if (tokens.includes("|")) throw new ConditionError("aggregation after '|' in a condition is deprecated Sigma; use a correlation rule");
  let i = 0;
  const peek = (): string | undefined => tokens[i]?.toLowerCase();
  const next = (): string => {
    const t = tokens[i++];
    if (t === undefined) throw new ConditionError(`condition '${src}' ends too early`);
    return t;
  };
  const parseOr = (): Cond => {
    const args = [parseAnd()];
    while (peek() === "or") {
      i++;
      args.push(parseAnd());
    }
    return args.length === 1 ? args[0]! : { op: "or", args };
  };
  const parseAnd = (): Cond => {
    const args = [parseNot()];
    while (peek() === "and") {
      i++;
      args.push(parseNot());
    }
    return args.length === 1 ? args[0]! : { op: "and", args };
  };
  const parseNot = (): Cond => {
    if (peek() === "not") {
      i++;
      return { op: "not", arg: parseNot() };
    }
    return parseAtom();
  };
  const parseAtom = (): Cond => {
    const t = next();
    const lower = t.toLowerCase();
    if (t === "(") {
      const inner = parseOr();
      if (next() !== ")") throw new ConditionError(`missing ')' in condition '${src}'`);
      return inner;
    }
    if (t === ")" || ["and", "or", "not", "of"].includes(lower)) throw new ConditionError(`unexpected '${t}' in condition '${src}'`);
    if (peek() === "of") {
      i++;
      if (lower === "any") throw new ConditionError("'any of' is not Sigma; use '1 of'");
      if (lower !== "1" && lower !== "all") throw new ConditionError(`'${t} of' is not Sigma; only '1 of' and 'all of' are`);
      const target = next();
      if (["(", ")", "and", "or", "not"].includes(target.toLowerCase())) throw new ConditionError(`'${t} of' needs a name pattern or 'them'`);
      return { op: "of", all: lower === "all", pattern: target.toLowerCase() === "them" ? "them" : target };
    }
    return { op: "id", name: t };
  };
  const tree = parseOr();
  if (i < tokens.length) throw new ConditionError(`unexpected '${tokens[i]}' in condition '${src}'`);
  return tree;
}

/** Names a `1 of`/`all of` pattern selects; `them` is every search except `_`-prefixed ones. */
export function expandPattern(pattern: string, names: string[]): string[] {
  if (pattern === "them") return names.filter((n) => !n.startsWith("_"));
  // Only `*` is a wildcard here; a `?` in a search name is literal.
  const glob = pattern.split("*").flatMap((s, i): Glob => (i === 0 ? [s] : [STAR, s]));
  const test = globMatcher(glob);
  return names.filter((n) => test(n));
}

/** Every search name the condition refers to must exist; every pattern must select one. */
export function checkReferences(c: Cond, names: string[]): void {
  if (c.op === "id") {
    if (!names.includes(c.name)) throw new ConditionError(`condition refers to '${c.name}', which the detection does not define`);
  } else if (c.op === "of") {
    if (expandPattern(c.pattern, names).length === 0) throw new ConditionError(`'${c.all ? "all" : "1"} of ${c.pattern}' matches no search in the detection`);
  } else if (c.op === "not") checkReferences(c.arg, names);
  else for (const a of c.args) checkReferences(a, names);
}
