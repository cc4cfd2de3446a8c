import { closeSync, createReadStream, openSync, statSync } from "node:fs";
import type { Command } from "commander";
import { AuditDecoder, type DecoderStats } from "../collectors/audit/decoder.js";
import type { HvEvent } from "../events/event.js";
import { readStreamLines } from "../collectors/audit/sources/stdin.js";
import { InputError, positiveInt } from "../events/input.js";
import { LineWriter } from "./output.js";
import { localTime, parseTimeArg } from "./time.js";
import { terminalSafe, writeSafe } from "../events/terminal.js";

export function registerEvents(program: Command): void {
  const events = program
    .command("events")
    .description("stored events (hv events list), or a recorded audit log parsed and grouped (hv events --replay FILE)")
    .option("--replay <file>", "raw auditd log to parse and group ('-' for stdin): one event per line, a summary on stderr")
    .option("--json", "one JSON event per line (the normalized Event, raw records included)")
    .addHelpText(
      "after",
      `
Examples:
  hv events list --since 1h --vm web1
  hv events list --alert 42 --json | jq -c '.process'
  hv events --replay /var/log/audit/audit.log --json | jq -c '.process'
  ausearch --raw -ts today | hv events --replay - --json
The replay summary (stderr) counts records, events, malformed lines (first line numbers and
reasons) and lost serials (gaps in the kernel's sequence numbers).
Exit status: 0; 2 when the file cannot be read, or is not empty and holds no audit record.`,
    )
    .action(async (opts: { replay?: string; json?: boolean }) => {
      if (opts.replay === undefined) throw new InputError("give --replay FILE (a recorded audit log), or hv events list for the stored events; hv events --help");
      const unreadable = unreadableReplay(opts.replay);
      if (unreadable) throw new InputError(unreadable);
      const stats = await replayEvents(opts.replay, opts.json ?? false);
      writeSafe(process.stderr, formatSummary(stats, opts.replay));
      const none = noAuditRecords(stats, opts.replay);
      if (none) throw new InputError(none);
    });

  events
    .command("list")
    .description("stored events, oldest first, with the API's filters (GET /api/v1/events)")
    .option("--state-dir <dir>", "where the store lives (default $HV_STATE_DIR, /var/lib/hv as root, else ~/.local/state/hv)")
    .option("--since <time>", "at or after: an age (30m, 2h, 7d) or an ISO time")
    .option("--until <time>", "before: an age or an ISO time")
    .option("--vm <name>", "only events of this VM")
    .option("--module <name>", "only this source: audit, libvirt, flow, …")
    .option("--action <name>", "only this action: execve, connect, started, …")
    .option("--rule <id>", "only the events behind this rule's newest alerts")
    .option("--alert <id>", "only the events behind this alert")
    .option("--limit <n>", "at most N events", "500")
    .option("--json", "one JSON event per line")
    .addHelpText(
      "after",
      `
Times are shown in local time with their zone; --json keeps the stored UTC times.

Examples:
  hv events list --since 2h
  hv events list --vm web1 --action execve --since 1d
  hv events list --alert 42
  hv events list --rule 5b0c7a53-9f7e-4c4e-9d61-6f0e1a7d3c21 --json`,
    )
    .action(async (_opts: unknown, cmd: Command) => {
      // --json may have been taken by `hv events` itself: read the options of both.
      const o = cmd.optsWithGlobals<{ stateDir?: string; since?: string; until?: string; vm?: string; module?: string; action?: string; rule?: string; alert?: string; limit: string; json?: boolean }>();
      const limit = positiveInt(o.limit, "--limit");
      const alertId = o.alert !== undefined ? positiveInt(o.alert, "--alert") : undefined;
      const [{ openStateStore, stateDirOf }, { getAlert }, { eventIdsFor, queryEvents }] = await Promise.all([
        import("../store/open.js"),
        import("../store/alerts.js"),
        import("../api/queries.js"),
      ]);
      const db = openStateStore(stateDirOf(o.stateDir));
      let found: HvEvent[];
      try {
        const alert = alertId !== undefined ? getAlert(db, alertId) : undefined;
        if (alertId !== undefined && !alert) throw new Error(`no alert ${alertId} (hv alerts list shows them)`);
        found = queryEvents(db, {
          ...(o.since !== undefined ? { sinceMs: parseTimeArg(o.since, "--since") } : {}),
          ...(o.until !== undefined ? { untilMs: parseTimeArg(o.until, "--until") } : {}),
          ...(o.vm !== undefined ? { vmName: o.vm } : {}),
          ...(o.module !== undefined ? { module: o.module } : {}),
          ...(o.action !== undefined ? { action: o.action } : {}),
          ids: eventIdsFor(db, { ...(o.rule !== undefined ? { ruleId: o.rule } : {}), ...(alert ? { alert } : {}) }),
          limit,
        });
      } finally {
        db.close();
      }
      const out = new LineWriter();
      for (const e of found) out.line(o.json ? JSON.stringify(e) : formatEventLine(e, localTime));
      if (!o.json && found.length === 0) out.line("no events");
      await out.end();
    });
}

export interface ReplayStats extends DecoderStats {
  lostRanges: Array<{ node: string; from: number; to: number }>;
}

/**
 * Why a replay input cannot be read (missing, a directory, no permission), said before any work
 * starts; undefined when it can be ("-" is stdin). `hv monitor --replay` asks the same.
 */
export function unreadableReplay(file: string): string | undefined {
  if (file === "-") return undefined;
  try {
    if (statSync(file).isDirectory()) return `${file} is a directory, not an audit log`;
    closeSync(openSync(file, "r"));
    return undefined;
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    return `cannot read ${file}: ${e.code === "ENOENT" ? "no such file" : e.code === "EACCES" ? "permission denied" : e.message}`;
  }
}

/** A non-empty input in which no line was an audit record: not an audit log (exit 2). */
export function noAuditRecords(s: Pick<DecoderStats, "lines" | "records">, file: string): string | undefined {
  return s.lines > 0 && s.records === 0 ? `${file === "-" ? "standard input" : file} holds no audit record in ${s.lines} lines: not a raw auditd log (ausearch --raw writes one)` : undefined;
}

async function replayEvents(file: string, json: boolean): Promise<ReplayStats> {
  const out = new LineWriter();
  const decoder = new AuditDecoder();
  const print = (events: HvEvent[]): void => {
    for (const e of events) out.line(json ? JSON.stringify(e) : formatEventLine(e));
  };
  const input = file === "-" ? process.stdin : createReadStream(file);
  for await (const line of readStreamLines(input, { signal: new AbortController().signal })) print(decoder.pushLine(line.text, line.lineNo, undefined, undefined, 0, line.truncatedBytes).events);
  print(decoder.flush());
  await out.end();
  return { ...decoder.stats, lostRanges: decoder.lostRanges() };
}

/** One event as a short human line: time, action, who, what. `time` formats the timestamp (default: as stored, UTC). */
export function formatEventLine(e: HvEvent, time: (iso: string) => string = (iso) => iso): string {
  return formatEventParts(e, time).map(terminalSafe).join(" ");
}

function formatEventParts(e: HvEvent, time: (iso: string) => string): string[] {
  const parts = [time(e["@timestamp"]), e.event.action];
  if (e.vm?.name) parts.push(`vm=${e.vm.name}`);
  if (e.user?.name ?? e.user?.id) parts.push(`user=${e.user?.name ?? e.user?.id}`);
  if (e.process?.pid !== undefined) parts.push(`pid=${e.process.pid}`);
  if (e.process?.executable) parts.push(`exe=${e.process.executable}`);
  if (e.process?.command_line) parts.push(`cmd=${JSON.stringify(e.process.command_line.slice(0, 200))}`);
  if (e.file?.path) parts.push(`file=${e.file.path}`);
  if (e.destination?.ip) parts.push(`dst=${e.destination.ip}:${e.destination.port ?? ""}`);
  if (e.audit?.key) parts.push(`key=${e.audit.key.join(",")}`);
  parts.push(e.event.outcome);
  return parts;
}

export function formatSummary(s: ReplayStats, file: string): string {
  const lines = [
    `${file}: ${s.lines} lines, ${s.records} records, ${s.events} events, ${s.malformed} malformed, ` +
      `${s.warnings} with field problems, ${s.lostSerials} lost serials, ${s.incomplete} closed without EOE, ${s.late} late, ${s.evicted} evicted`,
  ];
  for (const p of s.problems.slice(0, 5)) lines.push(`  line ${p.line}: ${p.reason}`);
  if (s.problems.length > 5) lines.push(`  … ${s.malformed + s.warnings - 5} more`);
  if (s.lostRanges.length > 0) {
    const shown = s.lostRanges.slice(0, 5).map((r) => (r.from === r.to ? `${r.from}` : `${r.from}-${r.to}`));
    lines.push(`  lost serials: ${shown.join(", ")}${s.lostRanges.length > 5 ? ", …" : ""}`);
  }
  return lines.join("\n") + "\n";
}
