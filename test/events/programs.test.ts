// The one list of external programs (src/events/programs.ts): nothing in src/ runs a program
// around it, the docs and the Nix package say the same, and a missing program is named with
// its package — by the function and by the `hv` command a user runs.

import { readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";
import { mkdtemp, rm, symlink } from "node:fs/promises";
import { tmpdir } from "node:os";
import { describe, expect, it } from "vitest";
import { findProgram, MissingProgramError, PROGRAMS, programsMarkdownTable, programStatus, runProgram, type Program } from "../../src/events/programs.js";
import { runHv } from "../helpers/hv-cli.js";

const ROOT = new URL("../../", import.meta.url).pathname;

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? sourceFiles(join(dir, e.name)) : /\.tsx?$/.test(e.name) ? [join(dir, e.name)] : []));
}

// The only places that start a process without runProgram/startProgram, and why.
const DIRECT_SPAWNS: Record<string, string> = {
  "src/events/programs.ts": "the runner itself",
  "src/cli/vm.ts": "hv vm edit runs the operator's $VISUAL/$EDITOR",
  "src/playbooks/actions/run-command.ts": "the run action starts the operator's allowlisted command",
  "src/forensics/pcap.ts": "tcpdump through node's spawn for its raw stdout; ENOENT becomes MissingProgramError",
};

describe("the list of external programs", () => {
  it("is the only way src/ starts a process (besides the reviewed exceptions)", () => {
    const offenders: string[] = [];
    for (const file of sourceFiles(join(ROOT, "src"))) {
      const rel = relative(ROOT, file);
      const text = readFileSync(file, "utf8");
      const code = text.replace(/^\s*\/\/.*$/gm, "");
      if (/\b(execa|execaSync|execaNode|\$|spawn|spawnSync|execFile|execFileSync|exec|execSync|fork)\s*\(/.test(code) && /from "(execa|node:child_process|child_process)"/.test(code) && !(rel in DIRECT_SPAWNS)) offenders.push(rel);
    }
    expect(offenders, "run external programs with runProgram/startProgram from src/events/programs.ts").toEqual([]);
    // The exceptions still exist (a stale entry hides nothing, but says the list is unread).
    for (const rel of Object.keys(DIRECT_SPAWNS)) expect(readFileSync(join(ROOT, rel), "utf8")).toMatch(/from "(execa|node:child_process)"/);
  });

  it("docs/dependencies.md carries the generated table", () => {
    expect(readFileSync(join(ROOT, "docs/dependencies.md"), "utf8")).toContain(programsMarkdownTable());
  });

  it("nix/package.nix puts every required program on PATH, and nothing the list does not know", () => {
    const nix = readFileSync(join(ROOT, "nix/package.nix"), "utf8");
    const block = /runtimeDeps = \[([^\]]*)\]/.exec(nix)?.[1];
    expect(block, "runtimeDeps = [ … ] in nix/package.nix").toBeDefined();
    const deps = new Set(block!.split(/\s+/).filter(Boolean));
    const required = Object.values(PROGRAMS).filter((p) => !("optional" in p)).map((p) => p.nix);
    expect(required.filter((a) => !deps.has(a))).toEqual([]);
    // coreutils: the `cat`/`sh` run inside `ip netns exec` for namespaced sysctls.
    const known = new Set([...Object.values(PROGRAMS).map((p) => p.nix), "coreutils"]);
    expect([...deps].filter((d) => !known.has(d))).toEqual([]);
  });

  it("a missing program fails with its name, what it is for and its packages", async () => {
    const err = await runProgram("qemu-img", ["--version"], {}, "/nonexistent/qemu-img").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MissingProgramError);
    expect((err as MissingProgramError).program).toBe("qemu-img");
    expect((err as Error).message).toMatch(/qemu-img \(\/nonexistent\/qemu-img\) is not installed.*disk images.*apt-get install qemu-utils.*Nix: qemu-utils/);
    // A program that exists but fails is not "missing": its exit code comes back.
    const r = await runProgram("ip", ["no-such-object"]);
    expect(r.exitCode).not.toBe(0);
    expect(r.stderr).not.toBe("");
  });

  it("findProgram and programStatus read PATH", async () => {
    const dir = await mkdtemp(join(tmpdir(), "hv-path-"));
    try {
      await symlink(process.execPath, join(dir, "nft"));
      const only = programStatus(dir);
      expect(only.find((p) => p.program === "nft")?.path).toBe(join(dir, "nft"));
      expect(only.filter((p) => p.path !== undefined).map((p) => p.program)).toEqual(["nft"]);
      expect(findProgram("virsh", dir)).toBeUndefined();
      expect(findProgram(process.execPath, "")).toBe(process.execPath);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("`hv vm list` without virsh on PATH says which package to install", async () => {
    const stateDir = await mkdtemp(join(tmpdir(), "hv-state-"));
    const bin = await mkdtemp(join(tmpdir(), "hv-bin-"));
    try {
      // PATH holds node and nothing else.
      await symlink(process.execPath, join(bin, "node"));
      const r = await runHv(["vm", "list", "--uri", "test:///default"], { stateDir, env: { PATH: bin }, timeoutMs: 60_000 });
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/virsh is not installed or not on PATH.*apt-get install libvirt-clients/);
      expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
    } finally {
      await rm(stateDir, { recursive: true, force: true });
      await rm(bin, { recursive: true, force: true });
    }
  });
});

// Every listed program has a package on both systems (a typo here is a wrong instruction to a user).
it.each(Object.entries(PROGRAMS) as [Program, { debian: string; nix: string }][])("%s names a Debian package and a nixpkgs attribute", (_name, p) => {
  expect(p.debian).toMatch(/^[a-z0-9][a-z0-9.+-]+$/);
  expect(p.nix).toMatch(/^[A-Za-z0-9][A-Za-z0-9_-]+$/);
});
