// Reads lines from a listening unix stream socket: auditd's builtin af_unix plugin with
// `format = string` writes one record per line to every connected client. The socket goes away
// whenever auditd restarts, so the reader reconnects, with backoff, until aborted. auditd keeps
// nothing for a client that is not connected: the status callback is how the caller learns
// about such gaps.

import { createConnection } from "node:net";
import { once } from "node:events";
import { DEFAULT_MAX_LINE_BYTES, type SourceLine } from "./line.js";
import { splitChunks } from "./split.js";
import { sleep } from "../../wait.js";

export type SocketStatus =
  | { state: "connected"; path: string }
  /** Connecting failed or the connection ended; the next attempt is in `retryInMs`. */
  | { state: "disconnected"; path: string; error?: Error; retryInMs: number };

export interface ReadUnixSocketLinesOptions {
  signal: AbortSignal;
  /** Delay before the first reconnect; doubles on each failed attempt, up to maxReconnectMs. Default 250. */
  reconnectMs?: number;
  /** Default 10 000. */
  maxReconnectMs?: number;
  /** Longer lines are cut (see SourceLine.truncatedBytes). Default 1 MiB. */
  maxLineBytes?: number;
  onStatus?: (status: SocketStatus) => void;
}

/**
 * Lines from the socket at `path`, across reconnections, until `signal` aborts. `lineNo` restarts
 * with each connection. A line cut short by a closing connection is still emitted: it is all
 * there is of that record.
 */
export async function* readUnixSocketLines(path: string, options: ReadUnixSocketLinesOptions): AsyncGenerator<SourceLine> {
  const { signal, reconnectMs = 250, maxReconnectMs = 10_000, maxLineBytes = DEFAULT_MAX_LINE_BYTES } = options;
  let delay = reconnectMs;
  while (!signal.aborted) {
    let error: Error | undefined;
    // The signal destroys the socket on abort, which also ends a pending connect or read.
    const socket = createConnection({ path, signal });
    try {
      await once(socket, "connect");
      delay = reconnectMs;
      options.onStatus?.({ state: "connected", path });
      yield* splitChunks(socket, maxLineBytes, signal);
    } catch (err) {
      if (signal.aborted) return;
      error = err instanceof Error ? err : new Error(String(err));
    } finally {
      socket.destroy();
    }
    if (signal.aborted) return;
    const retryInMs = delay;
    delay = Math.min(delay * 2, maxReconnectMs);
    options.onStatus?.({ state: "disconnected", path, ...(error ? { error } : {}), retryInMs });
    await sleep(retryInMs, signal);
  }
}
