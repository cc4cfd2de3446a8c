import { readFileSync } from "node:fs";
import { decodeAuditLines } from "../../../src/collectors/audit/decoder.js";
import type { CompiledRule } from "../../../src/detectors/sigma/compile.js";
import { EvalContext } from "../../../src/detectors/sigma/context.js";
import { keywordText } from "../../../src/detectors/sigma/mapping.js";
import { loadRulesFromText, type RuleSet } from "../../../src/detectors/sigma/ruleset.js";
import type { HvEvent } from "../../../src/events/event.js";

/** A whole rule around a detection block (indented by the caller's 4 spaces). */
export function ruleYaml(detection: string, logsource = "product: hv", extra = ""): string {
  return `title: t
id: 11111111-1111-4111-8111-111111111111
status: test
level: high
logsource:
    ${logsource.split("\n").join("\n    ")}
${extra}detection:
${detection}
`;
}

/** The same rule under another id (one id, one rule: a second document with it is refused). */
export function withId(yaml: string, id: string): string {
  return yaml.replace("id: 11111111-1111-4111-8111-111111111111", `id: ${id}`);
}

export function loadText(text: string): RuleSet {
  return loadRulesFromText(text, "test.yml");
}

export function compileOne(text: string): CompiledRule {
  const set = loadText(text);
  const rule = set.rules[0] ?? set.dormant[0];
  if (!rule) throw new Error(`rule did not load: ${JSON.stringify(set.report)}`);
  return rule;
}

export function matches(rule: CompiledRule, event: HvEvent): boolean {
  return rule.match(new EvalContext(event, keywordText));
}

/** Compile `detection` (product hv, ECS names unless logsource says otherwise) and test it. */
export function test1(detection: string, event: HvEvent, logsource?: string): boolean {
  return matches(compileOne(ruleYaml(detection, logsource)), event);
}

export function decodeFixture(name: string): HvEvent[] {
  return decodeAuditLines(readFileSync(new URL(`../../fixtures/audit/${name}`, import.meta.url), "utf8").split("\n"));
}
