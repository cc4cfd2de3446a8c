// The host actions on the real host: kill_process on real `sleep` children, lock_account on a real
// temporary user (useradd; removed afterwards), run with a real allowlisted script, notify into a
// real jsonl sink file. Needs root (useradd, /etc/shadow, signalling another user's process):
// skipped loudly without it, a failure under CI.

import { execa, type ResultPromise } from "execa";
import { chmod, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { existsSync, realpathSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { JsonlSink } from "../../src/outputs/jsonl.js";
import { ActionError } from "../../src/events/errors.js";
import { killProcess } from "../../src/playbooks/actions/kill-process.js";
import { lockAccount } from "../../src/playbooks/actions/lock-account.js";
import { notify } from "../../src/playbooks/actions/notify.js";
import { OUTPUT_CAP, runCommand } from "../../src/playbooks/actions/run-command.js";
import { shadowState } from "../../src/privileged/host-ops.js";
import { readProc } from "../../src/privileged/proc.js";
import { makeAlert, makeTestEnv, runAction, type TestEnv } from "./actions-env.js";

const USER = "hvtestactlock";
const SLEEP = realpathSync("/usr/bin/sleep");

function whyNotRoot(): string | undefined {
  if (process.getuid?.() === 0) return undefined;
  const reason = "not running as root (useradd, /etc/shadow, signals to other users' processes)";
  if (process.env.CI === "true") throw new Error(`host action tests cannot run under CI: ${reason}`);
  console.warn(`\n*** SKIPPING host action tests: ${reason} ***\n`);
  return reason;
}
const skip = whyNotRoot();

async function shadowLine(user: string): Promise<string[]> {
  return (await execa("getent", ["shadow", user])).stdout.trim().split(":");
}

let t: TestEnv;
const children: ResultPromise[] = [];
beforeEach(async () => {
  t = await makeTestEnv({ allowlist: { users: ["hvtestactkeep"] } });
});
afterEach(async () => {
  for (const c of children.splice(0)) {
    c.kill("SIGKILL");
    await c.catch(() => undefined);
  }
  await t.close();
});

function spawnSleep(opts: { uid?: number } = {}): { child: ResultPromise; pid: number } {
  const child = execa(SLEEP, ["60"], { reject: false, ...(opts.uid !== undefined ? { uid: opts.uid } : {}) });
  children.push(child);
  return { child, pid: child.pid! };
}

async function waitStarted(pid: number): Promise<void> {
  // execa returns once forked; the exec into sleep follows a moment later.
  for (let i = 0; i < 100 && readProc(pid)?.exe !== SLEEP; i++) await new Promise((r) => setTimeout(r, 20));
}

describe.skipIf(skip)("host actions (root)", () => {
  let uid = 0;
  const HASH = "$6$hvtestsalt$0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUV";
  beforeAll(async () => {
    await execa("userdel", [USER], { reject: false });
    await execa("useradd", ["-M", "-s", "/usr/sbin/nologin", USER]);
    await execa("usermod", ["-p", HASH, USER]);
    uid = Number((await execa("id", ["-u", USER])).stdout.trim());
  });
  afterAll(async () => {
    await execa("userdel", [USER], { reject: false });
  });

  describe("kill_process", () => {
    it("kills the process the alert names; again is unchanged", async () => {
      const { child, pid } = spawnSleep({ uid });
      await waitStarted(pid);
      const alert = makeAlert({ entity: { kind: "process", id: SLEEP }, process: { pid, executable: SLEEP } });
      const { outcome } = await runAction(t, killProcess, { alert });
      expect(outcome.result).toMatch(/killed pid/);
      expect((await child).signal).toBe("SIGKILL");
      expect((await runAction(t, killProcess, { alert })).outcome.unchanged).toBe(true);
    });

    it("root's processes only with system_users: true; TERM when asked", async () => {
      const { child, pid } = spawnSleep();
      await waitStarted(pid);
      const alert = makeAlert({ process: { pid, executable: SLEEP } });
      const err = await runAction(t, killProcess, { alert }).catch((e: unknown) => e);
      expect((err as ActionError).refused).toBe(true);
      expect((err as Error).message).toMatch(/uid 0/);
      expect(readProc(pid)?.state).not.toBe("Z");
      await runAction(t, killProcess, { alert, params: { system_users: true, signal: "TERM" } });
      expect((await child).signal).toBe("SIGTERM");
    });

    it("refuses a pid that now runs another program, and one started after the alert", async () => {
      // A real reused pid needs the pid counter to wrap; instead the alert names another executable.
      const { pid } = spawnSleep({ uid });
      await waitStarted(pid);
      const other = await runAction(t, killProcess, { alert: makeAlert({ process: { pid, executable: "/usr/bin/bash" } }) }).catch((e: unknown) => e);
      expect((other as ActionError).refused).toBe(true);
      expect((other as Error).message).toMatch(/is now \/usr\/bin\/sleep, not \/usr\/bin\/bash: the pid was reused/);
      const old = new Date(Date.now() - 60_000).toISOString();
      const late = await runAction(t, killProcess, { alert: makeAlert({ first_seen: old, last_seen: old, process: { pid, executable: SLEEP } }) }).catch((e: unknown) => e);
      expect((late as Error).message).toMatch(/after the alert's last event/);
      const noExe = await runAction(t, killProcess, { target: { kind: "process", pid } }).catch((e: unknown) => e);
      expect((noExe as Error).message).toMatch(/cannot confirm/);
      expect(readProc(pid)?.exe).toBe(SLEEP);
    });

    it("refuses pid 1, hv itself and its parents, kernel threads", async () => {
      const cases: Array<[number, RegExp]> = [
        [1, /init/],
        [process.pid, /hv itself/],
        [process.ppid, /hv itself or one of its parents/],
        [2, /kernel thread/],
      ];
      for (const [pid, why] of cases) {
        const exe = readProc(pid)?.exe;
        const err = await runAction(t, killProcess, { target: { kind: "process", pid, ...(exe ? { executable: exe } : {}) }, params: { system_users: true } }).catch((e: unknown) => e);
        expect((err as ActionError).refused, String(pid)).toBe(true);
        expect((err as Error).message).toMatch(why);
      }
    });

    it("targetOf needs process.pid", () => {
      expect(killProcess.targetOf(makeAlert({ process: { pid: 4242, executable: SLEEP } }), { signal: "KILL", system_users: false })).toEqual({ kind: "process", pid: 4242, executable: SLEEP });
      expect(killProcess.targetOf(makeAlert({ process: { executable: SLEEP } }), { signal: "KILL", system_users: false })).toHaveProperty("error");
      expect(killProcess.targetOf(makeAlert({ process: { pid: 1 } }), { signal: "KILL", system_users: false })).toHaveProperty("error");
      expect(killProcess.targetOf(undefined, { signal: "KILL", system_users: false })).toHaveProperty("error");
      expect(killProcess.params.safeParse({ signal: "HUP" }).error!.issues[0]!.path).toEqual(["signal"]);
    });
  });

  describe("lock_account", () => {
    const alert = makeAlert({ entity: { kind: "user", id: USER }, user: { name: USER } });

    it("locks the password and expires the account; again is unchanged; undo restores both", async () => {
      const { outcome, run } = await runAction(t, lockAccount, { alert });
      expect(outcome.unchanged).toBeFalsy();
      const locked = await shadowLine(USER);
      expect(locked[1]).toBe(`!${HASH}`);
      expect(locked[7]).toBe("1");
      expect(outcome.detail).toMatchObject({ user: USER, uid, previous: { locked: false, expire: "" } });
      const again = await runAction(t, lockAccount, { alert });
      expect(again.outcome.unchanged).toBe(true);
      const undone = await lockAccount.reversible!.undo(run);
      expect(undone.unchanged).toBeFalsy();
      const back = await shadowLine(USER);
      expect(back[1]).toBe(HASH);
      expect(back[7]).toBe("");
      expect((await lockAccount.reversible!.undo(run)).unchanged).toBe(true);
      // Undoing the second (unchanged) lock restores "locked" — it must not unlock what it did not lock.
      await runAction(t, lockAccount, { alert });
      const second = await runAction(t, lockAccount, { alert });
      expect((await lockAccount.reversible!.undo(second.run)).unchanged).toBe(true);
      expect((await shadowState(USER)).locked).toBe(true);
      await execa("usermod", ["-U", "-e", "", USER]);
    });

    it("undo puts back an earlier expiry date", async () => {
      await execa("usermod", ["-e", "2030-01-02", USER]);
      const before = (await shadowLine(USER))[7];
      const { run } = await runAction(t, lockAccount, { alert });
      expect((await shadowLine(USER))[7]).toBe("1");
      await lockAccount.reversible!.undo(run);
      expect((await shadowLine(USER))[7]).toBe(before);
      await execa("usermod", ["-e", "", USER]);
    });

    it("refuses root, system users and allowlisted users", async () => {
      expect(lockAccount.targetOf(makeAlert({ user: { name: "root" } }), { system_users: true })).toHaveProperty("error");
      const root = await runAction(t, lockAccount, { target: { kind: "user", name: "root" }, params: { system_users: true } }).catch((e: unknown) => e);
      expect((root as ActionError).refused).toBe(true);
      const daemon = await runAction(t, lockAccount, { target: { kind: "user", name: "daemon" } }).catch((e: unknown) => e);
      expect((daemon as ActionError).refused).toBe(true);
      expect((daemon as Error).message).toMatch(/system account \(uid 1 < 1000\)/);
      const kept = await runAction(t, lockAccount, { target: { kind: "user", name: "hvtestactkeep" } }).catch((e: unknown) => e);
      expect((kept as Error).message).toMatch(/allowlisted/);
      const missing = await runAction(t, lockAccount, { target: { kind: "user", name: "hvtestactnobody" } }).catch((e: unknown) => e);
      expect((missing as Error).message).toMatch(/no host user/);
      expect((await shadowLine("daemon"))[7]).toBe("");
    });

    it("targetOf: user.name, an entity of kind user, or an error", () => {
      expect(lockAccount.targetOf(makeAlert({ entity: { kind: "user", id: "alice" } }), { system_users: false })).toEqual({ kind: "user", name: "alice" });
      expect(lockAccount.targetOf(makeAlert(), { system_users: false })).toHaveProperty("error");
      expect(lockAccount.targetOf(makeAlert({ user: { name: "-o" } }), { system_users: false })).toHaveProperty("error");
    });
  });
});

describe("run", () => {
  let dir: string;
  let script: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "hvact-run-"));
    script = join(dir, "on-alert.sh");
    // Writes its stdin to the file named by $1, prints a line, exits with $2 (default 0).
    await writeFile(script, '#!/bin/sh\ncat > "$1"\necho "wrote $1 for action $HV_ACTION_ID"\nif [ -n "$3" ]; then head -c "$3" /dev/zero | tr "\\0" a; fi\necho "bye" >&2\nexit "${2:-0}"\n');
    await chmod(script, 0o755);
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("runs an allowlisted script with the alert on stdin", async () => {
    const t2 = await makeTestEnv({ runAllowlist: [script] });
    try {
      const out = join(dir, "alert.json");
      const alert = makeAlert({ summary: "something happened" });
      const { outcome, run } = await runAction(t2, runCommand, { alert, params: { command: script, args: [out] } });
      expect(JSON.parse(await readFile(out, "utf8"))).toEqual(alert);
      expect(outcome.detail).toMatchObject({ exitCode: 0, stdout: `wrote ${out} for action ${run.actionId}\n`, stderr: "bye\n" });
    } finally {
      await t2.close();
    }
  });

  it("fails on a non-zero exit with the code in detail; caps output", async () => {
    const t2 = await makeTestEnv({ runAllowlist: [script] });
    try {
      const err = await runAction(t2, runCommand, { alert: makeAlert(), params: { command: script, args: [join(dir, "x.json"), "3"] } }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ActionError);
      expect((err as Error).message).toMatch(/exited with 3: bye/);
      expect((err as ActionError).detail).toMatchObject({ exitCode: 3 });
      const big = await runAction(t2, runCommand, { alert: makeAlert(), params: { command: script, args: [join(dir, "y.json"), "0", "200000"] } });
      expect((big.outcome.detail!.stdout as string).length).toBe(OUTPUT_CAP);
      expect(big.outcome.detail!.stdoutBytes).toBeGreaterThan(200_000);
    } finally {
      await t2.close();
    }
  });

  it("refuses a command that is not allowlisted, and never starts it", async () => {
    const t2 = await makeTestEnv({ runAllowlist: ["/usr/bin/true"] });
    try {
      const out = join(dir, "never.json");
      const err = await runAction(t2, runCommand, { alert: makeAlert(), params: { command: script, args: [out] } }).catch((e: unknown) => e);
      expect((err as ActionError).refused).toBe(true);
      expect((err as Error).message).toMatch(/not in response.runAllowlist/);
      expect(existsSync(out)).toBe(false);
    } finally {
      await t2.close();
    }
  });

  it("kills a command that runs past its timeout", async () => {
    const t2 = await makeTestEnv({ runAllowlist: [SLEEP] });
    try {
      const err = await runAction(t2, runCommand, { params: { command: SLEEP, args: ["30"], timeout_seconds: 1 } }).catch((e: unknown) => e);
      expect((err as Error).message).toMatch(/did not finish within 1 s/);
      expect((err as ActionError).detail).toMatchObject({ timedOut: true });
    } finally {
      await t2.close();
    }
  });

  it("params: absolute normalized path, bounded timeout", () => {
    expect(runCommand.params.safeParse({ command: "on-alert.sh" }).error!.issues[0]!.path).toEqual(["command"]);
    expect(runCommand.params.safeParse({ command: "/opt/../bin/sh" }).success).toBe(false);
    expect(runCommand.params.safeParse({ command: "/bin/true", timeout_seconds: 601 }).error!.issues[0]!.path).toEqual(["timeout_seconds"]);
    expect(runCommand.params.parse({ command: "/bin/true" })).toEqual({ command: "/bin/true", args: [], timeout_seconds: 30 });
  });
});

describe("notify", () => {
  it("writes the alert with the note into a real jsonl sink", async () => {
    const dir = await mkdtemp(join(tmpdir(), "hvact-notify-"));
    const file = join(dir, "alerts.jsonl");
    const sinks = [new JsonlSink({ name: "file", path: file }), new JsonlSink({ name: "other", path: join(dir, "other.jsonl") })];
    const t2 = await makeTestEnv({ sinks });
    try {
      const alert = makeAlert({ summary: "curl to a feed address" });
      const { outcome } = await runAction(t2, notify, { alert, params: { sinks: ["file"], note: "quarantined web1" } });
      expect(outcome.result).toBe("sent to file");
      const lines = (await readFile(file, "utf8")).trim().split("\n");
      expect(lines).toHaveLength(1);
      expect(JSON.parse(lines[0]!)).toEqual({ ...alert, summary: "quarantined web1 — curl to a feed address" });
      expect(existsSync(join(dir, "other.jsonl"))).toBe(false);
      const unknown = await runAction(t2, notify, { alert, params: { sinks: ["pager"] } }).catch((e: unknown) => e);
      expect((unknown as Error).message).toMatch(/no sink named "pager" \(configured: file, other\)/);
    } finally {
      await Promise.all(sinks.map((s) => s.close()));
      await t2.close();
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("fails without sinks or without an alert; targets the host", async () => {
    const t2 = await makeTestEnv();
    try {
      expect(notify.targetOf(makeAlert({ entity: { kind: "vm", id: "web1" } }), {})).toEqual({ kind: "host" });
      expect(notify.targetOf(undefined, {})).toHaveProperty("error");
      const err = await runAction(t2, notify, { alert: makeAlert() }).catch((e: unknown) => e);
      expect((err as Error).message).toMatch(/no sinks are configured/);
      expect(notify.params.safeParse({ sinks: [] }).error!.issues[0]!.path).toEqual(["sinks"]);
    } finally {
      await t2.close();
    }
  });
});
