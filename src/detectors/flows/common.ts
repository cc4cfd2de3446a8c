// What every flow detector reads the same way: the time of a flow event, which connection it is,
// whether the connection failed or was established, who the alert is about, and bounded maps.

import type { AlertEntity } from "../../events/alert.js";
import type { HvEvent } from "../../events/event.js";
import { inNetwork, parseCidr, type Network } from "../sigma/cidr.js";
import type { AllowEntry } from "./config.js";

export function isFlow(e: HvEvent): boolean {
  return e.event.module === "flow" && e.flow !== undefined && e.source?.ip !== undefined && e.destination?.ip !== undefined;
}

// Every detector asks the same of the same event in turn: remember the last answer.
let timed: HvEvent | undefined;
let timedMs = NaN;
let keyed: HvEvent | undefined;
let keyedKey = "";

export function eventMs(e: HvEvent): number {
  if (e !== timed) {
    timed = e;
    timedMs = Date.parse(e["@timestamp"]);
  }
  return timedMs;
}

/** One connection across its new/update/end events: conntrack's id, else the 5-tuple. */
export function connectionKey(e: HvEvent): string {
  if (e !== keyed) {
    const id = e.flow?.id;
    const tuple = `${e.network?.transport ?? "?"}|${e.source?.ip}|${e.source?.port ?? ""}|${e.destination?.ip}|${e.destination?.port ?? ""}`;
    keyed = e;
    keyedKey = id ? `${id}|${tuple}` : tuple;
  }
  return keyedKey;
}

/** When the connection started: flow.start, else the end minus its duration, else this event. */
export function startMs(e: HvEvent): number {
  if (e.flow?.start) {
    const t = Date.parse(e.flow.start);
    if (!Number.isNaN(t)) return t;
  }
  if (e.flow?.phase === "end" && e.flow.duration_ms !== undefined) return eventMs(e) - e.flow.duration_ms;
  return eventMs(e);
}

export type Outcome = "failed" | "pending" | "established";

const CLOSING = new Set(["FIN_WAIT", "CLOSE_WAIT", "LAST_ACK", "TIME_WAIT", "CLOSE"]);

/**
 * What this event says of the connection: failed (no reply, refused, reset before the handshake
 * completed), established (ASSURED, ESTABLISHED, answered) or pending (nothing known yet).
 */
export function outcomeOf(e: HvEvent): Outcome {
  const flags = e.flow?.flags ?? [];
  const state = e.flow?.state?.toUpperCase();
  const assured = flags.includes("ASSURED");
  const unreplied = flags.includes("UNREPLIED");
  if (assured) return "established";
  const phase = e.flow?.phase;
  // conntrack picks up a lone ACK (nmap's ACK ping) as a NEW ESTABLISHED flow, still UNREPLIED.
  if (phase === "new") return "pending";
  if (state === "ESTABLISHED" && !unreplied) return "established";
  if (unreplied) return phase === "end" ? "failed" : "pending";
  if (e.network?.transport === "tcp") {
    // Reset or closed without ever being established: a refused port.
    if (state && (CLOSING.has(state) || state === "SYN_SENT" || state === "SYN_RECV") && phase === "end") return "failed";
    if (state === "CLOSE") return "failed";
    if (phase === "end" && e.destination?.packets === 0) return "failed";
    return "pending";
  }
  // UDP, ICMP, …: a reply was seen (no UNREPLIED) — answered; at the end with no packets back — not.
  if (phase === "end" && e.destination?.packets === 0) return "failed";
  return "established";
}

export function isClosing(e: HvEvent): boolean {
  const state = e.flow?.state?.toUpperCase();
  return e.flow?.phase === "end" || (state !== undefined && CLOSING.has(state));
}

/** The alert is about the source: its VM when every event names the same one, else its address. */
export function sourceEntity(srcIp: string, vmNames: ReadonlySet<string>, sawUnattributed: boolean): AlertEntity {
  if (vmNames.size === 1 && !sawUnattributed) return { kind: "vm", id: [...vmNames][0]! };
  return { kind: "ip", id: srcIp };
}

/**
 * Tracks which VM names a key's events carried at their source end, to tell a VM doing something
 * from a VM it is done to: a scan of one VM must not make the alert (and a playbook) about the victim.
 */
export class VmSeen {
  names = new Set<string>();
  unattributed = false;
  add(e: HvEvent): void {
    const n = e.vm?.side === "destination" ? undefined : e.vm?.name;
    if (n === undefined) this.unattributed = true;
    else if (this.names.size < 4) this.names.add(n);
  }
  entity(srcIp: string): AlertEntity {
    return sourceEntity(srcIp, this.names, this.unattributed);
  }
}

/** A few representative events: the first ones and the latest ones, never more than `max`. */
export class Sample {
  private head: HvEvent[] = [];
  private tail: HvEvent[] = [];
  constructor(private readonly max = 3) {}
  add(e: HvEvent): void {
    if (this.head.length < Math.ceil(this.max / 2)) {
      this.head.push(e);
      return;
    }
    this.tail.push(e);
    if (this.tail.length > Math.floor(this.max / 2)) this.tail.shift();
  }
  events(): HvEvent[] {
    return [...this.head, ...this.tail];
  }
}

/** How often (stream time) the detectors' tables are swept for stale entries. */
export const SWEEP_MS = 10_000;

/**
 * A Map bounded two ways: stale entries go in periodic sweeps, and beyond `capacity` the least
 * recently used go first. Recency is tracked by generation (an entry moves to the current one
 * when touched after a sweep), so a hit costs one lookup instead of a delete and re-insert.
 */
export class BoundedMap<K, V> {
  private cur = new Map<K, V>();
  private prev = new Map<K, V>();
  private sweptMs = -Infinity;
  constructor(private readonly capacity: number) {}
  get size(): number {
    return this.cur.size + this.prev.size;
  }
  get(key: K): V | undefined {
    return this.cur.get(key) ?? this.prev.get(key);
  }
  /** The value for `key`, created when missing. */
  touch(key: K, create: () => V): V {
    let v = this.cur.get(key);
    if (v !== undefined) return v;
    v = this.prev.get(key);
    if (v !== undefined) this.prev.delete(key);
    else v = create();
    this.cur.set(key, v);
    if (this.size > this.capacity) {
      const oldest = this.prev.size > 0 ? this.prev : this.cur;
      oldest.delete(oldest.keys().next().value as K);
    }
    return v;
  }
  delete(key: K): void {
    this.cur.delete(key);
    this.prev.delete(key);
  }
  *entries(): IterableIterator<[K, V]> {
    yield* this.prev;
    yield* this.cur;
  }
  /** At most once per `everyMs` of stream time: drops the entries `stale` says are over. */
  sweep(nowMs: number, everyMs: number, stale: (v: V) => boolean): void {
    if (nowMs - this.sweptMs < everyMs) return;
    this.sweptMs = nowMs;
    for (const [k, v] of this.prev) if (stale(v)) this.prev.delete(k);
    for (const [k, v] of this.cur) {
      if (stale(v)) continue;
      this.prev.set(k, v);
    }
    this.cur = new Map();
  }
}

interface CompiledAllow {
  source?: Network;
  destination?: Network;
  port?: number;
  transport?: string;
}

/** A test for "leave this flow alone" from a detector's `allow` list. */
export function compileAllow(list: readonly AllowEntry[]): (e: HvEvent) => boolean {
  const compiled: CompiledAllow[] = list.map((a, i) => {
    const net = (s: string | undefined, field: string): Network | undefined => {
      if (s === undefined) return undefined;
      const n = parseCidr(s);
      if (!n) throw new Error(`allow[${i}].${field}: not an address or CIDR: ${s}`);
      return n;
    };
    const c: CompiledAllow = {};
    const src = net(a.source, "source");
    const dst = net(a.destination, "destination");
    if (src) c.source = src;
    if (dst) c.destination = dst;
    if (a.port !== undefined) c.port = a.port;
    if (a.transport) c.transport = a.transport.toLowerCase();
    return c;
  });
  if (compiled.length === 0) return () => false;
  return (e) =>
    compiled.some(
      (c) =>
        (!c.source || inNetwork(c.source, e.source!.ip!)) &&
        (!c.destination || inNetwork(c.destination, e.destination!.ip!)) &&
        (c.port === undefined || c.port === e.destination?.port) &&
        (!c.transport || c.transport === e.network?.transport),
    );
}

/** Private, loopback, link-local, CGNAT and ULA networks: the inside of a site. */
const INTERNAL = ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "fc00::/7", "fe80::/10", "::1/128"].map((c) => parseCidr(c)!);

export function isInternal(ip: string): boolean {
  return INTERNAL.some((n) => inNetwork(n, ip));
}

/**
 * The smallest of /24, /16, /8 (IPv4) or /64, /48, /32 (IPv6) holding at least half of the
 * addresses given, else "many networks": what a sweep swept (a host probed on the side, such as
 * the target of a concurrent vertical scan, does not widen it).
 */
export function coveringNetwork(ips: readonly string[]): string {
  const v6 = ips.some((ip) => ip.includes(":"));
  const parts = ips.map((ip) => (v6 ? expandV6(ip) : ip.split(".")));
  const sep = v6 ? ":" : ".";
  for (const n of v6 ? [4, 3, 2] : [3, 2, 1]) {
    const counts = new Map<string, number>();
    for (const p of parts) {
      const head = p.slice(0, n).join(sep);
      counts.set(head, (counts.get(head) ?? 0) + 1);
    }
    const [head, most] = [...counts].reduce((a, b) => (b[1] > a[1] ? b : a), ["", 0]);
    if (most * 2 < parts.length || most === 0) continue;
    return v6 ? `${head}::/${n * 16}` : `${head}.${Array(4 - n).fill("0").join(".")}/${n * 8}`;
  }
  return "many networks";
}

/** An IPv6 address as its eight groups (no "::"). */
function expandV6(ip: string): string[] {
  const [head, tail] = ip.split("::") as [string, string | undefined];
  const h = head ? head.split(":") : [];
  const t = tail ? tail.split(":") : [];
  return [...h, ...Array(Math.max(0, 8 - h.length - t.length)).fill("0"), ...t].map((g) => g.toLowerCase().replace(/^0+(?=.)/, ""));
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ["KiB", "MiB", "GiB", "TiB"];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`;
}

export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  const s = ms / 1000;
  if (s < 90) return `${s.toFixed(s < 10 ? 1 : 0)}s`;
  const m = s / 60;
  if (m < 90) return `${m.toFixed(m < 10 ? 1 : 0)}m`;
  return `${(m / 60).toFixed(1)}h`;
}

export function endpoint(ip: string, port: number | undefined, transport: string | undefined): string {
  const host = ip.includes(":") ? `[${ip}]` : ip;
  return `${host}${port !== undefined ? `:${port}` : ""}/${transport ?? "?"}`;
}

/** "22, 23, 80, … (+40)" */
export function listSome(values: Iterable<string | number>, max = 10): string {
  const all = [...values];
  const shown = all.slice(0, max).join(", ");
  return all.length > max ? `${shown}, … (+${all.length - max})` : shown;
}
