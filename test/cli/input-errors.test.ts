// Bad input given to the CLI is a usage error: exit 2, one line saying what is wrong and where,
// no stack trace, nothing stored. The real CLI in its own process, as a person runs it.

import { mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { runHv } from "../helpers/hv-cli.js";

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function setup(): { dir: string; file: (name: string, text: string) => string; hv: (args: string[]) => ReturnType<typeof runHv> } {
  const dir = mkdtempSync(join(tmpdir(), "hv-input-"));
  dirs.push(dir);
  return {
    dir,
    file: (name, text) => {
      const p = join(dir, name);
      writeFileSync(p, text);
      return p;
    },
    hv: (args) => runHv(args, { stateDir: join(dir, "state"), timeoutMs: 60_000 }),
  };
}

function expectUsageError(r: { code: number; stderr: string; stdout: string }, message: RegExp): void {
  expect(r.code, r.stderr).toBe(2);
  expect(r.stderr).toMatch(message);
  expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
  expect(r.stderr.trim().split("\n")).toHaveLength(1);
}

describe("hv playbooks test --alert", { timeout: 180_000 }, () => {
  it("refuses empty input, an empty list, non-string rule ids and bad severities, naming the field", async () => {
    const { file, hv } = setup();
    const base = { rule: { id: "r1", title: "t" }, entity: { kind: "vm", id: "web-1" }, severity: "high" };
    const cases: Array<[string, string, RegExp]> = [
      ["empty.json", "", /empty\.json: empty: give an alert as JSON/],
      ["blank.json", "\n\n  \n", /blank\.json: empty/],
      ["list.json", "[]", /list\.json: an empty list/],
      ["id.json", JSON.stringify({ ...base, rule: { id: 42, title: "t" } }), /id\.json: not an alert .*rule\.id: /],
      ["sev.json", JSON.stringify({ ...base, severity: { level: "high" } }), /sev\.json: not an alert .*severity: /],
      ["sev2.json", JSON.stringify({ ...base, severity: "catastrophic" }), /severity: /],
      ["ent.json", JSON.stringify({ ...base, entity: { kind: "planet", id: "x" } }), /entity\.kind: /],
      ["null.json", "null", /null\.json: not an alert/],
      ["lines.jsonl", `${JSON.stringify(base)}\n{"rule":\n`, /lines\.jsonl:2: not JSON/],
    ];
    for (const [name, text, message] of cases) {
      const r = await hv(["playbooks", "test", "--alert", file(name, text)]);
      expectUsageError(r, message);
    }
    const good = await hv(["playbooks", "test", "--alert", file("good.json", JSON.stringify(base))]);
    expect(good.code, good.stderr).toBe(0);
    expect(good.stdout).toMatch(/^alert -: t \[r1\] vm=web-1/m);
  });

  it("refuses an alert file bigger than the document cap, and a device that never ends", async () => {
    const { hv } = setup();
    const r = await hv(["playbooks", "test", "--alert", "/dev/zero"]);
    expectUsageError(r, /\/dev\/zero is larger than the cap of 16777216 bytes/);
  });
});

describe("hv feeds sync --allow / config feeds.allowlist", { timeout: 120_000 }, () => {
  it("refuses what is not an address or CIDR before touching the store", async () => {
    const { dir, file, hv } = setup();
    const r = await hv(["feeds", "sync", "--allow", "192.0.2.0/24,not-a-cidr"]);
    expectUsageError(r, /--allow: "not-a-cidr" is not an IP address or CIDR/);
    expect(readdirSync(dir)).not.toContain("state");
    const cfg = file("hv.yaml", "feeds:\n  allowlist: [10.0.0.0/8, 300.1.1.1]\n");
    const m = await hv(["monitor", "--replay", file("a.log", ""), "--config", cfg]);
    expectUsageError(m, /hv\.yaml: feeds\.allowlist\.1: not an IP address or CIDR/);
  });
});

describe("counts and ids on the command line", { timeout: 180_000 }, () => {
  it("refuses a limit or an id that is not a whole number from 1 (Infinity reached SQLite as a datatype mismatch)", async () => {
    const { hv } = setup();
    const cases: Array<[string[], RegExp]> = [
      [["alerts", "list", "--limit", "Infinity"], /--limit must be a positive integer, got "Infinity"/],
      [["alerts", "list", "--limit", "-5"], /--limit must be a positive integer, got "-5"/],
      [["actions", "list", "--all", "--limit", "abc"], /--limit must be a positive integer, got "abc"/],
      [["events", "list", "--limit", "1e309"], /--limit must be a positive integer, got "1e309"/],
      [["alerts", "show", "0"], /alert id must be a positive integer, got "0"/],
      // Refused before libvirt is asked anything.
      [["vm", "stop", "web1", "--timeout", "abc", "--uri", "test:///default"], /--timeout must be a positive integer, got "abc"/],
    ];
    for (const [args, message] of cases) expectUsageError(await hv(args), message);
    const ok = await hv(["alerts", "list", "--limit", "3"]);
    expect(ok.code, ok.stderr).toBe(0);
  });
});

describe("hv model train", { timeout: 180_000 }, () => {
  it("says a bad flag or a missing trace directory as a usage error, flags before any reading", async () => {
    const { dir, hv } = setup();
    const out = join(dir, "m.onnx");
    const cases: Array<[string[], RegExp]> = [
      [["--traces", join(dir, "none"), "--context", "abc"], /--context must be a positive integer, got "abc"/],
      [["--traces", join(dir, "none"), "--hidden", "0"], /--hidden must be a positive integer, got "0"/],
      [["--traces", join(dir, "none")], /none: not a directory of trace files/],
      [["--traces", dir, "--audit", join(dir, "a.log")], /needs exactly one of --traces DIR or --audit FILE/],
      [["--traces", dir, "--fpr", "2"], /--fpr must be between 0 and 1/],
    ];
    for (const [args, message] of cases) expectUsageError(await hv(["model", "train", "--kind", "syscalls", "--out", out, ...args]), message);
    expect(readdirSync(dir).filter((f) => f.endsWith(".onnx"))).toEqual([]);
  });
});
