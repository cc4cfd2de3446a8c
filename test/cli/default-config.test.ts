// Every command that takes --config reads the same configuration when the flag is not given:
// $HV_CONFIG, else /etc/hv/hv.yaml when it exists (what hv setup writes). Shown with $HV_CONFIG (the
// test never writes this host's /etc): a broken file makes each command refuse, naming it; a working
// one is used (its stateDir); an explicit --config wins. The built CLI in its own process.

import { existsSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runHv } from "../helpers/hv-cli.js";

let dir: string;
let broken: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "hv-default-config-"));
  broken = join(dir, "broken.yaml");
  await writeFile(broken, "stateDir: [unclosed\n");
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("the default configuration ($HV_CONFIG)", { timeout: 300_000 }, () => {
  const commands: string[][] = [
    ["alerts", "list"],
    ["actions", "list"],
    ["rules", "check"],
    ["playbooks", "list"],
    ["quarantine", "list"],
    ["flows", "--replay", join("test", "fixtures", "conntrack", "none.log")],
  ];
  it.each(commands.map((c) => [c] as const))("hv %j reads it without --config", async (args) => {
    const r = await runHv(args, { stateDir: join(dir, "state"), env: { HV_CONFIG: broken }, timeoutMs: 60_000 });
    expect(r.code, `stderr: ${r.stderr}`).toBe(2);
    expect(r.stderr).toContain("broken.yaml:2");
  });

  it("its stateDir is where the command keeps its store, and --config wins over it", async () => {
    const stateDir = join(dir, "from-config");
    const good = join(dir, "good.yaml");
    await writeFile(good, `stateDir: ${stateDir}\n`);
    const envStateDir = join(dir, "from-env");
    const r = await runHv(["alerts", "list", "--json"], { stateDir: envStateDir, env: { HV_CONFIG: good }, timeoutMs: 60_000 });
    expect(r.code, `stderr: ${r.stderr}`).toBe(0);
    expect(existsSync(join(stateDir, "hv.db"))).toBe(true);
    expect(existsSync(envStateDir)).toBe(false);
    const viaFlag = await runHv(["alerts", "list", "--config", good], { stateDir: envStateDir, env: { HV_CONFIG: broken }, timeoutMs: 60_000 });
    expect(viaFlag.code, `stderr: ${viaFlag.stderr}`).toBe(0);
  });
});
