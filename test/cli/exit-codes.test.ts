// Usage errors exit 2 everywhere, commander's own included (unknown option or command, missing
// argument, a value an option refuses, a group run without its subcommand); help and --version
// exit 0. The built CLI in its own process, as a script sees it. None of these reach libvirt or
// the store: commander refuses them before any action runs.

import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runHv } from "../helpers/hv-cli.js";

let stateDir: string;
beforeAll(async () => {
  stateDir = await mkdtemp(join(tmpdir(), "hv-exit-"));
});
afterAll(async () => {
  await rm(stateDir, { recursive: true, force: true });
});
const hv = (...args: string[]) => runHv(args, { stateDir, timeoutMs: 60_000 });

describe("usage errors exit 2", { timeout: 300_000 }, () => {
  const cases: Array<[string[], RegExp]> = [
    [["--bogus"], /unknown option '--bogus'/],
    [["no-such-command"], /unknown command 'no-such-command'/],
    [[], /Usage: hv/],
    [["vm"], /Usage: hv vm/],
    [["vm", "list", "--bogus"], /unknown option '--bogus'/],
    [["vm", "no-such-sub"], /unknown command 'no-such-sub'/],
    [["vm", "start"], /missing required argument 'name'/],
    [["vm", "snapshot", "create", "web1"], /missing required argument/],
    [["vm", "audit", "--fail-on", "bogus"], /argument 'bogus' is invalid/],
    [["alerts", "list", "--limit"], /argument missing/],
    [["events", "list", "--bogus"], /unknown option '--bogus'/],
    [["version", "extra"], /too many arguments/],
    [["help", "no-such-command"], /Usage: hv/],
  ];
  it.each(cases)("hv %j", async (args, message) => {
    const r = await hv(...args);
    expect(r.code, `stderr: ${r.stderr}\nstdout: ${r.stdout}`).toBe(2);
    expect(r.stderr + r.stdout).toMatch(message);
    expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
  });

  it("a refused invocation stores nothing", async () => {
    await hv("alerts", "list", "--bogus");
    expect(await readdir(stateDir)).toEqual([]);
  });
});

describe("help and version exit 0", { timeout: 300_000 }, () => {
  const cases: string[][] = [["--help"], ["-h"], ["--version"], ["-V"], ["vm", "--help"], ["help", "vm"], ["vm", "snapshot", "--help"], ["alerts", "list", "--help"], ["version"]];
  it.each(cases.map((c) => [c] as const))("hv %j", async (args) => {
    const r = await hv(...args);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.length).toBeGreaterThan(0);
    expect(r.stderr).toBe("");
  });
});
