// Sigma's `|re` values run on RE2 (re2js, a pure-JavaScript port: no native build), never on
// JavaScript's backtracking RegExp: `(a+)+$` against 30 a's and a b takes RegExp minutes, RE2
// microseconds. RE2 time is linear in the value's length for every pattern it accepts. What it
// does not accept (backreferences, lookarounds, atomic groups, possessive quantifiers) has no
// linear-time algorithm, so a rule using them is refused with the reason, not run slowly.
// Semantics are RE2's (close to PCRE's for what Sigma rules use): inline flags such as `(?i)`
// work anywhere; `.` matches all but `\n`; `\s` is ASCII whitespace.

import { RE2JS } from "re2js";

/** A compiled `|re` value: does it match anywhere in the text? */
export type RegexTest = (text: string) => boolean;

/**
 * A program larger than this costs more per character than any rule needs (SigmaHQ's largest,
 * `(.){200,}`, is ~600): RE2 is linear in the text but also in the program's size.
 */
export const MAX_REGEX_PROGRAM = 20_000;

/** Compiles `source` with Sigma's `i`, `m`, `s` sub-modifiers, or says why it cannot run safely. */
export function compileRegex(source: string, flags: { i?: boolean; m?: boolean; s?: boolean }): RegexTest | { unsupported: string } {
  const bits = (flags.i ? RE2JS.CASE_INSENSITIVE : 0) | (flags.m ? RE2JS.MULTILINE : 0) | (flags.s ? RE2JS.DOTALL : 0);
  let re: RE2JS;
  try {
    re = RE2JS.compile(source, bits);
  } catch (err) {
    return { unsupported: `regular expression /${source}/ ${whyRefused((err as Error).message)}` };
  }
  if (re.programSize() > MAX_REGEX_PROGRAM) {
    return { unsupported: `regular expression /${source}/ is too large to run cheaply (RE2 program of ${re.programSize()} instructions, at most ${MAX_REGEX_PROGRAM})` };
  }
  return (text) => re.test(text);
}

const LINEAR = "hv runs |re on RE2, whose matching time is linear in the value; this construct has no linear-time algorithm (a backtracking engine can take exponential time on a value an attacker chooses)";

/** RE2's syntax error → what the rule's author needs to know. */
function whyRefused(message: string): string {
  const detail = message.replace(/^error parsing regexp: /, "");
  if (/invalid escape sequence: `\\[1-9k]/.test(message)) return `uses a backreference (${detail}): ${LINEAR}`;
  if (/`\(\?[=!]/.test(message)) return `uses a lookahead (${detail}): ${LINEAR}`;
  if (/`\(\?<[=!]/.test(message)) return `uses a lookbehind (${detail}): ${LINEAR}`;
  if (/`\(\?>/.test(message)) return `uses an atomic group (${detail}): ${LINEAR}`;
  if (/invalid nested repetition operator: `[*+?}]\+/.test(message)) return `uses a possessive quantifier (${detail}): ${LINEAR}`;
  return `is not valid RE2 syntax: ${detail}`;
}
