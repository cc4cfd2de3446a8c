import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { shippedPlaybooksDir } from "../../src/agent/config.js";
import { formatProblem, loadPlaybooks, parsePlaybooks } from "../../src/playbooks/load.js";
import { createRegistry } from "../../src/playbooks/registry.js";
import { tempDir } from "../store/tmp.js";
import { recordingRegistry, type Call } from "./helpers.js";

const registry = recordingRegistry([] as Call[]);

const GOOD = `id: good
title: Good one
mode: automatic
match:
  rules: ["flow:*"]
actions:
  - action: quarantine_vm
    with:
      keep: [10.0.0.5]
  - action: notify
cooldown: 5m
rate_limit: 5/1h
ttl: 2h
delay: 30s
always_confirm: [notify]
`;

function problemsOf(text: string) {
  const out = parsePlaybooks(text, "pb.yml", registry);
  expect(out).toHaveLength(1);
  const r = out[0]!;
  if (!("problems" in r)) throw new Error("expected problems");
  return r.problems;
}

describe("playbook loading", () => {
  it("reads every field, converting durations, the rate and the per-step settings", () => {
    const [pb] = parsePlaybooks(GOOD, "pb.yml", registry);
    if (!pb || "problems" in pb) throw new Error(JSON.stringify(pb));
    expect(pb.mode).toBe("automatic");
    expect(pb.cooldownMs).toBe(300_000);
    expect(pb.rateLimit).toEqual({ count: 5, windowMs: 3_600_000 });
    expect(pb.delayMs).toBe(30_000);
    expect(pb.steps.map((s) => [s.action, s.ttlMs, s.alwaysConfirm])).toEqual([
      ["quarantine_vm", 7_200_000, false],
      // notify cannot be undone: the playbook's ttl does not apply to it.
      ["notify", undefined, true],
    ]);
    expect(pb.steps[0]!.params).toEqual({ keep: ["10.0.0.5"] });
    expect(pb.steps[1]!.line).toBe(10);
  });

  it("reports a YAML syntax error with its line", () => {
    const problems = problemsOf("id: x\ntitle: t\nmode: monitor\nmatch: {rules: [a]\nactions: []\n");
    expect(problems[0]!.message).toMatch(/^YAML:/);
    expect(problems[0]!.line).toBeGreaterThanOrEqual(4);
  });

  it("names the field and line of an unknown action", () => {
    const p = problemsOf(GOOD.replace("action: notify", "action: nuke_it"));
    expect(p).toHaveLength(1);
    expect(p[0]).toMatchObject({ field: "actions.1.action", line: 10, playbook: "good" });
    expect(p[0]!.message).toMatch(/unknown action nuke_it \(known: .*quarantine_vm/);
  });

  it("names the parameter the action's schema refuses", () => {
    const p = problemsOf(GOOD.replace("keep: [10.0.0.5]", "keep: 10.0.0.5"));
    expect(p[0]).toMatchObject({ field: "actions.0.with.keep", line: 9 });
    const q = problemsOf(GOOD.replace("keep: [10.0.0.5]", "kep: [10.0.0.5]"));
    expect(q[0]!.field).toBe("actions.0.with");
    expect(q[0]!.message).toMatch(/kep/);
  });

  it("refuses bad durations and rates, naming each", () => {
    const p = problemsOf(GOOD.replace("cooldown: 5m", "cooldown: 5 minutes").replace("rate_limit: 5/1h", "rate_limit: lots"));
    expect(p.map((x) => [x.field, x.line])).toEqual([
      ["cooldown", 11],
      ["rate_limit", 12],
    ]);
    expect(p[0]!.message).toMatch(/30s, 10m, 2h or 1d/);
  });

  it("refuses durations beyond 366 days, however many digits they have", () => {
    for (const ttl of ["99999999999999999999d", "367d", "8785h", "1000000000000000s"]) {
      const p = problemsOf(GOOD.replace("ttl: 2h", `ttl: ${ttl}`));
      expect(p.map((x) => x.field), ttl).toEqual(["ttl"]);
      expect(p[0]!.message).toMatch(/at most 366d/);
    }
    expect(problemsOf(GOOD.replace("delay: 30s", "delay: 99999999999999999999s"))[0]).toMatchObject({ field: "delay" });
    const ok = parsePlaybooks(GOOD.replace("ttl: 2h", "ttl: 366d"), "pb.yml", registry)[0]!;
    if ("problems" in ok) throw new Error(JSON.stringify(ok.problems));
    expect(ok.steps[0]!.ttlMs).toBe(366 * 86_400_000);
  });

  it("refuses a ttl on an action that cannot be undone, unknown fields, unknown always_confirm names and an empty match", () => {
    expect(problemsOf(GOOD.replace("  - action: notify", "  - action: notify\n    ttl: 1h"))[0]).toMatchObject({ field: "actions.1.ttl" });
    expect(problemsOf(GOOD.replace("mode: automatic", "mode: automatic\nmod: x"))[0]!.message).toMatch(/mod/);
    expect(problemsOf(GOOD.replace("always_confirm: [notify]", "always_confirm: [notfy]"))[0]).toMatchObject({ field: "always_confirm.0", line: 15 });
    expect(problemsOf(GOOD.replace('  rules: ["flow:*"]', "  {}").replace("match:\n", "match:"))[0]!.message).toMatch(/at least one criterion/);
    expect(problemsOf(GOOD.replace("mode: automatic", "mode: yolo"))[0]).toMatchObject({ field: "mode", line: 3 });
  });

  it("skips and counts bad playbooks and loads the rest, from files and directories", () => {
    const dir = tempDir();
    mkdirSync(join(dir, "sub"));
    writeFileSync(join(dir, "a.yml"), GOOD + "---\n" + GOOD.replace("id: good", "id: bad").replace("mode: automatic", "mode: x"));
    writeFileSync(join(dir, "sub", "b.yaml"), GOOD.replace("id: good", "id: other"));
    writeFileSync(join(dir, "sub", "dup.yml"), GOOD);
    writeFileSync(join(dir, "notes.txt"), "not a playbook");
    const r = loadPlaybooks([dir], registry);
    expect(r.playbooks.map((p) => p.id)).toEqual(["good", "other"]);
    expect(r.skipped).toBe(2);
    const lines = r.problems.map(formatProblem);
    expect(lines[0]).toBe(`${join(dir, "a.yml")}:19: mode: Invalid option: expected one of "monitor"|"interactive"|"automatic"`);
    expect(lines[1]).toMatch(/dup\.yml:1: id: good is already defined at .*a\.yml:1$/);
  });

  it("loads hv's shipped playbooks against the real registry, all in monitor mode", () => {
    const r = loadPlaybooks([shippedPlaybooksDir()], createRegistry());
    expect(r.problems.map(formatProblem)).toEqual([]);
    expect(r.playbooks.length).toBeGreaterThanOrEqual(5);
    expect(r.playbooks.every((p) => p.mode === "monitor")).toBe(true);
  });
});
