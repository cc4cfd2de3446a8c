// Alert sink failures are never silent, through the real `hv monitor`: a sink that cannot start
// is an error at start (exit 2, the sink named); alerts a sink could not deliver are in the status
// line and the summary, make the run exit 1, and — live — wait in STATE/outbox until a later run
// delivers them. Real HTTP peers on 127.0.0.1; no system components.

import { mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execa } from "execa";
import { afterAll, describe, expect, it } from "vitest";
import { HV_BIN, runHv } from "../helpers/hv-cli.js";
import { closedPort, startHttpServer } from "../outputs/http-server.js";

const ROOT = new URL("../../", import.meta.url).pathname;
const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), "hv-monitor-sinks-"));
  dirs.push(d);
  return d;
}

// One finit_module call with hv's key: hv's "Kernel Module Loaded" rule raises one alert.
const KMOD = [
  'type=SYSCALL msg=audit(1795674429.220:901): arch=c000003e syscall=313 success=yes exit=0 a0=3 a1=0 a2=0 a3=0 items=0 ppid=1 pid=4242 auid=0 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=pts0 ses=1 comm="insmod" exe="/usr/bin/kmod" key="hv_kmod"',
  "type=PROCTITLE msg=audit(1795674429.220:901): proctitle=696E736D6F64",
  "type=EOE msg=audit(1795674429.220:901): ",
].join("\n") + "\n";

const QUIET = "flows: { conntrack: false }\nfirewall: { enabled: false }\n";

describe("hv monitor and its sinks", { timeout: 240_000 }, () => {
  it("a jsonl sink in a directory that does not exist: exit 2 at start, the sink named", async () => {
    const dir = tempDir();
    const cfg = join(dir, "hv.yaml");
    writeFileSync(cfg, `sinks:\n  - { type: jsonl, path: ${join(dir, "no", "such", "alerts.jsonl")} }\n`);
    writeFileSync(join(dir, "a.log"), KMOD);
    const r = await runHv(["monitor", "--replay", join(dir, "a.log"), "--config", cfg, "--no-libvirt"], { stateDir: join(dir, "state"), timeoutMs: 60_000 });
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toMatch(/^hv: sink jsonl:.*\/no\/such\/alerts\.jsonl cannot start: ENOENT/m);
  });

  it("a replay whose webhook is down: the summary says so and the run exits 1", async () => {
    const dir = tempDir();
    const port = await closedPort();
    const cfg = join(dir, "hv.yaml");
    writeFileSync(cfg, `sinks:\n  - { type: webhook, url: "http://127.0.0.1:${port}/hook", retries: 1, backoffMs: 10 }\n`);
    writeFileSync(join(dir, "a.log"), KMOD);
    const r = await runHv(["monitor", "--replay", join(dir, "a.log"), "--config", cfg, "--no-libvirt"], { stateDir: join(dir, "state"), timeoutMs: 60_000 });
    expect(r.code, r.stderr).toBe(1);
    expect(r.stdout).toMatch(/Kernel Module/);
    expect(r.stderr).toMatch(new RegExp(`^sink webhook:127\\.0\\.0\\.1:${port}: 0 sent, 1 failed, 0 dropped, 0 queued on disk — last error: .*ECONNREFUSED`, "m"));
  });

  it("live: the alert waits on disk while the webhook is down, is in the status line, and the next run delivers it", async () => {
    const dir = tempDir();
    const stateDir = join(dir, "state");
    const port = await closedPort();
    const cfgDown = join(dir, "down.yaml");
    writeFileSync(cfgDown, `${QUIET}sinks:\n  - { type: webhook, name: hook, url: "http://127.0.0.1:${port}/hook", retries: 1, backoffMs: 10, maxBackoffMs: 50 }\n`);
    writeFileSync(join(dir, "a.log"), KMOD);
    const env = { HV_STATE_DIR: stateDir, LC_ALL: "C" };
    // The input stays open (a live source) until hv said the sink fails, so the status line runs meanwhile.
    const child = execa("node", [HV_BIN, "monitor", "--stdin", "--no-libvirt", "--no-tui", "--status-every", "1", "--config", cfgDown], { env, cwd: ROOT, reject: false, timeout: 90_000, stdin: "pipe" });
    let stderr = "";
    child.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
    child.stdin!.write(KMOD);
    const deadline = Date.now() + 60_000;
    while (!(/sink hook is failing/.test(stderr) && /^status: .*sinks: hook/m.test(stderr)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    child.stdin!.end();
    const down = await child;
    expect(down.exitCode, down.stderr).toBe(1);
    expect(down.stderr).toMatch(/sink hook is failing: .*ECONNREFUSED/);
    expect(down.stderr).toMatch(/^status: .*; sinks: hook 1 queued/m);
    expect(down.stderr).toMatch(/^sink hook: 0 sent, 0 failed, 0 dropped, 1 queued on disk — the queued ones are retried at the next start/m);
    expect(readdirSync(join(stateDir, "outbox")).some((f) => f.startsWith("hook-") && f.endsWith(".jsonl"))).toBe(true);

    // The peer is back (same sink name, now a listening server): the next run delivers the backlog.
    const rx = await startHttpServer();
    try {
      const cfgUp = join(dir, "up.yaml");
      writeFileSync(cfgUp, `${QUIET}sinks:\n  - { type: webhook, name: hook, url: "${rx.url}/hook" }\n`);
      const up = await execa("node", [HV_BIN, "monitor", "--stdin", "--no-libvirt", "--no-tui", "--config", cfgUp], { env, cwd: ROOT, input: "", reject: false, timeout: 90_000 });
      expect(up.exitCode, up.stderr).toBe(0);
      expect(rx.received).toHaveLength(1);
      expect(rx.received[0]!.body).toMatchObject({ rule: { title: expect.stringMatching(/Kernel Module/) } });
      expect(up.stderr).toMatch(/^sink hook: 1 sent, 0 failed, 0 dropped, 0 queued on disk$/m);
      expect(readdirSync(join(stateDir, "outbox")).filter((f) => f.endsWith(".jsonl"))).toEqual([]);
    } finally {
      await rx.close();
    }
  });
});
