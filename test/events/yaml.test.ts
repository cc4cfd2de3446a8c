import { execa } from "execa";
import { mkdirSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { MAX_YAML_DEPTH, readYamlData, readYamlDocuments, readYamlFile, yamlFiles } from "../../src/events/yaml.js";
import { tempDir } from "../store/tmp.js";

const BOMB = "a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n";

describe("the YAML reading path", () => {
  it("an alias bomb is one document's problem; the documents around it are read", () => {
    const docs = readYamlDocuments(`x: 1\n---\n${BOMB}---\ny: 2\n`);
    expect(docs).toHaveLength(3);
    expect(docs[0]).toMatchObject({ data: { x: 1 }, line: 1 });
    expect(docs[1]).toEqual({ problems: [{ line: 2, reason: expect.stringMatching(/^YAML: Excessive alias count.*at most 100 aliases/) }] });
    expect(docs[2]).toMatchObject({ data: { y: 2 } });
    // A few aliases are fine.
    expect(readYamlData("a: &a [1]\nb: *a\n")).toEqual({ data: { a: [1], b: [1] } });
  });

  it("collection keys and deep nesting are refused before they cost anything", () => {
    // {{{…}}}: 400 levels took the yaml package 47 s to turn into data.
    expect(readYamlData("{".repeat(400) + "}".repeat(400))).toEqual({ problem: { line: 1, reason: expect.stringMatching(/map key that is itself a map/) } });
    expect(readYamlData("? [a]\n: 1\n")).toMatchObject({ problem: { reason: expect.stringMatching(/map key/) } });
    expect(readYamlData("[".repeat(MAX_YAML_DEPTH + 1) + "]".repeat(MAX_YAML_DEPTH + 1))).toMatchObject({ problem: { reason: expect.stringMatching(/nested more than/) } });
    expect(readYamlData("[".repeat(MAX_YAML_DEPTH) + "]".repeat(MAX_YAML_DEPTH))).toHaveProperty("data");
    expect(readYamlData("[".repeat(20_000))).toMatchObject({ problem: { line: 1, reason: expect.stringMatching(/^YAML: /) } });
    expect(readYamlData("a:\n  b:\n    c: [1, {d: 2}]\n")).toEqual({ data: { a: { b: { c: [1, { d: 2 }] } } } });
  });

  it("syntax errors and extra documents carry their line", () => {
    const unclosed = readYamlData("a: 1\nb: [unclosed\n");
    expect(unclosed).toMatchObject({ problem: { reason: expect.stringMatching(/^YAML: /) } });
    expect("problem" in unclosed && unclosed.problem.line).toBeGreaterThanOrEqual(2);
    expect(readYamlData("a: 1\n---\nb: 2\n")).toEqual({ problem: { line: 2, reason: "YAML: more than one document (one is expected here)" } });
    expect(readYamlData("")).toEqual({ data: undefined });
  });

  it("files: only regular ones, within the size cap; directories walked once through symlink loops", async () => {
    const dir = tempDir();
    mkdirSync(join(dir, "d", "e"), { recursive: true });
    writeFileSync(join(dir, "d", "a.yml"), "a: 1\n");
    writeFileSync(join(dir, "d", "e", "b.yaml"), "b: 1\n");
    writeFileSync(join(dir, "d", "notes.txt"), "x");
    symlinkSync("..", join(dir, "d", "e", "up"));
    symlinkSync("/nonexistent", join(dir, "d", "dangling.yml"));
    await execa("mkfifo", [join(dir, "d", "fifo.yml")]);
    const files = yamlFiles([join(dir, "d")]);
    expect(files.map((f) => f.slice(dir.length + 1))).toEqual(["d/a.yml", "d/dangling.yml", "d/e/b.yaml", "d/fifo.yml"]);
    expect(readYamlFile(join(dir, "d", "a.yml"))).toEqual({ text: "a: 1\n" });
    expect(readYamlFile(join(dir, "d", "fifo.yml"))).toEqual({ problem: "cannot read: not a regular file" });
    expect(readYamlFile(join(dir, "d", "dangling.yml"))).toEqual({ problem: "cannot read: ENOENT" });
    expect(readYamlFile("/dev/zero")).toEqual({ problem: "cannot read: not a regular file" });
    expect(() => yamlFiles([join(dir, "missing")])).toThrow(/ENOENT/);
  });
});
