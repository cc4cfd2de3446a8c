// `hv` imports a command group's module only when that command runs (src/cli/main.ts): the table
// it lists in `hv --help` must stay equal to what each module registers, and each command must
// still work and show its own help.

import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Command } from "commander";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildProgram, COMMAND_GROUPS } from "../../src/cli/main.js";
import { runHv } from "../helpers/hv-cli.js";

describe("hv's command table", () => {
  it.each(COMMAND_GROUPS.map((g) => [Object.keys(g.commands).join(", "), g] as const))("%s: the table says what the module registers", async (_names, group) => {
    const program = new Command("hv");
    (await group.load())(program);
    expect(Object.fromEntries(program.commands.map((c) => [c.name(), c.description()]))).toEqual(group.commands);
  });

  it("stubs carry every command's name and description; a loaded group replaces its stub", async () => {
    const stubs = await buildProgram([]);
    const all = await buildProgram();
    const names = (p: Command): string[] => p.commands.map((c) => c.name()).sort();
    expect(names(stubs)).toEqual(names(all));
    const vmOnly = await buildProgram(["vm"]);
    expect(vmOnly.commands.filter((c) => c.name() === "vm")).toHaveLength(1);
    expect(vmOnly.commands.find((c) => c.name() === "vm")!.commands.length).toBeGreaterThan(5);
    expect(stubs.commands.find((c) => c.name() === "vm")!.commands).toHaveLength(0);
  });
});

describe("the hv command, loading one group at a time", () => {
  let stateDir: string;
  beforeAll(async () => {
    stateDir = await mkdtemp(join(tmpdir(), "hv-main-"));
  });
  afterAll(async () => {
    await rm(stateDir, { recursive: true, force: true });
  });
  const hv = (...args: string[]) => runHv(args, { stateDir, timeoutMs: 60_000 });

  it("hv --help lists every command with its description", async () => {
    const r = await hv("--help");
    expect(r.code).toBe(0);
    for (const g of COMMAND_GROUPS) for (const name of Object.keys(g.commands)) expect(r.stdout).toMatch(new RegExp(`^  ${name}\\b`, "m"));
  });

  it("hv help vm and hv vm --help show vm's subcommands; hv pool --help shows pool's", async () => {
    for (const args of [["help", "vm"], ["vm", "--help"]]) {
      const r = await hv(...args);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toMatch(/snapshot/);
    }
    const pool = await hv("pool", "--help");
    expect(pool.stdout).toMatch(/Usage: hv pool/);
    const volume = await hv("volume", "--help");
    expect(volume.stdout).toMatch(/Usage: hv volume/);
  });

  it("an unknown command is a usage error that names it", async () => {
    const r = await hv("no-such-command");
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/unknown command 'no-such-command'/);
  });
});
