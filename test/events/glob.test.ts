import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { globMatcher, globTest, parseGlob, QMARK, STAR } from "../../src/events/glob.js";
import { compilePattern, parseWildcards } from "../../src/detectors/sigma/patterns.js";

/**
 * What Sigma wildcards meant before the glob matcher: a RegExp anchored at both ends, `*` as
 * [\s\S]*, `?` as [\s\S] (one code point: /u). Exponential on long hostile values, so it is only
 * the reference on short ones.
 */
function reference(pattern: string, cased: boolean): (value: string) => boolean {
  let src = "^";
  for (const x of parseWildcards(pattern)) {
    if (x === STAR) src += "[\\s\\S]*";
    else if (x === QMARK) src += "[\\s\\S]";
    else src += (cased ? x : x.toLowerCase()).replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
  }
  const re = new RegExp(src + "$", "u");
  return (v) => re.test(cased ? v : v.toLowerCase());
}

const sigma = (pattern: string, cased: boolean): ((v: string) => boolean) => {
  const t = compilePattern(parseWildcards(pattern), cased);
  return (v) => t(v, v.toLowerCase());
};

describe("the glob matcher", () => {
  it("matches exactly what the old RegExp translation matched (random short patterns and values)", () => {
    // Small alphabets make matches likely; the emoji is a surrogate pair, which `?` takes whole.
    const patternChar = fc.constantFrom("a", "b", "A", "*", "?", "\\", "😀", "é", ".", "İ");
    const valueChar = fc.constantFrom("a", "b", "A", "B", "😀", "é", "É", "\n", ".", "*", "?", "\\", "İ", "i̇");
    fc.assert(
      fc.property(fc.array(patternChar, { maxLength: 9 }), fc.array(valueChar, { maxLength: 12 }), fc.boolean(), (p, v, cased) => {
        const pattern = p.join("");
        const value = v.join("");
        expect(sigma(pattern, cased)(value), `${JSON.stringify(pattern)} ${cased ? "cased" : ""} vs ${JSON.stringify(value)}`).toBe(reference(pattern, cased)(value));
      }),
      { numRuns: 5000 },
    );
  });

  it("the shapes rules use", () => {
    const m = (p: string, v: string): boolean => sigma(p, false)(v);
    expect(m("", "")).toBe(true);
    expect(m("", "a")).toBe(false);
    expect(m("*", "")).toBe(true);
    expect(m("**", "anything")).toBe(true);
    expect(m("?", "")).toBe(false);
    expect(m("?", "😀")).toBe(true);
    expect(m("??", "😀")).toBe(false);
    expect(m("/usr/bin/*", "/USR/BIN/wget")).toBe(true);
    expect(m("*/wget", "/usr/bin/wget")).toBe(true);
    expect(m("*wget*", "x wget y")).toBe(true);
    expect(m("*/bin/*sh", "/bin/bash")).toBe(true);
    expect(m("*/bin/*sh", "/bin/bash -c x")).toBe(false);
    // Leftmost placement of the middle parts must still let the last one end the value.
    expect(m("*ab*ab", "abab")).toBe(true);
    expect(m("a*a", "a")).toBe(false);
    expect(m("a*a", "aa")).toBe(true);
    expect(m("*a?c", "abcaxc")).toBe(true);
    expect(m("?*?", "😀😀")).toBe(true);
    expect(m("a\\*b", "a*b")).toBe(true);
    expect(m("a\\*b", "axb")).toBe(false);
  });

  it("globTest: case-insensitive by default, exact with cased; no escapes", () => {
    expect(globTest("Kernel Module*")("kernel module loaded")).toBe(true);
    expect(globTest("Kernel Module*", true)("kernel module loaded")).toBe(false);
    expect(globTest("a\\*")("a\\xyz")).toBe(true);
    expect(globTest("vm-??")("vm-12")).toBe(true);
    expect(globTest("vm-??")("vm-123")).toBe(false);
    // Newlines are characters like any other (a RegExp's `.` would have stopped at one).
    expect(globTest("*")("a\nb")).toBe(true);
  });

  it("parseGlob keeps literal chunks whole and merges nothing it should not", () => {
    expect(parseGlob("a*b?c", false)).toEqual(["a", STAR, "b", QMARK, "c"]);
    expect(parseGlob("a\\*b", true)).toEqual(["a*b"]);
    expect(parseGlob("a\\*b", false)).toEqual(["a\\", STAR, "b"]);
    expect(globMatcher(["a", "b", STAR])("abc")).toBe(true);
  });
});
