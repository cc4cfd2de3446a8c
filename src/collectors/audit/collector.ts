// The audit collector: one of the line sources (a followed log file, the audisp af_unix socket,
// stdin, a recorded file) feeding the decoder, emitting events with the position to resume from.

import type { Checkpoint, Collector, Envelope } from "../../events/collector.js";
import type { HvEvent } from "../../events/event.js";
import { AuditDecoder, type DecoderStats } from "./decoder.js";
import type { SourceLine } from "./sources/line.js";
import { readFileLines } from "./sources/file.js";
import { readUnixSocketLines } from "./sources/socket.js";
import { readStreamLines } from "./sources/stdin.js";

export type AuditSource =
  | { kind: "file"; path: string; follow: boolean; from?: Checkpoint }
  | { kind: "socket"; path: string }
  | { kind: "stream"; stream: NodeJS.ReadableStream; label: string };

/** How often live sources close events whose EOE never came. */
const EXPIRE_EVERY_MS = 500;

export class AuditCollector implements Collector {
  readonly name: string;
  readonly live: boolean;
  readonly decoder: AuditDecoder;

  /** `enrich`: see AuditDecoderOptions (VM attribution and self-action marking, in the agent). */
  constructor(
    private readonly source: AuditSource,
    opts: { enrich?: (event: HvEvent) => void } = {},
  ) {
    this.decoder = new AuditDecoder(opts.enrich ? { enrich: opts.enrich } : {});
    this.name = source.kind === "stream" ? `audit:${source.label}` : `audit:${source.path}`;
    // A followed file can wait for us (the kernel keeps writing to disk); a socket or pipe cannot.
    this.live = source.kind !== "file";
  }

  get stats(): DecoderStats {
    return this.decoder.stats;
  }

  async run(emit: (item: Envelope) => Promise<void> | void, signal: AbortSignal): Promise<void> {
    // Events leave in order whether a line or the expiry timer completed them.
    let chain: Promise<void> = Promise.resolve();
    const send = (events: HvEvent[], checkpoint: Checkpoint | undefined): Promise<void> => {
      if (events.length > 0) {
        chain = chain.then(async () => {
          for (const event of events) await emit({ event, checkpoint });
        });
      }
      return chain;
    };
    let last: { inode: string; end: number } | undefined;
    const live = this.source.kind !== "file" || this.source.follow;
    // A followed source may go quiet right after an event whose EOE never comes; close it anyway.
    const timer = live
      ? setInterval(() => void send(this.decoder.expire(Date.now()), this.checkpointAt(last, undefined)), EXPIRE_EVERY_MS)
      : undefined;
    try {
      for await (const line of this.lines(signal)) {
        const batch = this.decoder.pushLine(line.text, line.lineNo, line.pos?.start, line.pos?.end, live ? Date.now() : 0, line.truncatedBytes);
        if (line.pos) last = { inode: line.pos.inode, end: line.pos.end };
        await send(batch.events, this.checkpointAt(last, batch.safeOffset));
      }
    } finally {
      clearInterval(timer);
    }
    // End of a recorded input; a followed source only ends when aborted, and then what is open
    // stays unstored so the checkpoint makes the next run read it again.
    if (!signal.aborted) await send(this.decoder.flush(), undefined);
    await chain;
  }

  private checkpointAt(last: { inode: string; end: number } | undefined, safeOffset: number | undefined): Checkpoint | undefined {
    if (this.source.kind !== "file" || !last) return undefined;
    return { source: this.name, inode: last.inode, offset: safeOffset ?? this.decoder.safeOffset(last.end) };
  }

  private lines(signal: AbortSignal): AsyncIterable<SourceLine> {
    const s = this.source;
    switch (s.kind) {
      case "file":
        return readFileLines(s.path, { signal, follow: s.follow, ...(s.from ? { from: { inode: s.from.inode, offset: s.from.offset } } : {}) });
      case "socket":
        return readUnixSocketLines(s.path, { signal });
      case "stream":
        return readStreamLines(s.stream, { signal });
    }
  }
}
