// Rule and playbook directories with hostile or broken files in them, through the built CLI as a
// person runs it: a YAML alias bomb, a syntax error, a FIFO named like a rule, a symlink loop and
// a duplicate rule id are each reported (file, line, reason) and everything else still loads —
// in `hv rules check`, `hv playbooks check` and `hv monitor`.

import { execa } from "execa";
import { copyFileSync, mkdirSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { runHv } from "../../helpers/hv-cli.js";
import { tempDir } from "../../store/tmp.js";
import { ruleYaml, withId } from "./helpers.js";

const ROOT = new URL("../../../", import.meta.url).pathname;
const EXECVE_LOG = join(ROOT, "test", "fixtures", "audit", "real-execve.log");

/** A billion-laughs document: 9^8 strings once its aliases are expanded. */
const BOMB = ["a: &a [x, x, x, x, x, x, x, x, x]", ...["b", "c", "d", "e", "f", "g", "h"].map((k, i) => `${k}: &${k} [${Array(9).fill(`*${"abcdefg"[i]}`).join(", ")}]`)].join("\n") + "\n";

const echoRule = (level: string, title: string): string =>
  ruleYaml("    sel:\n        Image|endswith: /echo\n    condition: sel", "product: linux\ncategory: process_creation").replace("level: high", `level: ${level}`).replace("title: t", `title: ${title}`);

/** A rules directory with one good rule, one duplicate of its id, and the hostile files. */
async function hostileRules(dir: string): Promise<string> {
  const rules = join(dir, "rules");
  mkdirSync(join(rules, "sub"), { recursive: true });
  writeFileSync(join(rules, "a-echo.yml"), echoRule("low", "echo low"));
  writeFileSync(join(rules, "b-echo.yml"), echoRule("critical", "echo critical"));
  writeFileSync(join(rules, "bomb.yml"), BOMB);
  writeFileSync(join(rules, "broken.yml"), "title: x\ndetection: [unclosed\n");
  writeFileSync(join(rules, "sub", "other.yml"), withId(echoRule("medium", "echo other"), "other"));
  symlinkSync("..", join(rules, "sub", "loop"));
  await execa("mkfifo", [join(rules, "pipe.yml")]);
  return rules;
}

describe("hostile files in rule and playbook directories", () => {
  it("hv rules check reports each (file, line, reason), keeps the first of a duplicate id, exits 1", async () => {
    const dir = tempDir();
    const rules = await hostileRules(dir);
    const r = await runHv(["rules", "check", rules], { stateDir: dir, timeoutMs: 60_000 });
    expect(r.code, r.stderr).toBe(1);
    expect(r.stdout).toContain(`INVALID ${join(rules, "b-echo.yml")}:1 "echo critical"`);
    expect(r.stdout).toContain(`duplicate id '11111111-1111-4111-8111-111111111111': already defined at ${join(rules, "a-echo.yml")}:1, which is kept`);
    expect(r.stdout).toMatch(new RegExp(`INVALID ${join(rules, "bomb.yml")}:1\\n  line 1: YAML: Excessive alias count`));
    expect(r.stdout).toContain(`INVALID ${join(rules, "broken.yml")}:`);
    expect(r.stdout).toContain(`INVALID ${join(rules, "pipe.yml")}:0\n  line 0: cannot read: not a regular file`);
    // a-echo and sub/other load (the loop back into the directory is walked once).
    expect(r.stdout.trim().split("\n").pop()).toBe("2 loaded, 0 unsupported, 4 invalid (1 duplicate ids)");

    const json = await runHv(["rules", "check", rules, "--json"], { stateDir: dir, timeoutMs: 60_000 });
    const report = JSON.parse(json.stdout) as { rules: Array<{ file: string; status: string; duplicateOf?: string }>; summary: { duplicates: number } };
    expect(report.summary.duplicates).toBe(1);
    expect(report.rules.find((x) => x.file.endsWith("b-echo.yml"))).toMatchObject({ status: "invalid", duplicateOf: `${join(rules, "a-echo.yml")}:1` });
  });

  it("hv rules check --config: every exception hv cannot apply, with the config's file:line", async () => {
    const dir = tempDir();
    const rules = join(dir, "rules");
    mkdirSync(rules);
    writeFileSync(join(rules, "echo.yml"), echoRule("low", "echo low"));
    const config = join(dir, "hv.yaml");
    writeFileSync(
      config,
      [
        `rules: [${rules}]`,
        "exceptions:",
        "  - rule: 'echo*'",
        "    match: { CommandLine|contains: ours }",
        "  - rule: nobody",
        "    match: { Image: /x }",
        "  - rule: 'echo*'",
        "    match:",
        "      CommandLine|re: '(?<=a)b'",
        "  - rule: 'echo*'",
        "    match: { Colour: blue }",
        "",
      ].join("\n"),
    );
    const r = await runHv(["rules", "check", "--config", config], { stateDir: dir, timeoutMs: 60_000 });
    expect(r.code, r.stderr).toBe(1);
    expect(r.stdout).toContain(`EXCEPTION ${config}:5: exception 2 (rule): no rule has the id or title 'nobody'`);
    expect(r.stdout).toMatch(new RegExp(`EXCEPTION ${config}:9: exception 3 \\(match.CommandLine\\|re\\): regular expression .* uses a lookbehind`));
    expect(r.stdout).toMatch(new RegExp(`EXCEPTION ${config}:11: exception 4 \\(match.Colour\\): .*Colour`));
    expect(r.stdout).not.toContain("exception 1 ");
    expect(r.stdout.trim().split("\n").pop()).toBe("1 loaded, 0 unsupported, 0 invalid, 3 exceptions refused");
  });

  it("hv playbooks check reports the bomb and loads the good playbook", async () => {
    const dir = tempDir();
    const pbs = join(dir, "playbooks");
    mkdirSync(pbs);
    copyFileSync(join(ROOT, "rules", "playbooks", "vm-escape.yml"), join(pbs, "vm-escape.yml"));
    writeFileSync(join(pbs, "bomb.yml"), BOMB);
    await execa("mkfifo", [join(pbs, "pipe.yaml")]);
    const r = await runHv(["playbooks", "check", pbs], { stateDir: dir, timeoutMs: 60_000 });
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(new RegExp(`${join(pbs, "bomb.yml")}:1: YAML: Excessive alias count`));
    expect(r.stdout).toContain(`${join(pbs, "pipe.yaml")}:0: cannot read: not a regular file`);
    expect(r.stdout).toContain("1 playbook(s) OK in 3 file(s), 2 with errors");
  });

  it("hv monitor names each bad file, refuses the duplicate, and runs the rest", async () => {
    const dir = tempDir();
    const rules = await hostileRules(dir);
    const pbs = join(dir, "playbooks");
    mkdirSync(pbs);
    copyFileSync(join(ROOT, "rules", "playbooks", "vm-escape.yml"), join(pbs, "vm-escape.yml"));
    writeFileSync(join(pbs, "bomb.yml"), BOMB);
    // Every hit an alert (by default a third-party rule's low hit is only a stored signal).
    writeFileSync(join(dir, "hv.yaml"), "routing: { signalsBelow: none }\n");
    const r = await runHv(["monitor", "--replay", EXECVE_LOG, "--rules", rules, "--playbooks", pbs, "--config", join(dir, "hv.yaml"), "--json", "--no-libvirt", "--state-dir", dir], { stateDir: dir, timeoutMs: 120_000 });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(new RegExp(`rules: ${join(rules, "bomb.yml")}:1: YAML: Excessive alias count`));
    expect(r.stderr).toContain(`rules: ${join(rules, "b-echo.yml")}:1: duplicate id`);
    expect(r.stderr).toContain(`rules: ${join(rules, "pipe.yml")}:0: cannot read: not a regular file`);
    expect(r.stderr).toMatch(new RegExp(`playbooks: ${join(pbs, "bomb.yml")}:1: YAML: Excessive alias count`));
    expect(r.stderr).toContain("2 rules loaded (0 dormant), 0 unsupported, 4 invalid (1 duplicate ids refused)");
    expect(r.stderr).toContain("1 playbooks loaded");
    // The echo in the log raised alerts from the rules that loaded: the first of the duplicate
    // id (low), never the refused critical one, and the other file's rule.
    const alerts = r.stdout.trim().split("\n").filter(Boolean).map((l) => JSON.parse(l) as { rule?: { title: string }; severity?: string });
    const titles = new Set(alerts.map((a) => `${a.rule?.title}:${a.severity}`));
    expect(titles).toEqual(new Set(["echo low:low", "echo other:medium"]));
  });
});
