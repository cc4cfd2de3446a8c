// The audit collector: one of the line sources (a followed log file, the audisp af_unix socket,
// stdin, a recorded file) feeding the decoder, emitting events with the position to resume from.

import type { Checkpoint, Collector, Envelope } from "../../events/collector.js";
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
  readonly decoder = new AuditDecoder();

  constructor(private readonly source: AuditSource) {
    this.name = source.kind === "stream" ? `audit:${source.label}` : `audit:${source.path}`;
    // A followed file can wait for us (the kernel keeps writing to disk); a socket or pipe cannot.
    this.live = source.kind !== "file";
  }

  get stats(): DecoderStats {
    return this.decoder.stats;
  }

  async run(emit: (item: Envelope) => Promise<void> | void, signal: AbortSignal): Promise<void> {
    const followsClock = this.source.kind !== "file" || this.source.follow;
    let lastExpire = Date.now();
    for await (const line of this.lines(signal)) {
      const now = followsClock ? Date.now() : 0;
      const batch = this.decoder.pushLine(line.text, line.lineNo, line.pos?.start, line.pos?.end, now);
      const checkpoint = this.checkpointFor(line, batch.safeOffset);
      for (const event of batch.events) await emit({ event, checkpoint });
      if (followsClock && now - lastExpire >= EXPIRE_EVERY_MS) {
        lastExpire = now;
        for (const event of this.decoder.expire(now)) await emit({ event, checkpoint });
      }
    }
    // End of a recorded input; a followed source only ends when aborted, and then what is open
    // stays unstored so the checkpoint makes the next run read it again.
    if (!signal.aborted) for (const event of this.decoder.flush()) await emit({ event });
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

  private checkpointFor(line: SourceLine, safeOffset: number | undefined): Checkpoint | undefined {
    if (this.source.kind !== "file" || !line.pos || safeOffset === undefined) return undefined;
    return { source: this.name, inode: line.pos.inode, offset: safeOffset };
  }
}
