// Runs a real Prometheus Alertmanager (Debian package prometheus-alertmanager) for tests: a temp
// dir holds its config and storage, it listens on a free loopback port, and clustering is off
// (`--cluster.listen-address=` empty) so it opens no other port and looks for no peers.

import { spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "./ports.js";

// Overridable to try another build, or to see the skip path (`HV_ALERTMANAGER_BIN=/nonexistent`).
export const ALERTMANAGER_BIN = process.env.HV_ALERTMANAGER_BIN ?? "/usr/bin/prometheus-alertmanager";

export interface StartAlertmanagerOptions {
  /** Where Alertmanager delivers notifications (a webhook receiver the test runs), with send_resolved. */
  webhookUrl?: string;
}

export interface RunningAlertmanager {
  /** Base URL, e.g. http://127.0.0.1:40123 */
  url: string;
  /** The exact command line, for messages. */
  command: string[];
  stop(): Promise<void>;
}

/** Why Alertmanager cannot run here, or undefined if it can. */
export function whyNoAlertmanager(): string | undefined {
  if (!existsSync(ALERTMANAGER_BIN)) return `${ALERTMANAGER_BIN} is missing (apt-get install prometheus-alertmanager)`;
  return undefined;
}

export async function startAlertmanager(opts: StartAlertmanagerOptions = {}): Promise<RunningAlertmanager> {
  const reason = whyNoAlertmanager();
  if (reason) throw new Error(`cannot start Alertmanager: ${reason}`);
  const dir = await mkdtemp(join(tmpdir(), "hv-alertmanager-"));
  await writeFile(join(dir, "alertmanager.yml"), config(opts.webhookUrl));
  // The free port can be taken between probing and binding; try again with another one.
  let lastError: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      return await launch(dir, await freePort());
    } catch (err) {
      lastError = err;
    }
  }
  await rm(dir, { recursive: true, force: true });
  throw lastError;
}

// Short group timings so a notification (and the resolved one) reaches the test within seconds.
function config(webhookUrl: string | undefined): string {
  const receiver = webhookUrl
    ? `  - name: test\n    webhook_configs:\n      - url: ${JSON.stringify(webhookUrl)}\n        send_resolved: true\n`
    : "  - name: test\n";
  return [
    "route:",
    "  receiver: test",
    "  group_by: [alertname]",
    "  group_wait: 100ms",
    "  group_interval: 1s",
    "  repeat_interval: 1h",
    "receivers:",
    receiver,
  ].join("\n");
}

async function launch(dir: string, port: number): Promise<RunningAlertmanager> {
  const url = `http://127.0.0.1:${port}`;
  const command = [
    ALERTMANAGER_BIN,
    `--config.file=${join(dir, "alertmanager.yml")}`,
    `--storage.path=${join(dir, "data")}`,
    `--web.listen-address=127.0.0.1:${port}`,
    "--cluster.listen-address=",
    "--log.level=warn",
  ];
  const child = spawn(command[0] as string, command.slice(1), { stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  child.stderr?.on("data", (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-4000)));
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  let hasExited = false;
  void exited.then(() => (hasExited = true));

  const deadline = Date.now() + 15_000;
  for (;;) {
    if (hasExited) throw new Error(`Alertmanager exited during start: ${stderr.trim()}`);
    if (await ready(url)) break;
    if (Date.now() > deadline) {
      await kill(child, exited);
      throw new Error(`Alertmanager not ready on ${url} after 15 s: ${stderr.trim()}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }

  return {
    url,
    command,
    stop: async () => {
      if (!hasExited) await kill(child, exited);
      await rm(dir, { recursive: true, force: true });
    },
  };
}

async function ready(url: string): Promise<boolean> {
  try {
    const res = await fetch(`${url}/-/ready`, { signal: AbortSignal.timeout(1000) });
    await res.text();
    return res.ok;
  } catch {
    return false;
  }
}

async function kill(child: ChildProcess, exited: Promise<number | null>): Promise<void> {
  child.kill("SIGTERM");
  const done = await Promise.race([exited.then(() => true), new Promise<false>((r) => setTimeout(() => r(false), 5000))]);
  if (!done) {
    child.kill("SIGKILL");
    await exited;
  }
}

