import { existsSync, mkdtempSync, mkdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { loadRules, summarize } from "../../../src/detectors/sigma/ruleset.js";
import { loadText, ruleYaml, withId } from "./helpers.js";

const SIGMA = new URL("../../../../shared/data/sigma/", import.meta.url).pathname;
const sel = "    sel:\n        user.name: root\n    condition: sel";

describe("loading", () => {
  it("invalid YAML reports file and line", () => {
    const set = loadText("title: x\nlogsource:\n  product: hv\ndetection:\n  sel: [unclosed\n  condition: sel\n");
    expect(set.report[0]!.status).toBe("invalid");
    expect(set.report[0]!.file).toBe("test.yml");
    expect(set.report[0]!.reasons[0]!.line).toBeGreaterThanOrEqual(5);
    expect(set.report[0]!.reasons[0]!.reason).toMatch(/^YAML/);
  });
  it("schema errors name the field and its line", () => {
    const bad = loadText(ruleYaml(sel).replace("level: high", "level: severe"));
    expect(bad.report[0]!.status).toBe("invalid");
    expect(bad.report[0]!.reasons[0]).toMatchObject({ line: 4 });
    expect(bad.report[0]!.reasons[0]!.reason).toMatch(/^level:/);
    const noCond = loadText("title: x\nlogsource:\n    product: hv\ndetection:\n    sel:\n        a: 1\n");
    expect(noCond.report[0]!.reasons[0]!.reason).toMatch(/detection\.condition/);
    expect(noCond.report[0]!.reasons[0]!.line).toBe(5);
    const tags = loadText(ruleYaml(sel, "product: hv", "tags: notalist\n"));
    expect(tags.report[0]!.reasons[0]!.reason).toMatch(/^tags:/);
    expect(loadText("- a\n- b\n").report[0]!.status).toBe("invalid");
  });
  it("a nested map as a field value is invalid, with its line", () => {
    const set = loadText(ruleYaml("    sel:\n        user.name:\n            deep: x\n    condition: sel"));
    expect(set.report[0]!.status).toBe("invalid");
    expect(set.report[0]!.reasons[0]!.line).toBe(9);
  });
  it("multi-document files: each document on its own; legacy action: global reported clearly", () => {
    const two = loadText(ruleYaml(sel) + "---\n" + withId(ruleYaml(sel).replace("title: t", "title: u"), "u"));
    expect(two.rules.map((r) => r.ref.title)).toEqual(["t", "u"]);
    const legacy = loadText("action: global\ntitle: g\nlogsource:\n    product: hv\n---\ndetection:\n    sel:\n        a: 1\n    condition: sel\n");
    expect(legacy.report.every((r) => r.status === "unsupported")).toBe(true);
    expect(legacy.report[0]!.reasons[0]!.reason).toMatch(/legacy multi-document collection \(action: global\)/);
  });
  it("directories load recursively, *.yml and *.yaml only", () => {
    const dir = mkdtempSync(join(tmpdir(), "hv-sigma-"));
    mkdirSync(join(dir, "sub"));
    writeFileSync(join(dir, "a.yml"), ruleYaml(sel));
    writeFileSync(join(dir, "sub", "b.yaml"), withId(ruleYaml(sel), "b"));
    writeFileSync(join(dir, "sub", "notes.txt"), "not a rule");
    const set = loadRules([dir]);
    expect(set.rules).toHaveLength(2);
    expect(summarize(set.report)).toEqual({ loaded: 2, dormant: 0, unsupported: 0, invalid: 0, duplicates: 0 });
  });
});

describe("SigmaHQ's Linux rules load unmodified", () => {
  const dir = join(SIGMA, "rules", "linux");
  const present = existsSync(dir);
  if (!present) {
    if (process.env.CI === "true") throw new Error(`${dir} is missing; SigmaHQ conformance cannot run under CI`);
    console.warn(`\n!!! SKIPPING SigmaHQ conformance: ${dir} not found !!!\n`);
  }
  it.skipIf(!present)("at least 95% load, and every rule that does not says why", () => {
    const set = loadRules([dir]);
    const s = summarize(set.report);
    const total = set.report.length;
    expect(total).toBeGreaterThanOrEqual(200);
    expect(s.loaded / total).toBeGreaterThanOrEqual(0.95);
    for (const r of set.report) if (r.status !== "loaded") expect(r.reasons.length, `${r.file}`).toBeGreaterThan(0);
    expect(s.invalid).toBe(0);
  });
});
