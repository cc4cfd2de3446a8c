// The privileged helper for real: `hv privileged-helper` runs as root in a child process on a temp
// socket (0660, group of a temp "agent" user); clients are node processes running as that
// unprivileged user, using the real actions, which go to the helper because they are not root.
// The helper kills a real `sleep` owned by a second temp user and locks/unlocks that user's real
// account; it refuses what it must, answers bad input with errors and keeps going. Needs root and
// the build: skipped loudly without them, a failure under CI.

import { execa, type ResultPromise } from "execa";
import { chmod, mkdtemp, readFile, rm, stat } from "node:fs/promises";
import { realpathSync } from "node:fs";
import { createConnection } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { readProc } from "../../src/privileged/proc.js";
import { createUser, removeUser, runClient, startHelperProc, whyNotRunnable, type HelperProc } from "./helper-procs.js";

const AGENT = "hvtestprivagent";
const TARGET = "hvtestprivtarget";
const SLEEP = realpathSync("/usr/bin/sleep");
const HASH = "$6$hvtestsalt$0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUV";

const skip = whyNotRunnable();

const children: ResultPromise[] = [];
afterEach(async () => {
  for (const c of children.splice(0)) {
    c.kill("SIGKILL");
    await c.catch(() => undefined);
  }
});

function spawnSleep(uid?: number): { child: ResultPromise; pid: number } {
  const child = execa(SLEEP, ["60"], { reject: false, ...(uid !== undefined ? { uid } : {}) });
  children.push(child);
  return { child, pid: child.pid! };
}

async function waitStarted(pid: number): Promise<void> {
  for (let i = 0; i < 100 && readProc(pid)?.exe !== SLEEP; i++) await new Promise((r) => setTimeout(r, 20));
}

/** Sends raw bytes on one connection; resolves with the first `lines` reply lines. */
function exchange(socket: string, text: string | Buffer, lines: number): Promise<Array<Record<string, unknown>>> {
  return new Promise((resolve, reject) => {
    const c = createConnection(socket);
    let buf = "";
    const timer = setTimeout(() => {
      c.destroy();
      reject(new Error(`no ${lines} replies within 10 s; got: ${buf}`));
    }, 10_000);
    c.setEncoding("utf8");
    c.on("connect", () => c.end(text));
    c.on("data", (s: string) => {
      buf += s;
      const got = buf.split("\n").filter(Boolean);
      if (got.length >= lines) {
        clearTimeout(timer);
        c.destroy();
        resolve(got.slice(0, lines).map((l) => JSON.parse(l) as Record<string, unknown>));
      }
    });
    c.on("error", reject);
  });
}

async function shadowLine(user: string): Promise<string[]> {
  return (await execa("getent", ["shadow", user])).stdout.trim().split(":");
}

describe.skipIf(skip)("privileged helper (root helper, unprivileged client)", () => {
  let dir: string;
  let socket: string;
  let helper: HelperProc;
  let agent: { uid: number; gid: number };
  let target: { uid: number; gid: number };

  beforeAll(async () => {
    agent = await createUser(AGENT);
    target = await createUser(TARGET);
    await execa("usermod", ["-p", HASH, TARGET]);
    dir = await mkdtemp(join(tmpdir(), "hvpriv-"));
    await chmod(dir, 0o755);
    socket = join(dir, "privileged.sock");
    helper = await startHelperProc(["--socket", socket, "--group", AGENT, "--max-connections", "3", "--state-dir", join(dir, "state")]);
  }, 30_000);
  afterAll(async () => {
    await helper?.stop();
    await rm(dir, { recursive: true, force: true });
    await removeUser(AGENT);
    await removeUser(TARGET);
  });

  it("binds the socket root:AGENT 0660", async () => {
    const st = await stat(socket);
    expect(st.isSocket()).toBe(true);
    expect(st.mode & 0o777).toBe(0o660);
    expect(st.uid).toBe(0);
    expect(st.gid).toBe(agent.gid);
  });

  it("kill_process in a non-root process kills another user's sleep through the helper", async () => {
    const { child, pid } = spawnSleep(target.uid);
    await waitStarted(pid);
    const alert = { last_seen: new Date().toISOString(), process: { pid, executable: SLEEP } };
    const r = await runClient("kill", { target: { kind: "process", pid, executable: SLEEP }, alert }, { ...agent, socket });
    expect(r.uid).toBe(agent.uid);
    expect(r.error).toBeUndefined();
    expect(r.outcome?.result).toMatch(new RegExp(`killed pid ${pid} \\(${SLEEP}\\) with SIGKILL`));
    expect(r.outcome?.detail).toMatchObject({ via: socket, gone: true });
    expect((await child).signal).toBe("SIGKILL");
    expect(helper.log()).toMatch(new RegExp(`request \\{"pid":${pid},"signal":"SIGKILL"`));
    // Again: the pid is gone, nothing to do.
    const again = await runClient("kill", { target: { kind: "process", pid, executable: SLEEP }, alert }, { ...agent, socket });
    expect(again.outcome?.unchanged).toBe(true);
  });

  it("without root and without HV_PRIVILEGED_SOCKET the action says what it needs", async () => {
    const { pid } = spawnSleep(target.uid);
    await waitStarted(pid);
    const r = await runClient("kill", { target: { kind: "process", pid, executable: SLEEP } }, agent);
    expect(r.ok).toBe(false);
    expect(r.error).toBe("needs root or the privileged helper (HV_PRIVILEGED_SOCKET)");
    expect(readProc(pid)?.exe).toBe(SLEEP);
  });

  it("refuses a wrong expected executable, root's process, pid 1 and the helper itself", async () => {
    const { pid } = spawnSleep(target.uid);
    await waitStarted(pid);
    const wrong = await runClient("kill", { target: { kind: "process", pid, executable: "/usr/bin/bash" } }, { ...agent, socket });
    expect(wrong.refused).toBe(true);
    expect(wrong.error).toMatch(`pid ${pid} is now ${SLEEP}, not /usr/bin/bash: the pid was reused`);
    expect(readProc(pid)?.exe).toBe(SLEEP);

    // system_users in the playbook is not enough: the helper was started without --allow-system-users.
    const mine = spawnSleep();
    await waitStarted(mine.pid);
    const rootProc = await runClient("kill", { target: { kind: "process", pid: mine.pid, executable: SLEEP }, params: { system_users: true } }, { ...agent, socket });
    expect(rootProc.refused).toBe(true);
    expect(rootProc.error).toMatch(/runs as uid 0 .*without --allow-system-users/);
    expect(readProc(mine.pid)?.exe).toBe(SLEEP);

    const init = await runClient("kill", { target: { kind: "process", pid: 1, executable: readProc(1)?.exe ?? "/sbin/init" } }, { ...agent, socket });
    expect(init.error).toMatch(/pid 1 is init/);
    const self = await runClient("kill", { target: { kind: "process", pid: helper.child.pid!, executable: readProc(helper.child.pid!)!.exe! } }, { ...agent, socket });
    expect(self.refused).toBe(true);
    expect(self.error).toMatch(/hv itself/);
    expect(helper.child.exitCode).toBeNull();
  });

  it("the client's protect list (its allowlist) narrows what the helper kills", async () => {
    const { pid } = spawnSleep(target.uid);
    await waitStarted(pid);
    // Only a command line is known, so the client cannot see the executable; the helper can.
    const alert = { last_seen: new Date().toISOString(), process: { pid, command_line: `${SLEEP} 60` } };
    const r = await runClient("kill", { target: { kind: "process", pid }, alert, allowlist: { processes: [SLEEP] } }, { ...agent, socket });
    expect(r.refused).toBe(true);
    expect(r.error).toBe(`refused: ${SLEEP} is allowlisted`);
    expect(readProc(pid)?.exe).toBe(SLEEP);
  });

  it("lock_account in a non-root process locks a real account through the helper; unlock restores it", async () => {
    const r = await runClient("lock", { target: { kind: "user", name: TARGET } }, { ...agent, socket });
    expect(r.uid).toBe(agent.uid);
    expect(r.error).toBeUndefined();
    expect(r.outcome?.detail).toEqual({ user: TARGET, uid: target.uid, previous: { locked: false, expire: "" } });
    const locked = await shadowLine(TARGET);
    expect(locked[1]).toBe(`!${HASH}`);
    expect(locked[7]).toBe("1");
    const again = await runClient("lock", { target: { kind: "user", name: TARGET } }, { ...agent, socket });
    expect(again.outcome?.unchanged).toBe(true);
    const un = await runClient("unlock", { request: { user: TARGET, previous: { locked: false, expire: "" } } }, { ...agent, socket });
    expect(un.outcome?.changed).toBe(true);
    const back = await shadowLine(TARGET);
    expect(back[1]).toBe(HASH);
    expect(back[7]).toBe("");
  });

  it("unlocks only accounts it locked itself, to what they were before (not what the client says)", async () => {
    // Locked by an administrator, not through the helper: an unlock request is refused.
    await execa("usermod", ["-L", TARGET]);
    try {
      const r = await runClient("unlock", { request: { user: TARGET, previous: { locked: false, expire: "" } } }, { ...agent, socket });
      expect(r.refused).toBe(true);
      expect(r.error).toMatch(/was not locked through this helper/);
      expect((await shadowLine(TARGET))[1]).toBe(`!${HASH}`);
    } finally {
      await execa("usermod", ["-U", TARGET]);
    }
    // Locked through it, then "unlocked" with a forged earlier state: the recorded one is restored.
    await runClient("lock", { target: { kind: "user", name: TARGET } }, { ...agent, socket });
    const book = JSON.parse(await readFile(join(dir, "state", "locks.json"), "utf8")) as Record<string, { previous: unknown }>;
    expect(book[TARGET]?.previous).toEqual({ locked: false, expire: "" });
    const un = await runClient("unlock", { request: { user: TARGET, previous: { locked: false, expire: "20000" } } }, { ...agent, socket });
    expect(un.outcome?.changed).toBe(true);
    expect((await shadowLine(TARGET)).slice(1, 2).concat((await shadowLine(TARGET))[7]!)).toEqual([HASH, ""]);
    // Unlocking twice: the book forgot it, so the second is refused.
    const again = await runClient("unlock", { request: { user: TARGET, previous: { locked: false, expire: "" } } }, { ...agent, socket });
    expect(again.refused).toBe(true);
  });

  it("refuses to lock root and system accounts whatever the client asks", async () => {
    const root = await runClient("lock-raw", { request: { user: "root", systemUsers: true } }, { ...agent, socket });
    expect(root.refused).toBe(true);
    expect(root.error).toMatch(/root is never locked/);
    const daemon = await runClient("lock-raw", { request: { user: "daemon", systemUsers: true } }, { ...agent, socket });
    expect(daemon.refused).toBe(true);
    expect(daemon.error).toMatch(/system account \(uid 1 < 1000\).*without --allow-system-users/);
    expect((await shadowLine("daemon"))[7]).toBe("");
    const bin = await runClient("unlock", { request: { user: "bin", previous: { locked: false, expire: "" }, systemUsers: true } }, { ...agent, socket });
    expect(bin.refused).toBe(true);
  });

  it("a user outside the socket's group cannot connect", async () => {
    const nobody = Number((await execa("id", ["-u", "nobody"])).stdout.trim());
    const nogroup = Number((await execa("id", ["-g", "nobody"])).stdout.trim());
    const r = await runClient("lock", { target: { kind: "user", name: TARGET } }, { uid: nobody, gid: nogroup, socket });
    expect(r.ok).toBe(false);
    expect(r.error).toMatch(/cannot reach the privileged helper .*EACCES/);
    expect((await shadowLine(TARGET))[1]).toBe(HASH);
  });

  it("answers bad lines with errors and keeps answering", async () => {
    const big = JSON.stringify({ op: "lock-account", user: "x".repeat(70 * 1024) });
    const lines = [
      "this is not json",
      JSON.stringify({ op: "rm", path: "/" }),
      JSON.stringify({ op: "kill", pid: 1234, signal: "SIGKILL", expectExe: SLEEP, shell: "rm -rf /" }),
      JSON.stringify({ op: "kill", pid: -5, signal: "SIGHUP" }),
      JSON.stringify({ op: "lock-account", user: "-o" }),
      big,
      "",
      JSON.stringify({ op: "lock-account", user: "hvtestprivnosuchuser" }),
    ];
    const replies = await exchange(socket, lines.join("\n") + "\n", lines.length);
    expect(replies.map((r) => r.ok)).toEqual(Array(lines.length).fill(false));
    expect(replies[0]!.error).toMatch(/^request is not JSON/);
    expect(replies[1]!.error).toMatch(/^invalid request: op: /);
    expect(replies[2]!.error).toMatch(/^invalid request: .*shell/);
    expect(replies[3]!.error).toMatch(/pid: .*; signal: /);
    expect(replies[4]!.error).toBe("invalid request: user: is not a valid user name");
    expect(replies[5]!.error).toBe("request line longer than 65536 bytes");
    expect(replies[6]!.error).toBe("empty request line");
    expect(replies[7]).toEqual({ ok: false, error: "no host user hvtestprivnosuchuser" });
    expect(helper.child.exitCode).toBeNull();
    expect(helper.log()).toMatch(/line longer than 65536 bytes, skipped/);
  });

  it("caps the connections open at once", async () => {
    const held = await Promise.all(
      [1, 2, 3].map(
        () =>
          new Promise<ReturnType<typeof createConnection>>((resolve, reject) => {
            const c = createConnection(socket, () => resolve(c));
            c.on("error", reject);
          }),
      ),
    );
    try {
      await new Promise((r) => setTimeout(r, 100));
      const [over] = await exchange(socket, "", 1);
      expect(over).toEqual({ ok: false, error: "too many connections (limit 3)" });
    } finally {
      for (const c of held) c.destroy();
    }
    await new Promise((r) => setTimeout(r, 100));
    const [after] = await exchange(socket, JSON.stringify({ op: "lock-account", user: "root" }) + "\n", 1);
    expect(after).toMatchObject({ ok: false, refused: true, error: "refused: root is never locked" });
  });
});

describe.skipIf(skip)("privileged helper socket-activated by systemd", () => {
  it("serves on the socket systemd passes (LISTEN_FDS, fd 3)", async () => {
    const dir = await mkdtemp(join(tmpdir(), "hvpriv-sd-"));
    const socket = join(dir, "sd.sock");
    const helper = await startHelperProc(["--socket", socket, "--state-dir", join(dir, "state")], { activate: socket });
    try {
      const [r] = await exchange(socket, JSON.stringify({ op: "lock-account", user: "daemon" }) + "\n", 1);
      expect(r).toMatchObject({ ok: false, refused: true });
      expect(r!.error).toMatch(/system account/);
      expect(helper.log()).toMatch(/listening on .*sd\.sock \(socket from systemd\)/);
    } finally {
      await helper.stop();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
