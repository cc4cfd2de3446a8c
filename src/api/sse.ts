// Writes an EventStream (routes.ts) as server-sent events. The caller is checked again at every
// heartbeat and batch, so a revoked token or an ended session stops its stream within 15 s; the
// server ends every open stream before it closes, and refuses more than MAX_STREAMS at once.

import type { FastifyReply } from "fastify";
import { ApiError } from "./errors.js";
import type { EventStream } from "./routes.js";

const HEARTBEAT_MS = 15_000;
const MAX_STREAMS = 64;

export class StreamRegistry {
  private readonly open = new Set<() => void>();

  get size(): number {
    return this.open.size;
  }

  /** Ends every open stream (the server is closing). */
  endAll(): void {
    for (const end of [...this.open]) end();
  }

  /**
   * Sends the stream on the reply's socket until its time is up, the client goes, or
   * `stillAllowed` says no. `headers` are the ones fastify's hooks would have added.
   */
  serve(reply: FastifyReply, stream: EventStream, headers: Record<string, string>, stillAllowed: () => boolean): void {
    if (this.open.size >= MAX_STREAMS) throw new ApiError(503, "too_many_streams", `${MAX_STREAMS} live streams are open on this server; try again later`);
    reply.hijack();
    const raw = reply.raw;
    raw.writeHead(200, { ...headers, "content-type": "text/event-stream; charset=utf-8", "cache-control": "no-store", connection: "keep-alive", "x-accel-buffering": "no" });
    let ended = false;
    const timers: NodeJS.Timeout[] = [];
    // Set once open() returns; send() may end the stream before that.
    const subscription: { stop?: () => void } = {};
    const end = (): void => {
      if (ended) return;
      ended = true;
      for (const t of timers) clearTimeout(t);
      subscription.stop?.();
      this.open.delete(end);
      raw.end();
    };
    const send = (event: string, data: unknown): void => {
      if (ended) return;
      if (!stillAllowed()) {
        raw.write(`event: end\ndata: ${JSON.stringify({ reason: "the token was revoked or the session ended" })}\n\n`);
        end();
        return;
      }
      raw.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
    };
    this.open.add(end);
    raw.on("close", end);
    // Tells EventSource how long to wait before it reconnects.
    raw.write("retry: 2000\n\n");
    subscription.stop = stream.open(send);
    if (ended) subscription.stop();
    if (stream.seconds === 0) return end();
    timers.push(setTimeout(end, stream.seconds * 1000));
    const beat = (): void => {
      if (ended) return;
      if (!stillAllowed()) return send("end", {});
      raw.write(": ping\n\n");
      timers.push(setTimeout(beat, HEARTBEAT_MS));
    };
    timers.push(setTimeout(beat, HEARTBEAT_MS));
  }
}
