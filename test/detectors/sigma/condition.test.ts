import { describe, expect, it } from "vitest";
import { parseCondition } from "../../../src/detectors/sigma/condition.js";
import { makeEvent } from "../../helpers/events.js";
import { loadText, ruleYaml, test1 } from "./helpers.js";

// a: user root (true), b: vm-1 (true for makeEvent(1)), c: absent file (false)
const searches = `    a:
        user.name: root
    b:
        vm.name: vm-1
    c:
        file.path: /nope
    _hidden:
        file.path: /nope
    sel_x:
        user.name: root
    sel_y:
        vm.name: vm-9
`;
const cond = (c: string): boolean => test1(`${searches}    condition: ${c}`, makeEvent(1));

describe("conditions", () => {
  it("and, or, not, parentheses", () => {
    expect(cond("a and b")).toBe(true);
    expect(cond("a and c")).toBe(false);
    expect(cond("c or b")).toBe(true);
    expect(cond("not c")).toBe(true);
    expect(cond("not (a and b)")).toBe(false);
  });
  it("precedence: not > and > or", () => {
    // c and a or b  = (c and a) or b = true ; with or first it would be c and (a or b) = false
    expect(cond("c and a or b")).toBe(true);
    expect(cond("c and (a or b)")).toBe(false);
    // not c and c = (not c) and c = false ; not (c and c) would be true
    expect(cond("not c and c")).toBe(false);
    expect(cond("a or b and c")).toBe(true);
    expect(cond("(a or b) and c")).toBe(false);
  });
  it("1 of / all of with patterns, and them", () => {
    expect(cond("1 of sel_*")).toBe(true);
    expect(cond("all of sel_*")).toBe(false);
    expect(cond("all of sel_x*")).toBe(true);
    expect(cond("1 of them")).toBe(true);
    expect(cond("all of them")).toBe(false);
    expect(cond("not 1 of sel_y*")).toBe(true);
  });
  it("them leaves out _-prefixed searches", () => {
    expect(test1("    a:\n        user.name: root\n    _f:\n        file.path: /nope\n    condition: all of them", makeEvent(1))).toBe(true);
  });
  it("a list of conditions is OR'ed", () => {
    expect(test1(`${searches}    condition:\n        - c\n        - a`, makeEvent(1))).toBe(true);
  });
  it("rejects 'any of', other counts, aggregations, and unknown names", () => {
    expect(() => parseCondition("any of sel*")).toThrow(/'any of' is not Sigma/);
    expect(() => parseCondition("2 of sel*")).toThrow(/only '1 of' and 'all of'/);
    expect(() => parseCondition("a and")).toThrow();
    expect(() => parseCondition("(a")).toThrow(/missing '\)'|ends too early/);
    const agg = loadText(ruleYaml(`${searches}    condition: a | count() > 5`));
    expect(agg.report[0]!.status).toBe("unsupported");
    expect(agg.report[0]!.reasons[0]!.reason).toMatch(/correlation/);
    const unknown = loadText(ruleYaml(`${searches}    condition: a and nope`));
    expect(unknown.report[0]!.status).toBe("invalid");
    expect(unknown.report[0]!.reasons[0]!.reason).toMatch(/'nope'/);
    const anyOf = loadText(ruleYaml(`${searches}    condition: any of sel*`));
    expect(anyOf.report[0]!.status).toBe("invalid");
  });
});
