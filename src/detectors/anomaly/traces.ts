// Where syscall sequences come from: trace files (one trace per file, syscall numbers separated
// by whitespace — the ADFA-LD layout) and audit events (one sequence per process).

import { readdirSync, statSync } from "node:fs";
import { basename, join } from "node:path";
import { MAX_TRAINING_BYTES, readTextCapped } from "../../events/input.js";
import type { HvEvent } from "../../events/event.js";
import { i386Number } from "./syscall-names.js";

export interface Trace {
  /** File path, or `pid:<n>` for a process seen in audit events. */
  id: string;
  calls: number[];
}

export interface TraceProblem {
  file: string;
  /** 1-based position of the bad token in the file (0 for file-level problems). */
  token: number;
  reason: string;
}

export interface LoadedTraces {
  traces: Trace[];
  problems: TraceProblem[];
}

/** Parses one trace file's text; bad tokens are reported and skipped. */
export function parseTrace(text: string, file: string, problems: TraceProblem[]): number[] {
  const calls: number[] = [];
  const tokens = text.split(/\s+/).filter((t) => t.length > 0);
  tokens.forEach((tok, i) => {
    const n = Number(tok);
    if (!/^\d+$/.test(tok) || n > 4096) problems.push({ file, token: i + 1, reason: `not a syscall number: ${JSON.stringify(tok.slice(0, 40))}` });
    else calls.push(n);
  });
  return calls;
}

/** Every regular file in `dir` (sorted by name, so order is the same everywhere), as traces. */
export function loadTraceDir(dir: string): LoadedTraces {
  const problems: TraceProblem[] = [];
  const traces: Trace[] = [];
  const names = readdirSync(dir).sort();
  for (const name of names) {
    const path = join(dir, name);
    if (!statSync(path).isFile()) continue;
    const calls = parseTrace(readTextCapped(path, MAX_TRAINING_BYTES), path, problems);
    if (calls.length === 0) {
      problems.push({ file: path, token: 0, reason: "no syscalls in file" });
      continue;
    }
    traces.push({ id: path, calls });
  }
  if (traces.length === 0) throw new Error(`${dir}: no trace files with syscall numbers`);
  return { traces, problems };
}

/**
 * Attack traces by class: files directly in `dir` form the class named after `dir`; each
 * subfolder is a class named after the subfolder without a trailing run number (ADFA-LD's
 * `Attack_Data_Master/Adduser_3/` → `Adduser`).
 */
export function loadLabelledTraceDir(dir: string): { classes: Map<string, Trace[]>; problems: TraceProblem[] } {
  const classes = new Map<string, Trace[]>();
  const problems: TraceProblem[] = [];
  const add = (name: string, traces: Trace[]): void => {
    classes.set(name, [...(classes.get(name) ?? []), ...traces]);
  };
  const entries = readdirSync(dir).sort();
  if (entries.some((e) => statSync(join(dir, e)).isFile())) {
    const own = loadTraceDir(dir);
    add(basename(dir), own.traces);
    problems.push(...own.problems);
  }
  for (const e of entries) {
    const sub = join(dir, e);
    if (!statSync(sub).isDirectory()) continue;
    const { traces, problems: p } = loadTraceDir(sub);
    add(e.replace(/_\d+$/, ""), traces);
    problems.push(...p);
  }
  if (classes.size === 0) throw new Error(`${dir}: no trace files`);
  return { classes, problems };
}

/** The i386 number of an audit event's syscall, or undefined when it is not a syscall event. */
export function eventSyscall(event: HvEvent): number | undefined {
  const name = event.audit?.syscall;
  if (event.event.module !== "audit" || !name) return undefined;
  return /^\d+$/.test(name) ? undefined : i386Number(name);
}

/** One trace per process (pid), in event order; names without an i386 equivalent are counted. */
export function tracesFromEvents(events: Iterable<HvEvent>, minLength = 1): { traces: Trace[]; unmapped: Map<string, number> } {
  const byPid = new Map<number, number[]>();
  const unmapped = new Map<string, number>();
  for (const ev of events) {
    const pid = ev.process?.pid;
    const name = ev.audit?.syscall;
    if (pid === undefined || !name || ev.event.module !== "audit") continue;
    const num = eventSyscall(ev);
    if (num === undefined) {
      unmapped.set(name, (unmapped.get(name) ?? 0) + 1);
      continue;
    }
    let seq = byPid.get(pid);
    if (!seq) byPid.set(pid, (seq = []));
    seq.push(num);
  }
  const traces: Trace[] = [];
  for (const [pid, calls] of byPid) if (calls.length >= minLength) traces.push({ id: `pid:${pid}`, calls });
  return { traces, unmapped };
}
