// The live conntrack collector: runs `conntrack -E -e NEW,DESTROY -o timestamp,extended,id` (in a
// network namespace when asked), decodes its lines into flow events, and keeps running: conntrack
// is restarted with backoff when it exits, and what was lost is counted and reported, never hidden.
//
// Two kernel settings decide what hv sees (both per network namespace):
//   net.netfilter.nf_conntrack_acct=1       byte/packet counters on DESTROY
//   net.netfilter.nf_conntrack_timestamp=1  delta-time= on DESTROY (duration of flows whose NEW hv missed)
// and one decides how much it loses under bursts: the event socket's receive buffer. conntrack
// 1.4.7 applies -b to its query socket, not the event socket (checked with strace and ss), so the
// only lever from outside is net.core.rmem_default (global, init namespace only), which sizes
// every new socket: hv raises it just while conntrack opens its sockets, then puts it back.
// See docs/conntrack.md.

import type { ResultPromise } from "execa";
import { readdir, readFile, readlink, writeFile } from "node:fs/promises";
import { hostname } from "node:os";
import { createInterface } from "node:readline";
import type { Collector, Envelope } from "../../events/collector.js";
import { isNotFound, MissingProgramError, runProgram, startProgram } from "../../events/programs.js";
import { createConntrackDecoder, type ConntrackDecoder, type ConntrackStats } from "./conntrack-decode.js";
import { sleep } from "../wait.js";

export interface ConntrackCollectorOptions {
  /** Run inside `ip netns exec NAME` (flows of that namespace). */
  netns?: string;
  /** Receive buffer for conntrack's event socket, bytes. Default 16 MiB; 0 leaves the system default. */
  bufferBytes?: number;
  /** The conntrack binary. Default "conntrack". */
  conntrackPath?: string;
  /** May hv change sysctls (nf_conntrack_acct, nf_conntrack_timestamp, rmem_default)? Default true. */
  tuneSysctls?: boolean;
  hostName?: string;
  /** See ConntrackDecoderOptions. */
  lostAfterMs?: number;
  maxOpenFlows?: number;
  /** First restart delay, doubled after each quick exit up to maxBackoffMs. Default 500. */
  backoffMs?: number;
  maxBackoffMs?: number;
  /** Human-readable notes: settings changed or refused, losses, restarts. */
  onReport?: (text: string) => void;
}

export interface ConntrackCollectorStats extends ConntrackStats {
  starts: number;
  /** conntrack exits that hv did not ask for. */
  exits: number;
  running: boolean;
  /** The running conntrack's pid. */
  pid?: number;
  /** The receive buffer conntrack's event socket got (net.core.rmem_default when it opened it). */
  socketBufferBytes?: number;
  /** nf_conntrack_acct as found or set: false means DESTROY events carry no counters. */
  accounting?: boolean;
  timestamps?: boolean;
}

export const CONNTRACK_ARGS = ["-E", "-e", "NEW,DESTROY", "-o", "timestamp,extended,id"];
const DEFAULT_BUFFER_BYTES = 16 * 1024 * 1024;
const RMEM_DEFAULT = "/proc/sys/net/core/rmem_default";
const ACCT = "net/netfilter/nf_conntrack_acct";
const TIMESTAMP = "net/netfilter/nf_conntrack_timestamp";
/** A conntrack that ran this long was healthy: the next restart starts from the first delay again. */
const HEALTHY_MS = 30_000;
const EXPIRE_EVERY_MS = 30_000;
/** At most one loss report per this interval (a burst can print hundreds of ENOBUFS warnings). */
const REPORT_LOSS_EVERY_MS = 10_000;

export class ConntrackCollector implements Collector {
  readonly name: string;
  readonly live = true;
  readonly decoder: ConntrackDecoder;
  private readonly counters: { starts: number; exits: number; running: boolean; pid?: number; socketBufferBytes?: number; accounting?: boolean; timestamps?: boolean } = { starts: 0, exits: 0, running: false };
  private lossReported = { at: 0, lostBuffer: 0, unmatchedNew: 0 };

  constructor(private readonly opts: ConntrackCollectorOptions = {}) {
    this.name = opts.netns ? `conntrack:${opts.netns}` : "conntrack";
    this.decoder = createConntrackDecoder({
      host: opts.hostName ?? hostname(),
      ...(opts.lostAfterMs !== undefined ? { lostAfterMs: opts.lostAfterMs } : {}),
      ...(opts.maxOpenFlows !== undefined ? { maxOpenFlows: opts.maxOpenFlows } : {}),
    });
  }

  get stats(): ConntrackCollectorStats {
    return { ...this.decoder.stats(), ...this.counters };
  }

  async run(emit: (item: Envelope) => Promise<void> | void, signal: AbortSignal): Promise<void> {
    await this.enableKernelSettings();
    const backoff = this.opts.backoffMs ?? 500;
    let delay = backoff;
    const timer = setInterval(() => {
      this.decoder.expire(Date.now());
      this.reportLosses(false);
    }, EXPIRE_EVERY_MS);
    try {
      while (!signal.aborted) {
        const started = Date.now();
        const why = await this.runOnce(emit, signal);
        if (signal.aborted) break;
        this.counters.exits++;
        if (Date.now() - started >= HEALTHY_MS) delay = backoff;
        this.report(`conntrack exited (${why}); restarting in ${delay} ms — events in between are lost`);
        await sleep(delay, signal);
        delay = Math.min(delay * 2, this.opts.maxBackoffMs ?? 30_000);
      }
    } finally {
      clearInterval(timer);
      this.counters.running = false;
      this.reportLosses(true);
    }
  }

  /** One conntrack process, from start to exit; returns why it ended. */
  private async runOnce(emit: (item: Envelope) => Promise<void> | void, signal: AbortSignal): Promise<string> {
    const bin = this.opts.conntrackPath ?? "conntrack";
    const [program, file, args] = this.opts.netns ? (["ip", "ip", ["netns", "exec", this.opts.netns, bin, ...CONNTRACK_ARGS]] as const) : (["conntrack", bin, CONNTRACK_ARGS] as const);
    const stderrTail: string[] = [];
    const { child } = await withReceiveBuffer(this.opts.tuneSysctls === false ? 0 : (this.opts.bufferBytes ?? DEFAULT_BUFFER_BYTES), (bytes, note) => {
      if (bytes !== undefined) this.counters.socketBufferBytes = bytes;
      if (note) this.report(note);
    }, () =>
      startProgram(program, args, { reject: false, stdin: "ignore", buffer: false, cancelSignal: signal, forceKillAfterDelay: 2000, env: { LC_ALL: "C" } }, file),
    );
    this.counters.starts++;
    this.counters.running = true;
    if (child.pid !== undefined) this.counters.pid = child.pid;
    const stderr = createInterface({ input: child.stderr!, crlfDelay: Infinity });
    stderr.on("line", (text) => {
      if (this.decoder.stderr(text)) this.reportLosses(false);
      else if (text.trim() !== "" && !/flow events have been shown/.test(text)) {
        stderrTail.push(text.trim());
        if (stderrTail.length > 5) stderrTail.shift();
      }
    });
    let lineNo = 0;
    const stdout = createInterface({ input: child.stdout!, crlfDelay: Infinity });
    for await (const text of stdout) {
      const event = this.decoder.line(text, ++lineNo);
      if (!event) continue;
      // Only wait when the pipeline asks to: a microtask per line adds up under a burst.
      const pending = emit({ event });
      if (pending) await pending;
    }
    const result = await child;
    this.counters.running = false;
    delete this.counters.pid;
    if (signal.aborted) return "stopped";
    if (isNotFound(result)) return new MissingProgramError(program, file).message;
    const how = result.signal ? `killed by ${result.signal}` : `exit code ${result.exitCode ?? "?"}`;
    return stderrTail.length > 0 ? `${how}: ${stderrTail.join("; ")}` : how;
  }

  /** nf_conntrack_acct and nf_conntrack_timestamp on, where hv may; says so where it may not. */
  private async enableKernelSettings(): Promise<void> {
    const where = this.opts.netns ? ` in netns ${this.opts.netns}` : "";
    for (const [key, what] of [[ACCT, "accounting"], [TIMESTAMP, "timestamps"]] as const) {
      const name = key.replaceAll("/", ".");
      const current = await readSysctl(key, this.opts.netns);
      if (current === undefined) {
        this.report(`${name} is missing${where} (nf_conntrack not loaded?): conntrack may have nothing to report`);
        continue;
      }
      let on = current === "1";
      if (!on && this.opts.tuneSysctls !== false) {
        const err = await writeSysctl(key, "1", this.opts.netns);
        if (err) this.report(`could not set ${name}=1${where} (${err})`);
        else {
          on = true;
          this.report(`set ${name}=1${where} (was ${current}); it applies to connections opened from now on`);
        }
      }
      this.counters[what] = on;
      if (!on) {
        this.report(key === ACCT
          ? `${name}=0${where} and hv may not change it: flow end events carry no bytes/packets`
          : `${name}=0${where} and hv may not change it: flows whose NEW was missed get no duration`);
      }
    }
  }

  private reportLosses(final: boolean): void {
    const s = this.decoder.stats();
    const now = Date.now();
    const changed = s.lostBuffer !== this.lossReported.lostBuffer || s.unmatchedNew !== this.lossReported.unmatchedNew;
    if (!changed || (!final && now - this.lossReported.at < REPORT_LOSS_EVERY_MS)) return;
    const parts = [];
    if (s.lostBuffer > 0) parts.push(`conntrack hit ENOBUFS ${s.lostBuffer} times (netlink receive buffer full: events dropped by the kernel)`);
    if (s.unmatchedNew > 0) parts.push(`${s.unmatchedNew} NEW flows never got their DESTROY (lost end events)`);
    this.report(`losses: ${parts.join("; ")}`);
    this.lossReported = { at: now, lostBuffer: s.lostBuffer, unmatchedNew: s.unmatchedNew };
  }

  private report(text: string): void {
    this.opts.onReport?.(text);
  }
}

// Raising net.core.rmem_default is global: collectors starting at the same time take turns, so
// each one puts back the value that was there before any of them.
let rmemTurn: Promise<void> = Promise.resolve();

/**
 * Starts the child with net.core.rmem_default raised to `bytes` until the child has opened its
 * netlink sockets (they take the default size then), and restores the old value right after.
 */
async function withReceiveBuffer(bytes: number, tell: (bytes: number | undefined, note?: string) => void, start: () => ResultPromise): Promise<{ child: ResultPromise }> {
  // Wrapped: a child process is itself a promise, which an async function would wait for.
  const turn = rmemTurn.then(async () => {
    const old = Number((await readFile(RMEM_DEFAULT, "utf8").catch(() => "")).trim()) || undefined;
    if (bytes <= 0 || old === undefined || old >= bytes) {
      tell(old);
      return { child: start() };
    }
    try {
      await writeFile(RMEM_DEFAULT, String(bytes));
    } catch (err) {
      tell(old, `could not raise net.core.rmem_default to ${bytes} (${errText(err)}): conntrack reads with ${old} bytes and bursts will lose events (counted as ENOBUFS)`);
      return { child: start() };
    }
    const child = start();
    try {
      await socketsOpened(child);
      tell(bytes);
    } finally {
      await writeFile(RMEM_DEFAULT, String(old));
    }
    return { child };
  });
  rmemTurn = turn.then(() => undefined, () => undefined);
  return turn;
}

/** Waits (≤ 3 s) until the child is conntrack with its two netlink sockets open, or has exited. */
async function socketsOpened(child: ResultPromise): Promise<void> {
  let exited = false;
  void child.then(() => (exited = true), () => (exited = true));
  const pid = child.pid;
  for (let waited = 0; pid !== undefined && !exited && waited < 3000; waited += 10) {
    if (await hasSockets(pid, 2)) return;
    await new Promise((r) => setTimeout(r, 10));
  }
}

async function hasSockets(pid: number, count: number): Promise<boolean> {
  try {
    // Through `ip netns exec` the pid is ip's until it execs conntrack.
    if ((await readFile(`/proc/${pid}/comm`, "utf8")).trim() !== "conntrack") return false;
    let sockets = 0;
    for (const fd of await readdir(`/proc/${pid}/fd`)) {
      if ((await readlink(`/proc/${pid}/fd/${fd}`).catch(() => "")).startsWith("socket:")) sockets++;
    }
    return sockets >= count;
  } catch {
    return false;
  }
}

/** A sysctl's value (path under /proc/sys) in the given namespace, or undefined when it does not exist. */
async function readSysctl(key: string, netns?: string): Promise<string | undefined> {
  if (!netns) return (await readFile(`/proc/sys/${key}`, "utf8").catch(() => undefined))?.trim();
  const r = await runProgram("ip", ["netns", "exec", netns, "cat", `/proc/sys/${key}`]);
  return r.exitCode === 0 ? String(r.stdout).trim() : undefined;
}

/** Sets a sysctl; returns why it failed, or undefined. */
async function writeSysctl(key: string, value: string, netns?: string): Promise<string | undefined> {
  if (!netns) return writeFile(`/proc/sys/${key}`, value).then(() => undefined, errText);
  const r = await runProgram("ip", ["netns", "exec", netns, "sh", "-c", 'printf %s "$1" > "$2"', "sh", value, `/proc/sys/${key}`]);
  return r.exitCode === 0 ? undefined : String(r.stderr).trim() || `exit code ${r.exitCode}`;
}

function errText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
