import { createReadStream } from "node:fs";
import type { Command } from "commander";
import { AuditDecoder, type DecoderStats } from "../collectors/audit/decoder.js";
import type { HvEvent } from "../events/event.js";
import { readStreamLines } from "../collectors/audit/sources/stdin.js";
import { LineWriter } from "./output.js";
import { terminalSafe, writeSafe } from "../events/terminal.js";

export function registerEvents(program: Command): void {
  program
    .command("events")
    .description("parse and group a recorded audit log; print normalized events, then a summary on stderr")
    .requiredOption("--replay <file>", "raw auditd log to read ('-' for stdin)")
    .option("--json", "one JSON event per line (the normalized Event, raw records included)")
    .addHelpText(
      "after",
      `
Examples:
  hv events --replay /var/log/audit/audit.log --json | jq -c '.process'
  ausearch --raw -ts today | hv events --replay - --json
The summary (stderr) counts records, events, malformed lines (first line numbers and reasons) and
lost serials (gaps in the kernel's sequence numbers).`,
    )
    .action(async (opts: { replay: string; json?: boolean }) => {
      const stats = await replayEvents(opts.replay, opts.json ?? false);
      writeSafe(process.stderr, formatSummary(stats, opts.replay));
      if (stats.lines > 0 && stats.records === 0) process.exitCode = 2;
    });
}

export interface ReplayStats extends DecoderStats {
  lostRanges: Array<{ node: string; from: number; to: number }>;
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

/** One event as a short human line: time, action, who, what. */
export function formatEventLine(e: HvEvent): string {
  return formatEventParts(e).map(terminalSafe).join(" ");
}

function formatEventParts(e: HvEvent): string[] {
  const parts = [e["@timestamp"], e.event.action];
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
