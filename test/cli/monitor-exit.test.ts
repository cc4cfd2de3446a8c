// `hv monitor --stdin` is a finite run: once its input ends it stores what it read, prints the
// summary and exits — with every timer of the live agent running (response tick, feed schedule,
// status line, /metrics listener), none of which may keep the process alive or touch the store
// after it closed. The first case runs without system components; the second, with the defaults
// of a root host (conntrack collector on), touches conntrack and needs the host lock:
//   flock /tmp/hv-system.lock npx vitest run test/cli/monitor-exit.test.ts

import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execa } from "execa";
import { spawn } from "node:child_process";
import { afterAll, describe, expect, it } from "vitest";
import { onPath, hasNetAdmin } from "../../src/agent/system.js";
import { HV_BIN } from "../helpers/hv-cli.js";

const ROOT = new URL("../../", import.meta.url).pathname;
const FIXTURE = join(ROOT, "test/fixtures/audit/real-execve.log");
const dirs: string[] = [];

afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), "hv-monitor-exit-"));
  dirs.push(d);
  return d;
}

async function monitorStdin(config: string): Promise<{ code: number | undefined; stderr: string; timedOut: boolean }> {
  const dir = tempDir();
  const feed = join(dir, "feed.txt");
  writeFileSync(feed, "203.0.113.7\n198.51.100.9\n");
  const cfgPath = join(dir, "hv.yaml");
  writeFileSync(cfgPath, config);
  const env = { HV_STATE_DIR: join(dir, "state"), LC_ALL: "C" };
  // A feed whose schedule is due at once: the agent's scheduler syncs it during the run.
  await execa("node", [HV_BIN, "feeds", "add", "local", feed, "--format", "plain", "--schedule", "1m"], { env, cwd: ROOT });
  const r = await execa("node", [HV_BIN, "monitor", "--stdin", "--no-libvirt", "--config", cfgPath, "--status-every", "1"], {
    env,
    cwd: ROOT,
    inputFile: FIXTURE,
    reject: false,
    // Generous for a loaded 2-core machine; a monitor that never exits is killed here and fails.
    timeout: 90_000,
  });
  return { code: r.exitCode, stderr: String(r.stderr), timedOut: r.timedOut };
}

describe("hv monitor --stdin", () => {
  it("exits after its input ends, with the response tick, feed schedule and /metrics running", async () => {
    const r = await monitorStdin("flows: { conntrack: false }\nfirewall: { enabled: false }\nmetrics: { port: 0 }\n");
    expect(r.timedOut).toBe(false);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/stored 5 new events/);
    // Nothing ran against the closed store.
    expect(r.stderr).not.toMatch(/database connection is not open/i);
    expect(r.stderr).not.toMatch(/response: tick/);
  }, 120_000);

  const rootWithConntrack = onPath("conntrack") && hasNetAdmin();
  it.skipIf(!rootWithConntrack)("exits after its input ends with a root host's defaults (conntrack collector running)", async () => {
    const r = await monitorStdin("firewall: { enabled: false }\n");
    expect(r.timedOut).toBe(false);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/stored 5 new events/);
    expect(r.stderr).not.toMatch(/database connection is not open/i);
  }, 120_000);

  it("a Ctrl-C during start-up ends a live run: nothing started after it keeps running", async () => {
    const dir = tempDir();
    const log = join(dir, "audit.log");
    writeFileSync(log, "");
    const cfgPath = join(dir, "hv.yaml");
    writeFileSync(cfgPath, "flows: { conntrack: false }\nfirewall: { enabled: false }\n");
    const monitor = spawn(process.execPath, [HV_BIN, "monitor", "--audit-log", log, "--no-libvirt", "--no-tui", "--config", cfgPath, "--status-every", "0"], {
      cwd: ROOT,
      env: { ...process.env, HV_STATE_DIR: join(dir, "state"), LC_ALL: "C" },
      stdio: ["ignore", "ignore", "pipe"],
    });
    let stderr = "";
    const exited = new Promise<string>((resolve) => monitor.on("exit", (code, signal) => resolve(`${code ?? signal}`)));
    // The first line comes once the rules are loaded, before the response, API and timers start.
    await new Promise<void>((resolve) => monitor.stderr.on("data", (d: Buffer) => ((stderr += d.toString()), resolve())));
    monitor.kill("SIGINT");
    // Generous for a loaded 2-core machine; a monitor that never exits is killed and the test fails.
    const outcome = await Promise.race([exited, new Promise<string>((resolve) => setTimeout(() => resolve("still running"), 90_000))]);
    if (outcome === "still running") monitor.kill("SIGKILL");
    expect(outcome, stderr).toBe("0");
    expect(stderr).not.toMatch(/database connection is not open/i);
  }, 120_000);
});
