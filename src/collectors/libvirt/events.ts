// Parses what `virsh event --loop --all --timestamp` prints into normalized events.
//
// virsh prints one event per callback, most on one line:
//   2026-11-26 06:59:59.224+0000: event 'lifecycle' for domain 'web1': Started Booted
// a few (tunable, job-completed, graphics with identities, memory-failure,
// memory-device-size-change, nic-mac-change) go on over more lines that carry no timestamp:
//   2026-11-26 07:00:01.343+0000: event 'tunable' for domain 'web1':
//   	cputune.cpu_shares: 512
// The formats are virsh's (tools/virsh-domain-event.c, checked against libvirt 9.0's output in
// test/fixtures/libvirt/). A line that fits none of this is kept as an "unknown" event, never dropped.

import { createHash } from "node:crypto";
import type { HvEvent, EventMeta, LibvirtFields } from "../../events/event.js";
import type { Inventory } from "../../events/inventory.js";

/** One event as virsh printed it, split into its parts. */
export interface VirshEvent {
  /** ISO time from the --timestamp prefix (absent without --timestamp). */
  time?: string;
  /** virsh's event name: lifecycle, reboot, graphics, … ("unknown" for a line that did not parse). */
  kind: string;
  domain?: string;
  /** Text after "domain 'NAME'" on the first line, without the leading ": ". */
  detail: string;
  /** The lines after the first, without their leading tab. */
  more: string[];
  /** Everything virsh printed for this event, lines joined with \n. */
  raw: string;
}

/** What a libvirt event carries beyond the common fields (the whole virsh text is in `raw`). */
/** An HvEvent of module "libvirt": the common fields plus the libvirt-specific ones. */
export interface LibvirtEvent extends HvEvent {
  libvirt: LibvirtFields;
}

export type { LibvirtFields };

export interface VirshParserStats {
  lines: number;
  events: number;
  /** Lines that were neither an event header nor the continuation of one (kept as "unknown" events). */
  unknown: number;
}

// "2026-11-26 06:59:59.224+0000: " — virTimeStringNowRaw, always UTC offset +0000 but parse it anyway.
const HEADER = /^(?:(\d{4}-\d{2}-\d{2}) (\d{2}:\d{2}:\d{2}(?:\.\d+)?)([+-]\d{2})(\d{2}): )?event '([^']+)' for domain '(.*?)'(?:(?=:)|(?= disk )|$)(.*)$/;
// What virsh prints when it exits normally ("events received: N"), not an event.
const TRAILER = /^events received: \d+$/;
// Kinds whose later lines are "key: value" without a leading tab.
const UNTABBED = new Set(["memory-failure", "memory-device-size-change", "nic-mac-change"]);

/**
 * Splits virsh's output into events. A multi-line event is complete only when the next event
 * starts, so the caller flushes after a short quiet moment (and at the end of the stream).
 */
export class VirshEventParser {
  readonly stats: VirshParserStats = { lines: 0, events: 0, unknown: 0 };
  private pending: VirshEvent | undefined;

  /** Feeds one line (without its newline); returns the events it completed. */
  push(line: string): VirshEvent[] {
    this.stats.lines++;
    const out: VirshEvent[] = [];
    const m = HEADER.exec(line);
    if (m) {
      this.take(out);
      const [, date, clock, offH, offM, kind, domain, rest] = m as unknown as string[];
      const ev: VirshEvent = { kind: kind!, domain: domain!, detail: rest!.replace(/^:\s?/, "").replace(/^ /, ""), more: [], raw: line };
      if (date) ev.time = isoTime(date, clock!, offH!, offM!);
      this.pending = ev;
      return out;
    }
    // Continuation lines: tab-indented params, or the untabbed "alias: …" lines of a few kinds.
    const untabbed = this.pending !== undefined && UNTABBED.has(this.pending.kind) && /^[a-zA-Z][\w ]*:( |$)/.test(line);
    if (this.pending && (line.startsWith("\t") || untabbed)) {
      this.pending.more.push(line.replace(/^\t/, ""));
      this.pending.raw += `\n${line}`;
      return out;
    }
    this.take(out);
    if (line.trim() === "" || TRAILER.test(line.trim())) return out;
    this.stats.unknown++;
    this.stats.events++;
    out.push({ kind: "unknown", detail: line, more: [], raw: line });
    return out;
  }

  /** Completes the event still waiting for continuation lines. */
  flush(): VirshEvent[] {
    const out: VirshEvent[] = [];
    this.take(out);
    return out;
  }

  get hasPending(): boolean {
    return this.pending !== undefined;
  }

  private take(out: VirshEvent[]): void {
    if (!this.pending) return;
    this.stats.events++;
    out.push(this.pending);
    this.pending = undefined;
  }
}

function isoTime(date: string, clock: string, offH: string, offM: string): string {
  const ms = Date.parse(`${date}T${clock}${offH}:${offM}`);
  return Number.isNaN(ms) ? `${date}T${clock}Z` : new Date(ms).toISOString();
}

export interface ToEventOptions {
  inventory?: Inventory;
  /** The domain's uuid, also after it left the inventory (LibvirtInventory.uuidOf); else the inventory's. */
  uuidOf?: (name: string) => string | undefined;
  uri?: string;
  hostName?: string;
  /** Used when the line had no timestamp. */
  now?: () => Date;
}

/**
 * Turns one virsh event into an HvEvent. The id is a hash of what virsh printed (the timestamp has
 * milliseconds) plus `occurrence`, which the caller counts for identical text in a row.
 */
export function toHvEvent(v: VirshEvent, opts: ToEventOptions = {}, occurrence = 0): LibvirtEvent {
  const lib: LibvirtFields = { event: v.kind, raw: v.raw };
  if (opts.uri) lib.uri = opts.uri;
  const meta = describe(v, lib);
  const event: LibvirtEvent = {
    "@timestamp": v.time ?? (opts.now?.() ?? new Date()).toISOString(),
    event: {
      id: eventId(opts.uri ?? "", v.raw, occurrence),
      kind: "event",
      module: "libvirt",
      ...meta,
    },
    libvirt: lib,
  };
  if (opts.hostName) event.host = { name: opts.hostName };
  if (v.kind === "graphics") Object.assign(event, graphicsEndpoints(v));
  if (v.domain !== undefined) {
    const uuid = opts.uuidOf ? opts.uuidOf(v.domain) : opts.inventory?.byName(v.domain)?.uuid;
    event.vm = uuid ? { name: v.domain, uuid } : { name: v.domain };
  }
  return event;
}

export function eventId(uri: string, text: string, occurrence = 0): string {
  return createHash("sha256").update(`libvirt\0${uri}\0${text}\0${occurrence}`).digest("hex").slice(0, 32);
}

type Meta = Pick<EventMeta, "action" | "category" | "type" | "outcome">;

// Lifecycle event types (virDomainEventType) as ECS event.type.
const LIFECYCLE_TYPE: Record<string, string> = {
  defined: "creation", undefined: "deletion", started: "start", stopped: "end", shutdown: "end",
  suspended: "change", resumed: "change", pmsuspended: "change", crashed: "end",
};

/** event.action/category/type/outcome for each kind, and its details under `libvirt`. */
function describe(v: VirshEvent, lib: LibvirtFields): Meta {
  const d = v.detail;
  const params = (): Record<string, string> => (lib.params = keyValues(v.more));
  switch (v.kind) {
    case "lifecycle": {
      // "Started Booted", "Shutdown Finished after host request": the type is one word.
      const sp = d.indexOf(" ");
      const type = sp === -1 ? d : d.slice(0, sp);
      const detail = sp === -1 ? "" : d.slice(sp + 1);
      lib.lifecycle = { type, detail };
      const action = type.toLowerCase();
      const failed = action === "crashed" || (action === "stopped" && (detail === "Crashed" || detail === "Failed"));
      return { action, category: ["host"], type: [LIFECYCLE_TYPE[action] ?? "change"], outcome: failed ? "failure" : "success" };
    }
    case "reboot":
    case "pm-wakeup":
    case "pm-suspend":
    case "pm-suspend-disk":
      return { action: v.kind, category: ["host"], type: ["change"], outcome: "success" };
    case "control-error":
      return { action: v.kind, category: ["host"], type: ["error"], outcome: "failure" };
    case "rtc-change":
      lib.params = { utcoffset: d };
      return { action: v.kind, category: ["host"], type: ["change"], outcome: "success" };
    case "balloon-change":
      lib.params = { actual_kib: d.replace(/KiB$/, "") };
      return { action: v.kind, category: ["host"], type: ["change"], outcome: "success" };
    case "watchdog":
      lib.params = { action: d };
      return { action: v.kind, category: ["host"], type: ["info"], outcome: "unknown" };
    case "io-error":
    case "io-error-reason": {
      // "/path/disk.img (virtio-disk0) pause" or "… pause due to enospc"
      const m = /^(.*) \(([^()]*)\) (\S+)(?: due to (.*))?$/.exec(d);
      if (m) {
        lib.device = m[2]!;
        lib.params = { path: m[1]!, action: m[3]!, ...(m[4] !== undefined ? { reason: m[4] } : {}) };
      }
      return { action: "io-error", category: ["host"], type: ["error"], outcome: "failure" };
    }
    case "graphics":
      return graphics(v, lib);
    case "block-job":
    case "block-job-2": {
      // "Block Copy for vda completed"
      const m = /^(.*) for (\S+) (\S+)$/.exec(d);
      if (m) {
        lib.device = m[2]!;
        lib.params = { job: m[1]!, status: m[3]! };
      }
      const status = m?.[3];
      return { action: "block-job", category: ["host"], type: ["change"], outcome: status === "failed" ? "failure" : status === "completed" ? "success" : "unknown" };
    }
    case "disk-change":
    case "tray-change": {
      // "disk sda: opened" / "disk cd0: /old.iso -> /new.iso: changed" (the domain part ends at " disk ").
      const m = /^disk (\S+): (.*)$/.exec(d.trim());
      if (m) {
        lib.device = m[1]!;
        lib.params = { change: m[2]! };
      }
      return { action: v.kind, category: ["host"], type: ["change"], outcome: "success" };
    }
    case "device-added":
    case "device-removed":
    case "device-removal-failed":
      lib.device = d;
      return {
        action: v.kind, category: ["host"],
        type: [v.kind === "device-added" ? "creation" : v.kind === "device-removed" ? "deletion" : "error"],
        outcome: v.kind === "device-removal-failed" ? "failure" : "success",
      };
    case "agent-lifecycle": {
      const m = /^state: '([^']*)' reason: '([^']*)'$/.exec(d);
      if (m) lib.params = { state: m[1]!, reason: m[2]! };
      return { action: v.kind, category: ["host"], type: ["change"], outcome: "success" };
    }
    case "migration-iteration": {
      const m = /^iteration: '(\d+)'$/.exec(d);
      if (m) lib.params = { iteration: m[1]! };
      return { action: v.kind, category: ["host"], type: ["info"], outcome: "success" };
    }
    case "metadata-change": {
      const m = /^type (\S+), uri (.*)$/.exec(d);
      if (m) lib.params = { type: m[1]!, uri: m[2]! };
      return { action: v.kind, category: ["configuration"], type: ["change"], outcome: "success" };
    }
    case "block-threshold": {
      // "dev: vda(/var/lib/x.qcow2) 1048576 4096"
      const m = /^dev: (.*?)\((.*)\) (\d+) (\d+)$/.exec(d);
      if (m) {
        lib.device = m[1]!;
        lib.params = { path: m[2]!, threshold: m[3]!, excess: m[4]! };
      }
      return { action: v.kind, category: ["host"], type: ["info"], outcome: "success" };
    }
    case "tunable":
    case "job-completed":
      params();
      return { action: v.kind, category: v.kind === "tunable" ? ["configuration"] : ["host"], type: ["change"], outcome: "success" };
    case "memory-failure":
      params();
      return { action: v.kind, category: ["host"], type: ["error"], outcome: "failure" };
    case "memory-device-size-change":
    case "nic-mac-change":
      params();
      if (lib.params?.alias) lib.device = lib.params.alias;
      return { action: v.kind, category: ["host"], type: ["change"], outcome: "success" };
    case "unknown":
      return { action: "unknown", category: ["host"], type: ["info"], outcome: "unknown" };
    default:
      // An event name this virsh knows and hv does not yet: keep it under its own name.
      if (v.more.length > 0) params();
      else if (d) lib.params = { detail: d };
      return { action: v.kind, category: ["host"], type: ["info"], outcome: "unknown" };
  }
}

/** "connect local[IPv4 127.0.0.1 5900] remote[IPv4 10.0.0.9 41234] none" + "\tx509dname=…" lines. */
function graphics(v: VirshEvent, lib: LibvirtFields): Meta {
  const m = /^(\S+) local\[(\S+) (\S*) (\S*)\] remote\[(\S+) (\S*) (\S*)\] ?(.*)$/.exec(v.detail);
  const phase = m?.[1] ?? "unknown";
  const out: Meta = {
    action: "graphics", category: ["network", "session"],
    type: [phase === "disconnect" ? "end" : phase === "connect" ? "start" : "info", "connection"], outcome: "success",
  };
  if (!m) return out;
  lib.params = { phase, family: m[5]!, auth: m[8]!, ...keyValues(v.more, "=") };
  return out;
}

/** Endpoint fields of a graphics event: the VNC/SPICE client is the source, the listener the destination. */
export function graphicsEndpoints(v: VirshEvent): Pick<HvEvent, "source" | "destination"> | undefined {
  const m = /^\S+ local\[\S+ (\S*) (\S*)\] remote\[\S+ (\S*) (\S*)\]/.exec(v.detail);
  if (!m) return undefined;
  return { source: endpoint(m[3]!, m[4]!), destination: endpoint(m[1]!, m[2]!) };
}

function endpoint(node: string, service: string): { ip?: string; port?: number; path?: string } {
  const port = Number(service);
  if (node.startsWith("/")) return { path: node };
  return Number.isInteger(port) && service !== "" ? { ip: node, port } : { ip: node };
}

function keyValues(lines: string[], sep = ":"): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of lines) {
    const i = line.indexOf(sep);
    if (i <= 0) continue;
    out[line.slice(0, i).trim()] = line.slice(i + 1).trim();
  }
  return out;
}
