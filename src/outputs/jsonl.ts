// Alerts as JSON lines, one alert a line, to stdout or appended to a file. For logrotate, reopen()
// (the agent calls it on SIGHUP) closes the file so the next write creates it anew under its name.

import { open, type FileHandle } from "node:fs/promises";
import type { Writable } from "node:stream";
import type { Alert } from "../events/alert.js";
import { Delivery, describeError, forSink, type DeliveryOptions } from "./delivery.js";
import { SinkStartError, type AlertSink, type SinkStats } from "./sink.js";

export interface JsonlSinkOptions {
  name?: string;
  /** File to append to; undefined writes to `stream` (stdout by default). */
  path?: string;
  stream?: Writable;
  delivery?: Partial<DeliveryOptions>;
}

export class JsonlSink implements AlertSink {
  readonly name: string;
  private readonly delivery: Delivery<Alert>;
  private readonly stream: Writable | undefined;
  private file: FileHandle | undefined;
  // Writes and reopen() take turns through this chain, so a reopen never closes a file mid-write.
  private turn: Promise<void> = Promise.resolve();
  private readonly onStreamError = (err: Error): void => this.delivery.noteError(err.message);

  constructor(private readonly opts: JsonlSinkOptions = {}) {
    this.name = opts.name ?? `jsonl:${opts.path ?? "stdout"}`;
    // A local write either works or fails the same way again (ENOSPC, EACCES): retry once, briefly.
    this.delivery = new Delivery((batch) => this.write(batch), { maxBatch: 100, retries: 1, backoffMs: 100, ...forSink(opts.delivery, this.name) });
    if (opts.path === undefined) {
      this.stream = opts.stream ?? process.stdout;
      // Without a listener, an EPIPE on stdout (reader went away) would crash the whole agent.
      this.stream.on("error", this.onStreamError);
    }
  }

  /** Opens the file now: a path in a directory that does not exist, or that hv may not write, is a start error. */
  start(): Promise<void> {
    if (this.stream) return Promise.resolve();
    return this.inTurn(async () => {
      try {
        this.file ??= await open(this.opts.path as string, "a", 0o640);
      } catch (err) {
        throw new SinkStartError(this.name, describeError(err));
      }
    });
  }

  send(alert: Alert): Promise<void> {
    this.delivery.offer(alert);
    return Promise.resolve();
  }

  flush(): Promise<void> {
    return this.delivery.flush();
  }

  /** Closes the file; the next alert opens `path` again (after logrotate renamed the old one). */
  reopen(): Promise<void> {
    return this.inTurn(() => this.closeFile());
  }

  async close(): Promise<void> {
    await this.delivery.close();
    if (this.stream) {
      // Nothing to close, and a write to a stalled reader may never finish: do not wait behind it.
      this.stream.off("error", this.onStreamError);
      return;
    }
    await this.inTurn(() => this.closeFile());
  }

  stats(): SinkStats {
    return this.delivery.stats();
  }

  private write(batch: Alert[]): Promise<void> {
    const text = batch.map((alert) => `${JSON.stringify(alert)}\n`).join("");
    return this.inTurn(async () => {
      if (this.stream) return writeStream(this.stream, text);
      this.file ??= await open(this.opts.path as string, "a", 0o640);
      await this.file.write(text);
    });
  }

  private async closeFile(): Promise<void> {
    const file = this.file;
    this.file = undefined;
    await file?.close();
  }

  private inTurn(fn: () => Promise<void>): Promise<void> {
    const result = this.turn.then(fn);
    this.turn = result.catch(() => undefined);
    return result;
  }
}

function writeStream(stream: Writable, text: string): Promise<void> {
  return new Promise((resolve, reject) => {
    // The callback comes once the data left Node's buffer, so a slow reader slows this sink
    // (and fills its bounded buffer) instead of growing memory without bound.
    stream.write(text, (err) => (err ? reject(err) : resolve()));
  });
}
