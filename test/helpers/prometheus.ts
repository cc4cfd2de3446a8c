// A real Prometheus (Debian's `prometheus`) on a free loopback port, scraping the given targets
// every second and evaluating the given rule files every second, with its data in a directory of
// its own. Tests skip loudly without it, and fail instead under CI=true.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "./ports.js";

/** Why a real Prometheus cannot run here (undefined: it can); throws under CI=true. */
export function prometheusSkipReason(): string | undefined {
  if (spawnSync("prometheus", ["--version"]).status === 0 && spawnSync("promtool", ["--version"]).status === 0) return undefined;
  const why = "prometheus is not installed (apt-get install -y prometheus): the real-Prometheus tests are SKIPPED";
  if (process.env.CI === "true") throw new Error(why);
  process.stderr.write(`\n*** ${why} ***\n\n`);
  return why;
}

export interface Prometheus {
  url: string;
  /** The last 4000 characters of its log. */
  log(): string;
  /** The instant query's result (an empty list when nothing matches). */
  query(expr: string): Promise<Array<{ metric: Record<string, string>; value: [number, string] }>>;
  /** Polls until the query has a sample; returns its first value. */
  waitForSample(expr: string, deadlineMs?: number): Promise<number>;
  stop(): Promise<void>;
}

export async function startPrometheus(opts: { targets: string[]; job?: string; ruleFiles?: string[] }): Promise<Prometheus> {
  const dir = mkdtempSync(join(tmpdir(), "hv-prom-"));
  const config = [
    "global:",
    "  scrape_interval: 1s",
    "  evaluation_interval: 1s",
    ...(opts.ruleFiles?.length ? ["rule_files:", ...opts.ruleFiles.map((f) => `  - ${JSON.stringify(f)}`)] : []),
    "scrape_configs:",
    `  - job_name: ${opts.job ?? "hv"}`,
    "    metrics_path: /metrics",
    "    static_configs:",
    `      - targets: [${opts.targets.map((t) => JSON.stringify(t)).join(", ")}]`,
  ].join("\n");
  writeFileSync(join(dir, "prometheus.yml"), config + "\n");
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const child: ChildProcess = spawn("prometheus", [`--config.file=${join(dir, "prometheus.yml")}`, `--storage.tsdb.path=${join(dir, "data")}`, `--web.listen-address=127.0.0.1:${port}`], { stdio: ["ignore", "ignore", "pipe"] });
  let log = "";
  child.stderr!.on("data", (d: Buffer) => (log = (log + d.toString()).slice(-4000)));
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));

  const query: Prometheus["query"] = async (expr) => {
    const res = await fetch(`${url}/api/v1/query?query=${encodeURIComponent(expr)}`);
    const body = (await res.json()) as { status: string; error?: string; data?: { result: Array<{ metric: Record<string, string>; value: [number, string] }> } };
    if (body.status !== "success") throw new Error(`Prometheus refused ${expr}: ${body.error ?? res.status}`);
    return body.data!.result;
  };
  return {
    url,
    log: () => log,
    query,
    async waitForSample(expr, deadlineMs = 45_000) {
      const until = Date.now() + deadlineMs;
      let last = "";
      while (Date.now() < until) {
        try {
          const result = await query(expr);
          if (result.length > 0) return Number(result[0]!.value[1]);
          last = "no series";
        } catch (err) {
          last = String(err);
        }
        await new Promise((r) => setTimeout(r, 500));
      }
      throw new Error(`Prometheus has no sample for ${expr} after ${deadlineMs} ms (${last})\nprometheus log tail:\n${log}`);
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
      await exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
