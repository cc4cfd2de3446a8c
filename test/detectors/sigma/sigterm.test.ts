// SIGTERM is honoured under heavy rule load: `hv monitor --stdin` with every rule at hand (hv's,
// SigmaHQ's Linux rules when the shared data is there, and the '*a*a*a*c') is fed an
// endless stream of exec events whose command lines are long repeats of those rules' characters.
// Once it is busy, SIGTERM must end it, with its summary, well within the deadline: nothing
// synchronous in the engine runs long enough to keep the signal handler from running. Before the
// linear-time matchers, one such command line held the process for minutes; only SIGKILL ended it.

import { execa } from "execa";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { HV_BIN, HV_BUILT } from "../../helpers/hv-cli.js";
import { tempDir } from "../../store/tmp.js";
import { ruleYaml, withId } from "./helpers.js";

const ROOT = new URL("../../../", import.meta.url).pathname;
const SIGMAHQ = join(process.env.HV_SHARED_DATA ?? join(ROOT, "..", "shared", "data"), "sigma", "rules", "linux");
/** From SIGTERM to exit: generous for a loaded 2-core machine; the stall it guards against was minutes. */
const EXIT_DEADLINE_MS = 30_000;

const hex = (s: string): string => Buffer.from(s).toString("hex").toUpperCase();
/** Command lines made of the characters rules look for, 10,000 long: each event a worst case. */
const UNITS = ["a", "/tmp/", "-c ", "wget ", "base64 -d", "a?", "\\*"];

function execEvent(i: number): string {
  const stamp = `1700000000.${String(i % 1000).padStart(3, "0")}:${1000 + i}`;
  const arg = UNITS[i % UNITS.length]!.repeat(10_000).slice(0, 10_000);
  return [
    `type=SYSCALL msg=audit(${stamp}): arch=c000003e syscall=59 success=yes exit=0 a0=1 a1=2 a2=3 a3=4 items=1 ppid=1 pid=${2000 + (i % 30000)} auid=0 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=(none) ses=1 comm="sh" exe="/usr/bin/sh" key="hvexec"`,
    `type=EXECVE msg=audit(${stamp}): argc=3 a0="sh" a1="-c" a2=${hex(arg)}`,
    `type=EOE msg=audit(${stamp}): `,
    "",
  ].join("\n");
}

describe("SIGTERM under heavy rule load", () => {
  it("hv monitor --stdin, busy with hostile command lines, stops on SIGTERM with its summary", async () => {
    if (!existsSync(HV_BUILT)) throw new Error(`${HV_BUILT} is missing: run npm run build (npm test does it first)`);
    const dir = tempDir();
    const crafted = join(dir, "crafted");
    mkdirSync(crafted);
    writeFileSync(join(crafted, "three.yml"), withId(ruleYaml("    sel:\n        CommandLine: '*a*a*a*c'\n    condition: sel", "product: linux\ncategory: process_creation"), "crafted-three"));
    // Live mode would also start conntrack and the firewall sync as root: not this test's business.
    const config = join(dir, "hv.yaml");
    writeFileSync(config, "flows: {conntrack: false}\nfirewall: {enabled: false}\nfeeds: {schedule: false}\n");
    const rules = [join(ROOT, "rules", "hv"), crafted, ...(existsSync(SIGMAHQ) ? [SIGMAHQ] : [])];
    if (!existsSync(SIGMAHQ)) console.warn(`sigterm test: ${SIGMAHQ} not found; hv's rules and the crafted one only`);

    const hv = execa("node", [HV_BIN, "monitor", "--stdin", "--config", config, "--rules", ...rules, "--no-libvirt", "--no-tui", "--json", "--state-dir", dir, "--status-every", "1"], {
      reject: false,
      cwd: ROOT,
      env: { HV_STATE_DIR: dir, LC_ALL: "C" },
      stdin: "pipe",
      buffer: true,
    });
    let stderr = "";
    hv.stderr!.on("data", (b: Buffer) => (stderr += b.toString()));
    // Feed without end (respecting back-pressure) until hv exits.
    let exited = false;
    const gone = hv.then(() => undefined);
    hv.stdin!.on("error", () => undefined);
    const feeding = (async () => {
      for (let i = 0; !exited && hv.exitCode === null; i++) {
        if (!hv.stdin!.write(execEvent(i))) await Promise.race([new Promise((r) => hv.stdin!.once("drain", r)), gone]);
      }
    })().catch(() => undefined);

    try {
      // Busy: it has stored a good number of hostile events (each one also went through every rule).
      const stored = (): number => Math.max(0, ...[...stderr.matchAll(/"events":(\d+)/g)].map((m) => Number(m[1])));
      const busyBy = Date.now() + 120_000;
      while (stored() < 200) {
        if (Date.now() > busyBy) throw new Error(`hv monitor never got busy:\n${stderr.slice(-2000)}`);
        if (hv.exitCode !== null) throw new Error(`hv monitor ended early (${hv.exitCode}):\n${stderr.slice(-2000)}`);
        await new Promise((r) => setTimeout(r, 200));
      }
      hv.kill("SIGTERM");
      const ended = await Promise.race([hv.then(() => true), new Promise<false>((r) => setTimeout(() => r(false), EXIT_DEADLINE_MS))]);
      expect(ended, `hv monitor still running ${EXIT_DEADLINE_MS} ms after SIGTERM:\n${stderr.slice(-2000)}`).toBe(true);
      const r = await hv;
      expect(r.exitCode).toBe(0);
      expect(stderr).toMatch(/stored \d+ new events/);
      expect(stderr).toMatch(/alerts from \d+ detections/);
    } finally {
      exited = true;
      if (hv.exitCode === null) hv.kill("SIGKILL");
      await gone;
      await feeding;
    }
  }, 240_000);
});
