// One detection item (`Field|mod|mod: value(s)`) compiled into a closure over the per-event
// context, plus the literals a matching event must contain (for the prefilter).
// Semantics follow the Sigma modifiers appendix (v2.1): values OR'ed (AND with `all`),
// case-insensitive unless `cased` (or `re` without `i`), encodings applied in the order written.

import { inNetwork, parseCidr } from "./cidr.js";
import { GatedLiterals, type EvalContext, type FieldAccessor, type Values } from "./context.js";
import { compileRegex } from "./regex.js";
import { STAR } from "../../events/glob.js";
import { compilePattern, hasWildcards, literal, parseWildcards, requiredLiteral, wrap, type Pattern, type StringTest } from "./patterns.js";

/** A YAML scalar from a rule. Numbers keep their source text (`0x1f`, `0777` stay as written). */
export type SigmaValue = string | SigmaNumber | boolean | null;
export interface SigmaNumber {
  num: number;
  text: string;
}

export function isNumber(v: SigmaValue): v is SigmaNumber {
  return typeof v === "object" && v !== null;
}

export function valueText(v: SigmaValue): string {
  if (v === null) return "";
  if (isNumber(v)) return v.text;
  return String(v);
}

/**
 * A literal (lower-case ASCII) a field's values must contain for a test to pass: `field`
 * undefined means the keyword search's values (every value of the event).
 */
export interface Literal {
  field?: FieldAccessor;
  text: string;
}

/**
 * What an event must have for a test to pass, as clauses that must all hold, each an OR of
 * literals (one of which the event must contain where it says); null = no such requirement.
 */
export type Requirement = Literal[][] | null;

/** Clauses kept per rule: the prefilter tests them in order and stops at the first that fails. */
const MAX_CLAUSES = 4;

export interface CompiledTest {
  test(ctx: EvalContext): boolean;
  need: Requirement;
}

export interface CompileEnv {
  /** The accessor for a field, or why the field cannot be supported. */
  resolve(field: string): FieldAccessor | { unsupported: string };
  /** Values for `expand` placeholders (`%name%`), from configuration. */
  placeholders?: Record<string, string[]>;
}

export const KNOWN_MODIFIERS = new Set([
  "contains", "startswith", "endswith", "all", "re", "i", "m", "s", "base64", "base64offset", "windash",
  "cidr", "lt", "lte", "gt", "gte", "exists", "cased", "fieldref", "neq", "expand",
  "utf16le", "utf16be", "utf16", "wide", "minute", "hour", "day", "week", "month", "year",
]);

const TIME_PARTS = new Set(["minute", "hour", "day", "week", "month", "year"]);
const WINDASH = ["-", "/", "\u2013", "\u2014", "\u2015"];
const MAX_WINDASH_VARIANTS = 3125;

type Unsupported = { unsupported: string };
const no = (unsupported: string): Unsupported => ({ unsupported });

/** Compiles `field|mods: values`; `field` undefined means a keyword search over the event's text. */
export function compileFieldTest(field: string | undefined, modifiers: string[], values: SigmaValue[], env: CompileEnv): CompiledTest | Unsupported {
  for (const m of modifiers) if (!KNOWN_MODIFIERS.has(m)) return no(`unknown modifier '${m}'${field ? ` on field '${field}'` : ""}`);
  const mods = new Set(modifiers);
  for (const m of ["utf16le", "utf16be", "utf16", "wide"]) {
    if (mods.has(m)) return no(`modifier '${m}': UTF-16 encodings describe Windows data; hv's Linux events carry UTF-8 text`);
  }
  for (const m of modifiers) if (TIME_PARTS.has(m)) return no(`time modifier '${m}' is not supported yet`);
  if ((mods.has("i") || mods.has("m") || mods.has("s")) && !mods.has("re")) return no("modifiers 'i', 'm', 's' are only valid after 're'");

  let read: (ctx: EvalContext) => Values | undefined;
  let derived = false;
  let site: FieldAccessor | undefined;
  if (field === undefined) read = (ctx) => ctx.keywords();
  else {
    const acc = env.resolve(field);
    if ("unsupported" in acc) return acc;
    read = (ctx) => ctx.get(acc);
    derived = acc.derived === true;
    site = acc;
  }

  let compiled: CompiledTest | Unsupported;
  if (mods.has("exists")) compiled = existsTest(read, values);
  else if (mods.has("fieldref")) compiled = fieldrefTest(read, values, env, mods.has("cased"));
  else if (mods.has("cidr")) compiled = cidrTest(read, values, mods.has("all"));
  else if (["lt", "lte", "gt", "gte"].some((m) => mods.has(m))) compiled = numericTest(read, values, modifiers);
  else if (mods.has("re")) compiled = regexTest(read, values, mods);
  else compiled = stringTest(read, site, values, modifiers, env);
  if ("unsupported" in compiled) return compiled;
  if (derived) compiled = { test: compiled.test, need: null };
  if (mods.has("neq")) {
    const inner = compiled.test;
    return { test: (ctx) => read(ctx) !== undefined && !inner(ctx), need: null };
  }
  return compiled;
}

function anyValue(vals: Values | undefined, t: StringTest): boolean {
  if (vals === undefined) return false;
  for (let i = 0; i < vals.raw.length; i++) if (t(vals.raw[i]!, vals.lower[i]!)) return true;
  return false;
}

/** Null in Sigma: the field is absent, or empty. */
function isNull(vals: Values | undefined): boolean {
  return vals === undefined || vals.raw.every((v) => v === "");
}

function combine(tests: Array<(ctx: EvalContext) => boolean>, all: boolean): (ctx: EvalContext) => boolean {
  if (tests.length === 1) return tests[0]!;
  return all ? (ctx) => tests.every((t) => t(ctx)) : (ctx) => tests.some((t) => t(ctx));
}

/** Plain strings, numbers and booleans through the transformation modifiers, then wildcard matching. */
/** `site`: the field read, or undefined for a keyword search. */
function stringTest(read: (ctx: EvalContext) => Values | undefined, site: FieldAccessor | undefined, values: SigmaValue[], modifiers: string[], env: CompileEnv): CompiledTest | Unsupported {
  const keyword = site === undefined;
  const all = modifiers.includes("all");
  let cased = modifiers.includes("cased");
  const perValue: Array<(ctx: EvalContext) => boolean> = [];
  const needs: Requirement[] = [];
  for (const v of values) {
    if (v === null) {
      perValue.push((ctx) => isNull(read(ctx)));
      needs.push(null);
      continue;
    }
    // Numbers and booleans are compared as the text the rule wrote; `a0: 2` matches "2".
    let alts: Pattern[] = [typeof v === "string" ? parseWildcards(v) : literal(valueText(v))];
    let before = keyword;
    let after = keyword;
    for (const m of modifiers) {
      if (m === "contains") before = after = true;
      else if (m === "startswith") after = true;
      else if (m === "endswith") before = true;
      else if (m === "windash") {
        alts = alts.flatMap(windash);
        if (alts.length > MAX_WINDASH_VARIANTS) return no("windash: too many dash characters in one value");
      } else if (m === "expand") {
        const expanded = expand(alts, env.placeholders);
        if ("unsupported" in expanded) return expanded;
        alts = expanded;
      } else if (m === "base64" || m === "base64offset") {
        const out: Pattern[] = [];
        for (const p of alts) {
          if (hasWildcards(p)) return no(`modifier '${m}' cannot encode a value with wildcards`);
          const text = p.join("");
          if (m === "base64") out.push(literal(Buffer.from(text, "utf8").toString("base64")));
          else for (const enc of base64Offsets(text)) out.push(literal(enc));
        }
        alts = out;
        // Base64 text is case-sensitive: "QQ" and "qq" decode to different bytes.
        cased = true;
        // base64offset values appear inside a longer encoded string.
        if (m === "base64offset") before = after = true;
      }
    }
    const tests = alts.map((p) => compilePattern(wrap(p, before, after), cased));
    const valueTest: StringTest = tests.length === 1 ? tests[0]! : (raw, lower) => tests.some((t) => t(raw, lower));
    const num = isNumber(v) && Number.isFinite(v.num) ? v.num : undefined;
    const lits = alts.map((p) => requiredLiteral(p));
    const need: Literal[] | undefined = num === undefined && lits.every((l) => l !== undefined) ? (lits as string[]).map((text) => (site ? { field: site, text } : { text })) : undefined;
    if (num !== undefined) perValue.push((ctx) => anyValue(read(ctx), (raw, lower) => valueTest(raw, lower) || (raw !== "" && Number(raw) === num)));
    else if (need === undefined) perValue.push((ctx) => anyValue(read(ctx), valueTest));
    else {
      // When the detector already knows none of the literals is in the field, no value can match.
      const gated = new GatedLiterals(need.map(literalKey));
      perValue.push((ctx) => gated.mayMatch(ctx) && anyValue(read(ctx), valueTest));
    }
    needs.push(need ? [need] : null);
  }
  if (perValue.length === 0) return no("a field with an empty list of values");
  return { test: combine(perValue, all), need: all ? allOf(needs) : anyOf(needs) };
}

/** All permutations of the five dash characters at every dash position. */
function windash(p: Pattern): Pattern[] {
  let out: Pattern[] = [[]];
  for (const part of p) {
    if (typeof part !== "string") {
      out = out.map((q) => [...q, part]);
      continue;
    }
    let texts = [""];
    for (const c of part) {
      const options = WINDASH.includes(c) ? WINDASH : [c];
      texts = texts.flatMap((t) => options.map((o) => t + o));
      if (texts.length > MAX_WINDASH_VARIANTS) break;
    }
    out = out.flatMap((q) => texts.map((t) => [...q, t]));
  }
  return out;
}

/**
 * A value inside base64 text at each of the three byte offsets: encode it behind 0, 1 and 2
 * padding bytes, then drop the leading characters the padding influenced and the trailing ones
 * the following (unknown) bytes would influence.
 */
export function base64Offsets(value: string): string[] {
  const bytes = Buffer.from(value, "utf8");
  const out: string[] = [];
  for (let shift = 0; shift < 3; shift++) {
    const enc = Buffer.concat([Buffer.alloc(shift, 0x20), bytes]).toString("base64");
    const lead = [0, 2, 3][shift]!;
    const rem = (shift + bytes.length) % 3;
    const trail = rem === 0 ? 0 : rem === 1 ? 3 : 2;
    out.push(enc.slice(lead, enc.length - trail));
  }
  return out;
}

function expand(alts: Pattern[], placeholders: Record<string, string[]> | undefined): Pattern[] | Unsupported {
  const out: Pattern[] = [];
  for (const p of alts) {
    // Back to Sigma text (escaping literal wildcards) so the placeholders' values may hold wildcards.
    const text = p.map((x) => (typeof x === "string" ? x.replace(/[*?\\]/g, "\\$&") : x === STAR ? "*" : "?")).join("");
    const names = [...text.matchAll(/%([^%]+)%/g)].map((m) => m[1]!);
    if (names.length === 0) {
      out.push(p);
      continue;
    }
    let texts = [text];
    for (const name of names) {
      const values = placeholders?.[name];
      if (!values) return no(`placeholder '%${name}%' (modifier 'expand') has no values configured`);
      texts = texts.flatMap((t) => values.map((v) => t.replace(`%${name}%`, v)));
    }
    out.push(...texts.map(parseWildcards));
  }
  return out;
}

function existsTest(read: (ctx: EvalContext) => Values | undefined, values: SigmaValue[]): CompiledTest | Unsupported {
  const v = values[0];
  if (values.length !== 1 || typeof v !== "boolean") return no("modifier 'exists' takes one boolean value");
  return { test: (ctx) => (read(ctx) !== undefined) === v, need: null };
}

function fieldrefTest(read: (ctx: EvalContext) => Values | undefined, values: SigmaValue[], env: CompileEnv, cased: boolean): CompiledTest | Unsupported {
  const tests: Array<(ctx: EvalContext) => boolean> = [];
  for (const v of values) {
    if (typeof v !== "string") return no("modifier 'fieldref' takes field names");
    const other = env.resolve(v);
    if ("unsupported" in other) return no(`fieldref to '${v}': ${other.unsupported}`);
    tests.push((ctx) => {
      const a = read(ctx);
      const b = ctx.get(other);
      if (!a || !b) return false;
      const xs = cased ? a.raw : a.lower;
      const ys = cased ? b.raw : b.lower;
      return xs.some((x) => ys.includes(x));
    });
  }
  return { test: combine(tests, false), need: null };
}

function cidrTest(read: (ctx: EvalContext) => Values | undefined, values: SigmaValue[], all: boolean): CompiledTest | Unsupported {
  const tests: Array<(ctx: EvalContext) => boolean> = [];
  for (const v of values) {
    const net = typeof v === "string" ? parseCidr(v) : undefined;
    if (!net) return no(`'${valueText(v)}' is not a CIDR network (modifier 'cidr')`);
    tests.push((ctx) => read(ctx)?.raw.some((x) => inNetwork(net, x)) ?? false);
  }
  return { test: combine(tests, all), need: null };
}

function numericTest(read: (ctx: EvalContext) => Values | undefined, values: SigmaValue[], modifiers: string[]): CompiledTest | Unsupported {
  const op = modifiers.find((m) => m === "lt" || m === "lte" || m === "gt" || m === "gte")!;
  const cmp = { lt: (a: number, b: number) => a < b, lte: (a: number, b: number) => a <= b, gt: (a: number, b: number) => a > b, gte: (a: number, b: number) => a >= b }[op];
  const tests: Array<(ctx: EvalContext) => boolean> = [];
  for (const v of values) {
    const n = isNumber(v) ? v.num : typeof v === "string" && v.trim() !== "" ? Number(v) : NaN;
    if (!Number.isFinite(n)) return no(`modifier '${op}' needs a number, got '${valueText(v)}'`);
    tests.push((ctx) => read(ctx)?.raw.some((x) => x.trim() !== "" && cmp(Number(x), n)) ?? false);
  }
  return { test: combine(tests, modifiers.includes("all")), need: null };
}

function regexTest(read: (ctx: EvalContext) => Values | undefined, values: SigmaValue[], mods: Set<string>): CompiledTest | Unsupported {
  for (const m of mods) if (!["re", "i", "m", "s", "all", "neq"].includes(m)) return no(`modifier '${m}' cannot be combined with 're'`);
  const tests: Array<(ctx: EvalContext) => boolean> = [];
  for (const v of values) {
    if (typeof v !== "string") return no("modifier 're' takes string values");
    const re = compileRegex(v, { i: mods.has("i"), m: mods.has("m"), s: mods.has("s") });
    if (typeof re !== "function") return re;
    tests.push((ctx) => read(ctx)?.raw.some((x) => re(x)) ?? false);
  }
  return { test: combine(tests, mods.has("all")), need: null };
}

/** OR of requirements: every branch must have one; the strongest clause of each is pooled into one. */
export function anyOf(needs: Requirement[]): Requirement {
  if (needs.length === 0 || needs.some((n) => n === null)) return null;
  const pooled = new Map<string, Literal>();
  for (const n of needs) for (const l of n![0]!) pooled.set(literalKey(l), l);
  return [[...pooled.values()]];
}

/** AND of requirements: every clause of each is necessary; the strongest few are kept, strongest first. */
export function allOf(needs: Requirement[]): Requirement {
  const clauses = new Map<string, Literal[]>();
  for (const n of needs) for (const c of n ?? []) clauses.set(c.map(literalKey).sort().join("\u0001"), c);
  if (clauses.size === 0) return null;
  return [...clauses.values()].sort((a, b) => strength(b) - strength(a)).slice(0, MAX_CLAUSES);
}

/** A literal's identity: its field's accessor key ("" for the keyword search) and its text. */
export function literalKey(l: Literal): string {
  return `${l.field?.key ?? ""}\u0000${l.text}`;
}

/** The weakest literal of an OR decides how often it passes; fewer alternatives is cheaper. */
function strength(clause: Literal[]): number {
  return Math.min(...clause.map((l) => l.text.length)) * 100 - clause.length;
}
