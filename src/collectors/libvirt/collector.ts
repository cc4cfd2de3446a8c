// The libvirt collector: runs `virsh event --loop --all --timestamp` as a child process and turns
// its output into events. virsh exits when libvirtd goes away (restart, crash); the collector then
// reconnects with backoff, and records the blind spot as a "disconnected" event when it starts and
// a "reconnected" event (with its length) when it ends — a gap in monitoring is itself a fact a
// defender must see. The inventory is refreshed on every (re)connect and on each lifecycle event.

import type { ResultPromise } from "execa";
import { createInterface } from "node:readline";
import { hostname } from "node:os";
import type { Collector, Envelope } from "../../events/collector.js";
import { isNotFound, MissingProgramError, startProgram } from "../../events/programs.js";
import { VirshEventParser, eventId, toHvEvent, type LibvirtEvent, type VirshEvent } from "./events.js";
import { LibvirtInventory } from "./inventory.js";
import { sleep } from "../wait.js";

export interface LibvirtCollectorOptions {
  /** Default qemu:///system. */
  uri?: string;
  /** The virsh binary. */
  virsh?: string;
  /** Shared with VM attribution; created if absent. */
  inventory?: LibvirtInventory;
  hostName?: string;
  /** First reconnect delay, doubled after each failure up to maxBackoffMs. */
  backoffMs?: number;
  maxBackoffMs?: number;
  /** How long a multi-line event may wait for its next line (virsh prints it at once). */
  settleMs?: number;
  /** Human-readable notes (connection lost, reconnected, inventory refresh failed). */
  onReport?: (text: string) => void;
}

export interface LibvirtCollectorStats {
  lines: number;
  events: number;
  /** Lines that were not a virsh event (kept as action "unknown"). */
  unknown: number;
  connects: number;
  disconnects: number;
  /** Total time without a virsh event stream after the first connect, ms. */
  gapMs: number;
  inventoryErrors: number;
  connected: boolean;
}

export class LibvirtCollector implements Collector {
  readonly name: string;
  readonly live = true;
  readonly inventory: LibvirtInventory;
  private readonly uri: string;
  private readonly parser = new VirshEventParser();
  private readonly counters = { connects: 0, disconnects: 0, gapMs: 0, inventoryErrors: 0, connected: false };
  private lastRaw = "";
  private repeat = 0;
  private refreshing: Promise<void> = Promise.resolve();

  constructor(private readonly opts: LibvirtCollectorOptions = {}) {
    this.uri = opts.uri ?? "qemu:///system";
    this.name = `libvirt:${this.uri}`;
    this.inventory = opts.inventory ?? new LibvirtInventory({ uri: this.uri, ...(opts.virsh ? { bin: opts.virsh } : {}) });
  }

  get stats(): LibvirtCollectorStats {
    const p = this.parser.stats;
    return { lines: p.lines, events: p.events, unknown: p.unknown, ...this.counters };
  }

  async run(emit: (item: Envelope) => Promise<void> | void, signal: AbortSignal): Promise<void> {
    // Events leave in order whether a line or the settle timer completed them.
    // One chain for everything sent, so events leave in the order virsh printed them even when
    // one waits for the inventory or the settle timer completed it.
    let chain: Promise<void> = Promise.resolve();
    const later = (task: () => Promise<void> | void): Promise<void> => (chain = chain.then(task));
    const send = (event: LibvirtEvent): Promise<void> => Promise.resolve(emit({ event }));
    const backoff = this.opts.backoffMs ?? 500;
    let delay = backoff;
    let lostAt: Date | undefined;
    let lostReason = "";

    while (!signal.aborted) {
      const child = startProgram("virsh", ["-c", this.uri, "event", "--loop", "--all", "--timestamp"], {
        reject: false, stdin: "ignore", buffer: { stdout: false, stderr: true }, cancelSignal: signal, env: { LC_ALL: "C" },
      }, this.opts.virsh);
      // Take virsh's lines from the start (the iterator buffers them while the inventory is read;
      // a readline made later would miss a stream that already ended).
      const lines = createInterface({ input: child.stdout!, crlfDelay: Infinity })[Symbol.asyncIterator]();
      // virsh subscribes as it starts; reading the inventory right after means a change in
      // between shows up in one or the other.
      const connected = await this.refresh().then(() => true, () => false);
      if (connected) {
        this.counters.connects++;
        this.counters.connected = true;
        if (this.counters.connects === 1) {
          const vms = this.inventory.all();
          this.report(`watching ${this.uri}: ${vms.length} domains (${vms.filter((v) => v.state === "running").length} running)`);
        }
        delay = backoff;
        if (lostAt) {
          const now = new Date();
          const ms = now.getTime() - lostAt.getTime();
          const gap = { since: lostAt.toISOString(), until: now.toISOString(), ms, reason: lostReason };
          this.counters.gapMs += ms;
          this.report(`reconnected to ${this.uri} after ${ms} ms without events`);
          await later(() => send(this.gapEvent("reconnected", now, gap)));
          lostAt = undefined;
        }
      }
      const ended = await this.consume(child, lines, (v) => void later(() => this.deliver(v, send)));
      await chain;
      if (signal.aborted) break;
      const reason = ended || "virsh event exited";
      if (!lostAt) {
        lostAt = new Date();
        lostReason = reason;
        this.counters.disconnects++;
        this.counters.connected = false;
        this.report(`lost the event stream of ${this.uri} (${reason}); reconnecting`);
        const gap = { since: lostAt.toISOString(), reason };
        const at = lostAt;
        await later(() => send(this.gapEvent("disconnected", at, gap)));
      }
      await sleep(delay, signal);
      delay = Math.min(delay * 2, this.opts.maxBackoffMs ?? 10_000);
    }
    await chain;
  }

  /** Reads virsh's lines until it exits; returns why it ended (its error lines, or how it failed). */
  private async consume(child: ResultPromise, lines: AsyncIterator<string>, each: (v: VirshEvent) => void): Promise<string> {
    const settleMs = this.opts.settleMs ?? 50;
    let timer: NodeJS.Timeout | undefined;
    const deliver = (events: VirshEvent[]): void => events.forEach(each);
    try {
      for (let next = await lines.next(); !next.done; next = await lines.next()) {
        const line = next.value;
        clearTimeout(timer);
        deliver(this.parser.push(line));
        if (this.parser.hasPending) timer = setTimeout(() => deliver(this.parser.flush()), settleMs);
      }
    } finally {
      clearTimeout(timer);
      deliver(this.parser.flush());
    }
    const r = await child;
    if (isNotFound(r)) return new MissingProgramError("virsh", this.opts.virsh).message;
    const stderr = typeof r.stderr === "string" ? r.stderr : "";
    const errors = stderr.split("\n").filter((l) => l.startsWith("error:")).map((l) => l.slice(6).trim()).join("; ");
    // No words from virsh (it could not start, or was killed): execa's account of it.
    return errors || (r.failed && !r.isCanceled ? (r.shortMessage ?? "").split("\n")[0]! : "");
  }

  private async deliver(v: VirshEvent, send: (e: LibvirtEvent) => Promise<void>): Promise<void> {
    // Identical text twice (same millisecond) is two events: count repeats into the id.
    this.repeat = v.raw === this.lastRaw ? this.repeat + 1 : 0;
    this.lastRaw = v.raw;
    const occurrence = this.repeat;
    const lifecycle = v.kind === "lifecycle" ? v.domain : undefined;
    // A new domain (Defined) is not in the inventory yet: read it first so the event gets its
    // uuid. A known one keeps the uuid it had, even when this very event removes it.
    if (lifecycle !== undefined && !this.inventory.byName(lifecycle)) await this.refreshDomain(lifecycle);
    await send(this.toEvent(v, occurrence));
    if (lifecycle !== undefined) void this.refreshDomain(lifecycle);
  }

  private toEvent(v: VirshEvent, occurrence: number): LibvirtEvent {
    return toHvEvent(v, { uuidOf: (name) => this.inventory.uuidOf(name), uri: this.uri, hostName: this.opts.hostName ?? hostname() }, occurrence);
  }

  private gapEvent(action: "disconnected" | "reconnected", at: Date, gap: NonNullable<LibvirtEvent["libvirt"]["gap"]>): LibvirtEvent {
    const raw = `${action} ${this.uri} ${gap.since}`;
    return {
      "@timestamp": at.toISOString(),
      event: { id: eventId(this.uri, raw), kind: "event", module: "libvirt", action, category: ["host"], type: [action === "disconnected" ? "end" : "start", "connection"], outcome: action === "disconnected" ? "failure" : "success" },
      host: { name: this.opts.hostName ?? hostname() },
      libvirt: { event: "connection", uri: this.uri, gap, raw },
    };
  }

  private refresh(): Promise<void> {
    return this.serialized(() => this.inventory.refresh().then(() => undefined), true);
  }

  private refreshDomain(name: string): Promise<void> {
    return this.serialized(() => this.inventory.refreshDomain(name).then(() => undefined), false);
  }

  /** Inventory reads run one at a time so an older answer never overwrites a newer one. */
  private serialized(task: () => Promise<void>, rethrow: boolean): Promise<void> {
    const run = this.refreshing.then(task);
    this.refreshing = run.catch(() => undefined);
    return run.catch((err: unknown) => {
      this.counters.inventoryErrors++;
      if (rethrow) throw err;
      this.report(`inventory: ${err instanceof Error ? err.message : String(err)}`);
    });
  }

  private report(text: string): void {
    this.opts.onReport?.(text);
  }
}
