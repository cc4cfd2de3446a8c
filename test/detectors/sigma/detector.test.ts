import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { createSigmaDetector } from "../../../src/detectors/sigma/detector.js";
import { loadRules } from "../../../src/detectors/sigma/ruleset.js";
import type { HvEvent } from "../../../src/events/event.js";
import { makeEvent } from "../../helpers/events.js";
import { decodeFixture, loadText, ruleYaml, withId } from "./helpers.js";

const echoRule = ruleYaml("    sel:\n        Image|endswith: /echo\n        CommandLine|contains: hv-fx\n    condition: sel", "product: linux\ncategory: process_creation", "tags:\n    - attack.execution\ndescription: echo with hv-fx\n");

describe("the Sigma detector", () => {
  it("returns Detections with the rule ref, severity from level, and the event", () => {
    const d = createSigmaDetector({ rules: loadText(echoRule) });
    const events = [...decodeFixture("real-execve.log"), ...decodeFixture("real-file.log")];
    const out = events.flatMap((e) => d.onEvent(e));
    expect(out.length).toBeGreaterThan(0);
    expect(out[0]!.rule).toMatchObject({ id: "11111111-1111-4111-8111-111111111111", title: "t", source: "sigma", level: "high", tags: ["attack.execution"], description: "echo with hv-fx", file: "test.yml" });
    expect(out[0]!.severity).toBe("high");
    expect(out[0]!.events).toHaveLength(1);
    const s = d.stats();
    expect(s.perRule[0]!.matches).toBe(out.length);
    expect(s.events).toBe(events.length);
    // The logsource index kept the rule away from non-exec events; the prefilter from execs without "hv-fx".
    expect(s.candidates).toBeLessThan(events.length);
    expect(s.evaluations).toBeLessThanOrEqual(s.candidates);
  });

  it("prefilter on and off give the same detections", () => {
    const set = loadText(echoRule + "---\n" + withId(ruleYaml("    keywords:\n        - 'plain words'\n    condition: keywords", "product: linux\nservice: auditd").replace("title: t", "title: kw"), "kw"));
    const events = decodeFixture("real-execve.log");
    const on = createSigmaDetector({ rules: set });
    const off = createSigmaDetector({ rules: set, prefilter: false });
    const a = events.flatMap((e) => on.onEvent(e)).map((x) => `${x.rule.title}:${x.events[0]!.event.id}`);
    const b = events.flatMap((e) => off.onEvent(e)).map((x) => `${x.rule.title}:${x.events[0]!.event.id}`);
    expect(a).toEqual(b);
    expect(a.some((x) => x.startsWith("kw:"))).toBe(true);
    expect(on.stats().evaluations).toBeLessThan(off.stats().evaluations);
  });

  it("exceptions suppress matching alerts and count them", () => {
    const set = loadText(echoRule);
    const events = decodeFixture("real-execve.log");
    const all = createSigmaDetector({ rules: set }).onEvent.bind(null);
    const baseline = events.flatMap((e) => all(e)).length;
    const d = createSigmaDetector({
      rules: set,
      exceptions: [
        { rule: "t*", match: { CommandLine: "*quotes*" }, comment: "the quoted echo is ours" },
        { rule: "someone-else", match: { Image: "/usr/bin/echo" } },
      ],
    });
    const out = events.flatMap((e) => d.onEvent(e));
    expect(out.length).toBe(baseline - 1);
    const ex = d.stats().exceptions;
    expect(ex[0]).toMatchObject({ rule: "t*", comment: "the quoted echo is ours", suppressed: 1 });
    expect(ex[1]!.suppressed).toBe(0);
    // Naming no rule is an error, not a silently idle exception.
    expect(d.exceptionProblems).toEqual([{ index: 1, path: ["rule"], reason: "no rule has the id or title 'someone-else'" }]);
    expect(ex[1]!.problems).toEqual(["rule: no rule has the id or title 'someone-else'"]);
  });

  it("exceptions hv cannot apply are refused, each with its place and reason, and suppress nothing", () => {
    const set = loadText(echoRule);
    const events = decodeFixture("real-execve.log");
    const baseline = events.flatMap((e) => createSigmaDetector({ rules: set }).onEvent(e)).length;
    const d = createSigmaDetector({
      rules: set,
      exceptions: [
        { rule: "x", match: {} },
        { rule: "t", match: { "CommandLine|re": "(a)\\1" } },
        { rule: "t", match: { "CommandLine|re": "[" } },
        { rule: "t", match: { NoSuchField: "x" } },
        // A valid field next to a bad one: applying the valid half alone would suppress more than written.
        { rule: "t", match: { CommandLine: "*", "Image|sometimes": "y" } },
        { rule: "t", match: { CommandLine: "*" }, coment: "typo" },
      ],
    });
    const problems = d.exceptionProblems.map((p) => ({ index: p.index, path: p.path.join(".") }));
    expect(problems).toEqual([
      { index: 0, path: "match" },
      { index: 1, path: "match.CommandLine|re" },
      { index: 2, path: "match.CommandLine|re" },
      { index: 3, path: "match.NoSuchField" },
      { index: 4, path: "match.Image|sometimes" },
      { index: 5, path: "" },
    ]);
    expect(d.exceptionProblems[1]!.reason).toMatch(/backreference.*linear/);
    expect(d.exceptionProblems[2]!.reason).toMatch(/not valid RE2 syntax: missing closing \]/);
    expect(d.exceptionProblems[3]!.reason).toMatch(/NoSuchField/);
    expect(d.exceptionProblems[5]!.reason).toMatch(/coment/);
    expect(events.flatMap((e) => d.onEvent(e)).length).toBe(baseline);
  });

  it("Sigma filter rules drop matches of the rules they name", () => {
    const filter = `title: not the quoted one
logsource:
    product: linux
    category: process_creation
filter:
    rules:
        - 11111111-1111-4111-8111-111111111111
    selection:
        CommandLine|contains: quotes
    condition: not selection
`;
    const set = loadText(echoRule + "---\n" + filter);
    expect(set.filters).toHaveLength(1);
    const d = createSigmaDetector({ rules: set });
    const events = decodeFixture("real-execve.log");
    events.forEach((e) => d.onEvent(e));
    expect(d.stats().filters[0]!.suppressed).toBe(1);
  });

  it("random events never make compiled rules throw", () => {
    const dir = new URL("../../../../shared/data/sigma/rules/linux", import.meta.url).pathname;
    let set = loadText(echoRule);
    try {
      set = loadRules([dir]);
    } catch {
      // ../shared absent: the echo rule alone (load.test.ts says so loudly).
    }
    const d = createSigmaDetector({ rules: set });
    const str = fc.oneof(fc.string(), fc.constantFrom("/bin/sh", "wget", "-c", "10.0.0.1", "::1", ""));
    const record = fc.record({ type: fc.constantFrom("SYSCALL", "EXECVE", "PATH", "CWD", "X"), fields: fc.dictionary(fc.constantFrom("a0", "a1", "name", "exe", "comm", "syscall", "key", "type", "nametype"), fc.option(str, { nil: null })) });
    const event = fc.record({
      action: fc.constantFrom("execve", "connect", "openat", "x"),
      cmd: fc.option(str, { nil: undefined }),
      exe: fc.option(str, { nil: undefined }),
      ip: fc.option(str, { nil: undefined }),
      port: fc.option(fc.integer(), { nil: undefined }),
      records: fc.array(record, { maxLength: 4 }),
    });
    fc.assert(
      fc.property(event, (r) => {
        const e: HvEvent = makeEvent(1, { event: { action: r.action, category: ["process", "network", "file"], type: ["start", "creation"] } });
        e.process = { pid: 1, ...(r.exe !== undefined && { executable: r.exe }), ...(r.cmd !== undefined && { command_line: r.cmd }) };
        e.destination = { ...(r.ip !== undefined && { ip: r.ip }), ...(r.port !== undefined && { port: r.port }) };
        e.audit = { serial: 1, time: "1.0", type: "SYSCALL", records: r.records };
        d.onEvent(e);
        d.tick!(Date.now());
      }),
      { numRuns: 300 },
    );
  });
});
