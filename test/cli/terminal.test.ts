// Terminal escape injection: a binary named with ESC sequences must not rewrite the operator's
// screen. The printer escapes every control character visibly; JSON stays valid and means the
// same. End to end: a crafted audit record through the real CLI (hv events, hv monitor, hv alerts
// show / list), checking every byte hv wrote.

import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { afterAll, describe, expect, it } from "vitest";
import { terminalSafe, terminalSafeDeep, terminalSafeLines } from "../../src/events/terminal.js";
import { table } from "../../src/cli/vm.js";
import { mustSucceed, runHv } from "../helpers/hv-cli.js";

// Anything a terminal acts on: C0 but newline (and newline too for one-line values), DEL, C1, bidi controls.
const ACTIVE = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069\ufeff]/;

describe("terminalSafe", () => {
  it("shows control characters as \\uXXXX and leaves other text alone", () => {
    expect(terminalSafe("/tmp/\u001b[2J\u001b]0;pwned\u0007x")).toBe("/tmp/\\u001b[2J\\u001b]0;pwned\\u0007x");
    expect(terminalSafe("a\rb\bc\u009bd\u202ee")).toBe("a\\u000db\\u0008c\\u009bd\\u202ee");
    expect(terminalSafe("line\nother")).toBe("line\\u000aother");
    expect(terminalSafeLines("line\nother\u001b")).toBe("line\nother\\u001b");
    expect(terminalSafe("/usr/bin/ünïcödé 名前 ✓")).toBe("/usr/bin/ünïcödé 名前 ✓");
  });

  it("keeps JSON valid and its values unchanged, with nothing a terminal acts on", () => {
    fc.assert(
      fc.property(fc.jsonValue(), fc.string({ unit: "binary" }), (value, s) => {
        for (const v of [value, s, { s, value }]) {
          const line = terminalSafeLines(JSON.stringify(v));
          expect(ACTIVE.test(line)).toBe(false);
          expect(JSON.parse(line)).toEqual(JSON.parse(JSON.stringify(v)));
        }
      }),
      { numRuns: 300 },
    );
  });

  it("makes every string of a record safe (the live view renders whole alerts)", () => {
    const safe = terminalSafeDeep({ rule: { title: "a\u001bb" }, ids: ["x\ny"], n: 3, ok: true, none: null });
    expect(safe).toEqual({ rule: { title: "a\\u001bb" }, ids: ["x\\u000ay"], n: 3, ok: true, none: null });
  });

  it("keeps table cells on one line and columns aligned", () => {
    const rows = table(["A", "B"], [["x\ny\u001b", "P"], ["z", "Q"]]);
    expect(rows).toHaveLength(3);
    expect(rows.every((r) => !ACTIVE.test(r) && !r.includes("\n"))).toBe(true);
    expect(rows[1]!.indexOf("P")).toBe(rows[2]!.indexOf("Q"));
  });
});

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const hex = (s: string): string => Buffer.from(s, "utf8").toString("hex").toUpperCase();
// What the kernel writes for a process whose name holds control characters: those fields hex-encoded.
const EVIL_EXE = "/tmp/\u001b[2J\u001b]0;pwned\u0007\u009b31m\u202eevil";
const EVIL_ARG = "x\r\u001b[1Afake line";

function craftedLog(): string {
  const stamp = "msg=audit(1795674429.220:901):";
  return [
    `type=SYSCALL ${stamp} arch=c000003e syscall=313 success=yes exit=0 a0=3 a1=0 a2=0 a3=0 items=1 ppid=1 pid=4242 auid=0 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=pts0 ses=1 comm=${hex("ev\u001bil")} exe=${hex(EVIL_EXE)} key="hv_kmod"`,
    `type=EXECVE ${stamp} argc=2 a0=${hex(EVIL_EXE)} a1=${hex(EVIL_ARG)}`,
    `type=PATH ${stamp} item=0 name=${hex("/lib/modules/\u001b[31mrootkit.ko")} inode=1 dev=fe:00 mode=0100644 ouid=0 ogid=0 rdev=00:00 nametype=NORMAL`,
    `type=PROCTITLE ${stamp} proctitle=${hex(`${EVIL_EXE}\u0000${EVIL_ARG}`)}`,
    `type=EOE ${stamp} `,
  ].join("\n") + "\n";
}

function expectNoTerminalControl(text: string, what: string): void {
  const m = ACTIVE.exec(text);
  expect(m, `${what} holds U+${m?.[0].charCodeAt(0).toString(16).padStart(4, "0")} at ${m?.index}: ${JSON.stringify(text.slice(Math.max(0, (m?.index ?? 0) - 40), (m?.index ?? 0) + 20))}`).toBeNull();
}

describe("hv prints names from audit records without letting them control the terminal", () => {
  it("hv events, hv monitor, hv alerts list/show: no control characters reach stdout or stderr", async () => {
    const dir = mkdtempSync(join(tmpdir(), "hv-terminal-"));
    dirs.push(dir);
    const log = join(dir, "evil.log");
    writeFileSync(log, craftedLog());
    const opts = { stateDir: join(dir, "state"), timeoutMs: 90_000 };

    const events = mustSucceed(["events", "--replay", log], await runHv(["events", "--replay", log], opts));
    expectNoTerminalControl(events.stdout + events.stderr, "hv events");
    expect(events.stdout).toContain("\\u001b[2J");

    const eventsJson = mustSucceed(["events", "--json"], await runHv(["events", "--replay", log, "--json"], opts));
    expectNoTerminalControl(eventsJson.stdout, "hv events --json");
    expect((eventsJson.json as { process: { executable: string } }).process.executable).toBe(EVIL_EXE);

    const monitor = mustSucceed(["monitor"], await runHv(["monitor", "--replay", log, "--no-libvirt"], opts));
    expectNoTerminalControl(monitor.stdout + monitor.stderr, "hv monitor");
    expect(monitor.stdout).toMatch(/Kernel Module/);

    for (const args of [["alerts", "list"], ["alerts", "show", "1"], ["alerts", "show", "1", "--json"]]) {
      const r = mustSucceed(args, await runHv(args, opts));
      expectNoTerminalControl(r.stdout + r.stderr, `hv ${args.join(" ")}`);
    }
    const shown = await runHv(["alerts", "show", "1"], opts);
    expect(shown.stdout).toContain("\\u001b]0;pwned\\u0007");
    expect(shown.stdout).toContain("\\u202eevil");
    const json = await runHv(["alerts", "show", "1", "--json"], opts);
    expect((json.json as { process?: { executable?: string } }).process?.executable).toBe(EVIL_EXE);
  }, 300_000);

  it("an error message quoting input is escaped too", async () => {
    const dir = mkdtempSync(join(tmpdir(), "hv-terminal-"));
    dirs.push(dir);
    const r = await runHv(["feeds", "show", "x\u001b[2Jy"], { stateDir: join(dir, "state"), timeoutMs: 60_000 });
    expect(r.code).not.toBe(0);
    expectNoTerminalControl(r.stderr + r.stdout, "hv feeds show error");
    expect(r.stderr).toContain("x\\u001b[2Jy");
  }, 120_000);
});
