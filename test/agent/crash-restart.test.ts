// The agent is killed with SIGKILL (no chance to flush anything) several times while it follows
// a growing, rotating audit log, and restarted each time. In the end every event is stored
// exactly once, whole, and nothing downstream saw an event twice.
import { spawn, type ChildProcess } from "node:child_process";
import { appendFileSync, existsSync, mkdtempSync, renameSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterAll, describe, expect, it } from "vitest";

const ROOT = new URL("../../", import.meta.url).pathname;
const HV = join(ROOT, "bin", "hv.js");
const BUILT = join(ROOT, "dist", "src", "cli", "main.js");

const EVENTS = 3000;
const PER_CHUNK = 40;

function eventLines(n: number): string {
  const t = `${1_800_000_000 + Math.floor(n / 100)}.${String((n % 100) * 10).padStart(3, "0")}`;
  const title = Buffer.from(`/bin/true\0run-${n}`).toString("hex");
  return (
    `type=SYSCALL msg=audit(${t}:${n}): arch=c000003e syscall=59 success=yes exit=0 a0=1 a1=2 a2=3 a3=4 items=1 ppid=1 pid=${10_000 + n} auid=1000 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=pts0 ses=1 comm="true" exe="/bin/true" key="hvcrash"\n` +
    `type=EXECVE msg=audit(${t}:${n}): argc=2 a0="/bin/true" a1="run-${n}"\n` +
    `type=PATH msg=audit(${t}:${n}): item=0 name="/bin/true" inode=5 dev=08:01 mode=0100755 ouid=0 ogid=0 rdev=00:00 nametype=NORMAL\n` +
    `type=PROCTITLE msg=audit(${t}:${n}): proctitle=${title}\n`
  );
}

interface Agent {
  child: ChildProcess;
  stdout: string[];
  exited: Promise<void>;
}

function startAgent(log: string, state: string): Agent {
  const child = spawn(process.execPath, [HV, "monitor", "--audit-log", log, "--state-dir", state, "--events", "--json", "--status-every", "0", "--no-libvirt"], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  const stdout: string[] = [];
  let buf = "";
  child.stdout!.on("data", (d: Buffer) => {
    buf += d.toString();
    const parts = buf.split("\n");
    buf = parts.pop()!;
    stdout.push(...parts);
  });
  let stderr = "";
  child.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<void>((resolve) => child.on("exit", () => resolve()));
  child.on("exit", (code, signal) => {
    if (code !== 0 && signal !== "SIGKILL" && signal !== "SIGTERM") console.error(`agent exited ${code} ${signal}: ${stderr}`);
  });
  return { child, stdout, exited };
}

function storedCount(dbPath: string): number {
  if (!existsSync(dbPath)) return 0;
  const db = new Database(dbPath, { readonly: true, fileMustExist: true });
  try {
    return (db.prepare("SELECT count(*) AS n FROM events").get() as { n: number }).n;
  } catch {
    return 0; // schema not created yet
  } finally {
    db.close();
  }
}

async function waitFor(what: string, check: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const dir = mkdtempSync(join(tmpdir(), "hv-crash-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("agent crash safety", () => {
  it("stores every event exactly once across SIGKILLs and a log rotation", async () => {
    expect(existsSync(BUILT), "run `npm run build` first (npm test does)").toBe(true);
    const log = join(dir, "audit.log");
    const state = join(dir, "state");
    const dbPath = join(state, "hv.db");
    appendFileSync(log, "");

    const seen: string[] = [];
    let agent = startAgent(log, state);
    let written = 0;
    const killAt = new Set([700, 1500, 2300]);
    const rotateAt = 1900;
    let rotated = false;
    let starts = 1;
    while (written < EVENTS) {
      let chunk = "";
      for (let i = 0; i < PER_CHUNK && written < EVENTS; i++) chunk += eventLines(++written);
      appendFileSync(log, chunk);
      if (written >= rotateAt && !rotated) {
        renameSync(log, `${log}.1`);
        rotated = true;
      }
      if ([...killAt].some((k) => written >= k && written - PER_CHUNK < k)) {
        // Let it get some way into what was written, then kill it mid-work.
        await waitFor("some progress", () => storedCount(dbPath) > 0, 20_000);
        agent.child.kill("SIGKILL");
        await agent.exited;
        seen.push(...agent.stdout);
        agent = startAgent(log, state);
        starts++;
      }
      await new Promise((r) => setTimeout(r, 10));
    }

    await waitFor(`all ${EVENTS} events stored`, () => storedCount(dbPath) >= EVENTS, 60_000);
    agent.child.kill("SIGTERM");
    await agent.exited;
    seen.push(...agent.stdout);

    const db = new Database(dbPath, { readonly: true });
    expect((db.prepare("PRAGMA integrity_check").get() as { integrity_check: string }).integrity_check).toBe("ok");
    const rows = db.prepare("SELECT id, json FROM events ORDER BY ts").all() as Array<{ id: string; json: string }>;
    db.close();

    expect(rows.length).toBe(EVENTS);
    const ids = new Set(rows.map((r) => r.id));
    for (let n = 1; n <= EVENTS; n++) {
      const t = `${1_800_000_000 + Math.floor(n / 100)}.${String((n % 100) * 10).padStart(3, "0")}`;
      expect(ids.has(`audit::${t}:${n}`), `event ${n} stored`).toBe(true);
    }
    for (const r of rows) {
      const e = JSON.parse(r.json) as { audit: { records: unknown[] }; process: { args: string[] } };
      // Whole events only: a restart in the middle of an event re-reads all of it.
      expect(e.audit.records.length, r.id).toBe(4);
      expect(e.process.args[1]).toMatch(/^run-\d+$/);
    }
    // Downstream (here: --events output) never sees an event twice, even across kills.
    const printed = seen.map((l) => (JSON.parse(l) as { event: { id: string } }).event.id);
    expect(new Set(printed).size).toBe(printed.length);
    expect(starts).toBe(4);
    expect(statSync(`${log}.1`).size).toBeGreaterThan(0);
    expect(statSync(log).size).toBeGreaterThan(0);
  }, 120_000);
});
