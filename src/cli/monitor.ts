import { join } from "node:path";
import type { Command } from "commander";
import { AuditCollector, type AuditSource } from "../collectors/audit/collector.js";
import { DEFAULT_RETENTION, defaultStateDir, detectAuditSource } from "../agent/config.js";
import { startPipeline } from "../agent/pipeline.js";
import type { HvEvent } from "../events/event.js";
import { getCheckpoint } from "../store/checkpoints.js";
import { openStore } from "../store/open.js";
import { applyRetention } from "../store/retention.js";
import { formatEventLine, formatSummary } from "./events.js";
import { LineWriter } from "./output.js";

interface MonitorOptions {
  replay?: string;
  auditLog?: string;
  auditSocket?: string;
  stdin?: boolean;
  stateDir: string;
  events?: boolean;
  json?: boolean;
  statusEvery: string;
}

const RETENTION_EVERY_MS = 10 * 60 * 1000;

export function registerMonitor(program: Command): void {
  program
    .command("monitor")
    .description("run the pipeline on this host's audit stream (monitor mode: alert, never act)")
    .option("--replay <file>", "run over a recorded audit log, then exit with a summary")
    .option("--audit-log <path>", "follow this audit log (rotation-safe, resumes where it stopped)")
    .option("--audit-socket <path>", "read auditd's af_unix plugin socket")
    .option("--stdin", "read raw audit records from standard input")
    .option("--state-dir <dir>", "where the SQLite store lives", defaultStateDir())
    .option("--events", "print every stored event")
    .option("--json", "JSON lines instead of text (events, status)")
    .option("--status-every <seconds>", "status line interval on stderr (0: never)", "5")
    .addHelpText(
      "after",
      `
With no source flag, hv uses ${"/var/run/audispd_events"} (auditd's af_unix plugin) if it exists,
else follows /var/log/audit/audit.log; if neither is readable it says why and exits.

Examples:
  hv monitor
  hv monitor --audit-log /var/log/audit/audit.log --events
  hv monitor --replay recorded.log --json --events
  HV_STATE_DIR=/tmp/hv hv monitor --audit-socket /run/audit/hv.sock`,
    )
    .action(async (opts: MonitorOptions) => {
      process.exitCode = await runMonitor(opts);
    });
}

async function runMonitor(opts: MonitorOptions): Promise<number> {
  const source = chooseSource(opts);
  if (source === undefined) return 2;
  const dbPath = join(opts.stateDir, "hv.db");
  const db = openStore(dbPath);
  const replay = opts.replay !== undefined;
  if (source.kind === "file" && source.follow) {
    const from = getCheckpoint(db, `audit:${source.path}`);
    if (from) source.from = from;
  }
  const collector = new AuditCollector(source);
  const out = new LineWriter();
  const printEvents = (events: HvEvent[]): void => {
    if (!opts.events) return;
    for (const e of events) out.line(opts.json ? JSON.stringify(e) : formatEventLine(e));
  };

  const abort = new AbortController();
  const stop = (): void => abort.abort();
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
  if (!replay) process.stderr.write(`hv monitor: reading ${collector.name.slice(6)} (${source.kind}); store ${dbPath}\n`);

  const pipeline = startPipeline(
    {
      db,
      collectors: [collector],
      onEvents: printEvents,
      onError: (err, where) => process.stderr.write(`hv monitor: ${where}: ${err instanceof Error ? err.message : String(err)}\n`),
    },
    abort.signal,
  );

  const timers: NodeJS.Timeout[] = [];
  const statusEvery = Number(opts.statusEvery) * 1000;
  if (!replay && statusEvery > 0) {
    let last = 0;
    timers.push(
      setInterval(() => {
        const s = pipeline.stats();
        const d = collector.stats;
        const status = {
          events_per_s: Math.round(((s.stored - last) * 1000) / statusEvery),
          stored: s.stored, queued: s.queued, drops: s.drops,
          malformed: d.malformed, lost_serials: d.lostSerials,
        };
        last = s.stored;
        process.stderr.write(opts.json ? JSON.stringify({ status }) + "\n" : `status: ${status.events_per_s} events/s, ${status.stored} stored, ${status.queued} queued, drops ${JSON.stringify(status.drops)}, ${status.malformed} malformed, ${status.lost_serials} lost serials\n`);
      }, statusEvery),
    );
  }
  if (!replay) {
    const trim = (): void => void applyRetention(db, DEFAULT_RETENTION);
    trim();
    timers.push(setInterval(trim, RETENTION_EVERY_MS));
  }

  await pipeline.done;
  for (const t of timers) clearInterval(t);
  await out.end();
  const s = pipeline.stats();
  process.stderr.write(formatSummary({ ...collector.stats, lostRanges: collector.decoder.lostRanges() }, collector.name.slice(6)));
  process.stderr.write(`stored ${s.stored} new events (${s.duplicates} already stored), drops ${JSON.stringify(s.drops)}\n`);
  db.close();
  return 0;
}

function chooseSource(opts: MonitorOptions): AuditSource | undefined {
  if (opts.replay) return opts.replay === "-" ? { kind: "stream", stream: process.stdin, label: "stdin" } : { kind: "file", path: opts.replay, follow: false };
  if (opts.stdin) return { kind: "stream", stream: process.stdin, label: "stdin" };
  if (opts.auditSocket) return { kind: "socket", path: opts.auditSocket };
  if (opts.auditLog) return { kind: "file", path: opts.auditLog, follow: true };
  const found = detectAuditSource();
  if (found.kind === "none") {
    process.stderr.write(
      `hv monitor: no audit source is readable:\n${found.reasons.map((r) => `  ${r}\n`).join("")}` +
        `Start auditd (or enable its af_unix plugin), run hv as root or a member of the audit log's group,\n` +
        `or replay a recorded log:  hv monitor --replay FILE\n`,
    );
    return undefined;
  }
  return found.kind === "socket" ? found : { kind: "file", path: found.path, follow: true };
}
