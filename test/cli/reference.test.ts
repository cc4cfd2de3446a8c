// Shell completion and man pages are generated from the command definitions: every command of
// `hv` must appear in each, the bash script must really complete (run by bash itself), and the
// man pages must render without a roff warning.

import { execFileSync, spawnSync } from "node:child_process";
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { allCommands, type CommandNode } from "../../src/cli/command-tree.js";
import { completionScript, fullTree } from "../../src/cli/completion.js";
import { manPages } from "../../src/cli/man.js";
import { mustSucceed, runHv } from "../helpers/hv-cli.js";

let tree: CommandNode;
let dir = "";
beforeAll(async () => {
  tree = await fullTree();
  dir = await mkdtemp(join(tmpdir(), "hv-ref-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const paths = (): string[][] => allCommands(tree).map((n) => n.path);

describe("the command tree", () => {
  it("holds every command group of hv --help and their nested commands", () => {
    const top = tree.subcommands.map((c) => c.path[0]);
    for (const name of ["monitor", "vm", "events", "doctor", "status", "service", "completion", "man", "alerts", "forensics"]) expect(top).toContain(name);
    const all = paths().map((p) => p.join(" "));
    for (const nested of ["vm snapshot create", "vm disk attach", "events list", "alerts ack", "api token create", "service install"]) expect(all).toContain(nested);
    expect(all.length).toBeGreaterThan(100);
  });
});

describe("shell completion", () => {
  it("bash, zsh and fish name every command and every option of it", () => {
    for (const shell of ["bash", "zsh", "fish"] as const) {
      const script = completionScript(shell, tree);
      for (const n of allCommands(tree)) {
        const key = ["hv", ...n.path].join(" ");
        if (shell === "fish") {
          if (n.path.length > 0) expect(script, `${shell}: ${key}`).toContain(`-a '${n.path[n.path.length - 1]}'`);
          for (const o of n.options) if (o.long) expect(script, `${shell}: ${key} ${o.long}`).toContain(`-l '${o.long.slice(2)}'`);
        } else {
          expect(script, `${shell}: ${key}`).toContain(`[${JSON.stringify(key)}]=`);
          for (const o of n.options) if (o.long) expect(script, `${shell}: ${key} ${o.long}`).toMatch(new RegExp(`\\[${JSON.stringify(key).replace(/[[\]().*+?^$|\\]/g, "\\$&")}\\]="[^"]*${o.long}`));
        }
      }
    }
  });

  it("bash completes commands, nested subcommands, options, and files after an option that takes a value", async () => {
    const r = await runHv(["completion", "bash"], { stateDir: dir, timeoutMs: 60_000 });
    mustSucceed(["completion", "bash"], r);
    const script = join(dir, "hv.bash");
    await writeFile(script, r.stdout);
    await writeFile(join(dir, "audit-sample.log"), "");
    const complete = (line: string): string[] => {
      const words = line.split(" ");
      const program = `source ${script}; COMP_WORDS=(${words.map((w) => `'${w}'`).join(" ")}); COMP_CWORD=${words.length - 1}; _hv; printf '%s\\n' "\${COMPREPLY[@]}"`;
      return execFileSync("bash", ["-c", program], { cwd: dir, encoding: "utf8" }).split("\n").filter(Boolean);
    };
    expect(complete("hv v")).toEqual(["version", "vm", "volume"]);
    expect(complete("hv vm snapshot ")).toEqual(["create", "list", "revert", "delete"]);
    expect(complete("hv vm snapshot create --d")).toEqual(["--disk-only", "--description"]);
    // --uri takes a value: the word after it is not taken for a subcommand.
    expect(complete("hv vm --uri snapshot ")).toContain("list");
    expect(complete("hv events l")).toEqual(["list"]);
    expect(complete("hv monitor --replay audit-")).toEqual(["audit-sample.log"]);
    expect(complete("hv doctor --j")).toEqual(["--json"]);
  });

  it("zsh and fish scripts parse, when those shells are installed", async () => {
    for (const [shell, args] of [["zsh", ["-n"]], ["fish", ["--no-execute"]]] as const) {
      if (spawnSync(shell, ["--version"]).status !== 0) {
        console.warn(`${shell} is not installed: its completion script is checked for content only`);
        continue;
      }
      const file = join(dir, `hv.${shell}`);
      await writeFile(file, completionScript(shell, tree));
      const r = spawnSync(shell, [...args, file], { encoding: "utf8" });
      expect(r.status, r.stderr).toBe(0);
    }
  });

  it("an unknown shell is a usage error (exit 2)", async () => {
    const r = await runHv(["completion", "tcsh"], { stateDir: dir, timeoutMs: 60_000 });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/one of bash, zsh, fish/);
  });
});

describe("man pages", () => {
  it("hv(1) lists every command group, and each group's page every command under it with its options", () => {
    const pages = manPages(tree);
    const byFile = new Map(pages.map((p) => [p.file, p.text]));
    const root = byFile.get("hv.1")!;
    expect(root).toMatch(/^\.TH "HV" "1"/);
    expect(root).toContain(".SH EXIT STATUS");
    for (const top of tree.subcommands) {
      const name = top.path[0]!;
      expect(root, `hv.1 names ${name}`).toContain(`\\fBhv\\-${name.replace(/-/g, "\\-")}\\fR(1)`);
      const page = byFile.get(`hv-${name}.1`);
      expect(page, `hv-${name}.1`).toBeDefined();
      for (const n of allCommands(top)) {
        const usage = n.usage.replace(/\\/g, "\\e").replace(/-/g, "\\-");
        expect(page!, `hv-${name}.1 has ${n.path.join(" ")}`).toContain(usage);
        for (const o of n.options) if (o.long && o.long !== "--help") expect(page!, `${n.path.join(" ")} ${o.long}`).toContain(o.flags.replace(/-/g, "\\-"));
      }
    }
  });

  it("hv man --out writes them, and groff renders each without a warning", async () => {
    const out = join(dir, "man");
    mustSucceed(["man", "--out", out], await runHv(["man", "--out", out], { stateDir: dir, timeoutMs: 60_000 }));
    const files = (await readdir(out)).sort();
    expect(files).toContain("hv.1");
    expect(files).toContain("hv-vm.1");
    expect(files).toHaveLength(tree.subcommands.length + 1);
    if (spawnSync("groff", ["-v"]).status !== 0) {
      console.warn("groff is not installed: the man pages are checked for content only");
      return;
    }
    for (const f of files) {
      const r = spawnSync("groff", ["-man", "-Tutf8", "-ww", "-z", join(out, f)], { encoding: "utf8" });
      expect(r.stderr, f).toBe("");
      expect(r.status, f).toBe(0);
    }
    const rendered = spawnSync("groff", ["-man", "-Tutf8", join(out, "hv-vm.1")], { encoding: "utf8" }).stdout.replace(/.\x08/g, "");
    expect(rendered).toMatch(/hv vm snapshot create \[options\] <name> <snapshot>/);
    expect(await readFile(join(out, "hv-vm.1"), "utf8")).toMatch(/^\.TH "HV-VM" "1"/);
  });

  it("hv man COMMAND prints one page; an unknown one is a usage error", async () => {
    const r = await runHv(["man", "doctor"], { stateDir: dir, timeoutMs: 60_000 });
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^\.TH "HV-DOCTOR"/);
    const bad = await runHv(["man", "no-such"], { stateDir: dir, timeoutMs: 60_000 });
    expect(bad.code).toBe(2);
  });
});
