// A real `hv monitor` in its own process, following an audit log the test appends to, with its API
// (and console, and /metrics) on a free loopback port: what the web console and the dashboard
// tests run against. Nothing on the host changes: no libvirt, no firewall, no conntrack.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { HV_BIN } from "./hv-cli.js";
import { freePort } from "./ports.js";

export interface HvAgent {
  /** http://127.0.0.1:PORT */
  url: string;
  port: number;
  stateDir: string;
  auditLog: string;
  /** The last 8000 characters of its stderr. */
  log(): string;
  stop(): Promise<void>;
}

export interface HvAgentOptions {
  /** A directory the test owns: state/, audit.log and hv.yaml go there. */
  dir: string;
  /** More YAML config lines (the API, no firewall and no conntrack are set already). */
  config?: string[];
  /** More `hv monitor` arguments (e.g. --playbooks DIR). */
  args?: string[];
  /** Runs before the agent starts, with its state directory (seed the store). */
  prepare?: (stateDir: string) => void | Promise<void>;
}

export async function startHvAgent(opts: HvAgentOptions): Promise<HvAgent> {
  const stateDir = join(opts.dir, "state");
  const auditLog = join(opts.dir, "audit.log");
  mkdirSync(stateDir, { recursive: true });
  writeFileSync(auditLog, "");
  const port = await freePort();
  const config = join(opts.dir, "hv.yaml");
  writeFileSync(config, [`api: { enabled: true, host: 127.0.0.1, port: ${port} }`, "firewall: { enabled: false }", "flows: { conntrack: false }", ...(opts.config ?? [])].join("\n") + "\n");
  await opts.prepare?.(stateDir);
  const child: ChildProcess = spawn(process.execPath, [HV_BIN, "monitor", "--audit-log", auditLog, "--state-dir", stateDir, "--config", config, "--no-libvirt", "--no-tui", "--status-every", "0", ...(opts.args ?? [])], {
    stdio: ["ignore", "ignore", "pipe"],
    env: { ...process.env, LC_ALL: "C" },
  });
  let log = "";
  child.stderr!.on("data", (d: Buffer) => (log = (log + d.toString()).slice(-8000)));
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const url = `http://127.0.0.1:${port}`;
  const agent: HvAgent = {
    url,
    port,
    stateDir,
    auditLog,
    log: () => log,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
      await exited;
    },
  };
  try {
    await waitUntil(async () => (await fetch(`${url}/healthz`).catch(() => undefined))?.status === 200, 60_000, "hv's API to answer", agent);
  } catch (err) {
    await agent.stop();
    throw err;
  }
  return agent;
}

/** Polls `check` until it holds; the error names what was awaited and ends with the agent's log. */
export async function waitUntil(check: () => boolean | Promise<boolean>, timeoutMs: number, what: string, agent?: HvAgent): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${agent ? `\n--- hv monitor stderr ---\n${agent.log()}` : ""}`);
}
