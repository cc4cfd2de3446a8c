// A real auditd: one exec, seen both in the log file and through the af_unix plugin's socket,
// by this project's own line readers.

import { describe, it, expect } from "vitest";
import { execa } from "execa";
import { realpath } from "node:fs/promises";
import { randomBytes } from "node:crypto";
import { readFileLines } from "../../src/collectors/audit/sources/file.js";
import { readUnixSocketLines, type SocketStatus } from "../../src/collectors/audit/sources/socket.js";
import type { SourceLine } from "../../src/collectors/audit/sources/line.js";
import { auditctl, startAuditd, whyNoAuditd } from "../helpers/auditd.js";

const inCI = process.env.CI === "true";
const unavailable = await whyNoAuditd();
if (unavailable) {
  const msg = `\n*** auditd integration test ${inCI ? "FAILS (CI=true)" : "SKIPPED"}: ${unavailable} ***\n`;
  console.warn(msg);
}

/** Reads a generator in the background into an array, until the signal aborts. */
function collect(lines: AsyncGenerator<SourceLine>): { lines: SourceLine[]; done: Promise<void> } {
  const out: SourceLine[] = [];
  const done = (async () => {
    for await (const line of lines) out.push(line);
  })();
  return { lines: out, done };
}

async function until(check: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe("real auditd", () => {
  it.skipIf(unavailable !== undefined && !inCI)("delivers an exec's records to the log file and the af_unix socket", async () => {
    if (unavailable) throw new Error(`auditd is required in CI: ${unavailable}`);
    const auditd = await startAuditd({ logFormat: "ENRICHED" });
    const controller = new AbortController();
    try {
      const statuses: SocketStatus[] = [];
      const fromSocket = collect(readUnixSocketLines(auditd.socketPath, { signal: controller.signal, onStatus: (s) => statuses.push(s) }));
      const fromFile = collect(readFileLines(auditd.logPath, { signal: controller.signal, follow: true, pollMs: 50 }));
      // auditd keeps nothing for clients that are not connected yet.
      await until(() => statuses.some((s) => s.state === "connected"), 5000, "the socket reader to connect");

      const echo = await realpath("/bin/echo");
      // Narrowed to echo: other processes on this host exec a lot, and the kernel's backlog is small.
      await auditctl("-A", "always,exit", "-F", "arch=b64", "-S", "execve", "-F", `exe=${echo}`, "-k", "hvtest");
      const marker = `hv-marker-${randomBytes(6).toString("hex")}`;
      await execa("/bin/echo", [marker]);

      const execveOf = (lines: SourceLine[]): SourceLine | undefined => lines.find((l) => l.text.startsWith("type=EXECVE ") && l.text.includes(`a1="${marker}"`));
      await until(() => execveOf(fromSocket.lines) !== undefined && execveOf(fromFile.lines) !== undefined, 10_000, `the ${marker} EXECVE record in both`);

      const fileLine = execveOf(fromFile.lines) as SourceLine;
      const socketLine = execveOf(fromSocket.lines) as SourceLine;
      expect(socketLine.text).toBe(fileLine.text);
      expect(fileLine.pos?.file).toBe(auditd.logPath);

      // The whole event arrived: its SYSCALL record carries the rule's key and the ENRICHED fields after 0x1d.
      const eventId = /msg=audit\(([\d.:]+)\)/.exec(fileLine.text)?.[1];
      expect(eventId).toBeDefined();
      for (const lines of [fromFile.lines, fromSocket.lines]) {
        const syscall = lines.find((l) => l.text.startsWith("type=SYSCALL ") && l.text.includes(`msg=audit(${eventId})`));
        expect(syscall?.text).toContain('key="hvtest"');
        expect(syscall?.text).toContain("\x1dARCH=x86_64 SYSCALL=execve");
      }
      // The log starts with auditd's own record and, read from 0, has contiguous positions.
      expect(fromFile.lines[0]?.text).toMatch(/^type=DAEMON_START /);
      for (let i = 1; i < fromFile.lines.length; i++) expect(fromFile.lines[i]?.pos?.start).toBe(fromFile.lines[i - 1]?.pos?.end);
    } finally {
      controller.abort();
      await auditd.stop();
    }
    const rules = await execa("auditctl", ["-l"]);
    expect(rules.stdout).not.toContain("hvtest");
  });
});
