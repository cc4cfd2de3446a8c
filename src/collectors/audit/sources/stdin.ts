// Lines from any readable stream: stdin (`hv monitor --stdin < audit.log`, `tail -f | hv …`),
// a child process's stdout, a test's PassThrough.

import { DEFAULT_MAX_LINE_BYTES, type SourceLine } from "./line.js";
import { splitChunks } from "./split.js";

export interface ReadStreamLinesOptions {
  signal: AbortSignal;
  /** Longer lines are cut (see SourceLine.truncatedBytes). Default 1 MiB. */
  maxLineBytes?: number;
}

/**
 * Lines of `stream` until it ends or `signal` aborts. On abort the stream is destroyed (if it
 * can be): a pending read on stdin would otherwise keep waiting for input that may never come.
 */
export async function* readStreamLines(stream: NodeJS.ReadableStream, options: ReadStreamLinesOptions): AsyncGenerator<SourceLine> {
  const { signal, maxLineBytes = DEFAULT_MAX_LINE_BYTES } = options;
  if (signal.aborted) return;
  const stop = (): void => {
    (stream as { destroy?: () => void }).destroy?.();
  };
  signal.addEventListener("abort", stop, { once: true });
  try {
    yield* splitChunks(stream, maxLineBytes, signal);
  } catch (err) {
    // Destroying the stream makes a pending read fail; that is the abort, not an error.
    if (!signal.aborted) throw err;
  } finally {
    signal.removeEventListener("abort", stop);
  }
}
