// Lines of a chunked stream (a socket, stdin) as SourceLines, through the one LineSplitter.

import { LineSplitter, type SplitLine } from "../../../events/line-splitter.js";
import type { SourceLine } from "./line.js";

/** Lines of a stream of chunks (a socket, stdin). A last line without "\n" is emitted when the stream ends. */
export async function* splitChunks(chunks: AsyncIterable<Buffer | string>, maxLineBytes: number, signal: AbortSignal): AsyncGenerator<SourceLine> {
  const splitter = new LineSplitter(maxLineBytes);
  for await (const chunk of chunks) {
    for (const line of splitter.push(typeof chunk === "string" ? Buffer.from(chunk, "utf8") : chunk)) {
      if (signal.aborted) return;
      yield withoutPosition(line);
    }
  }
  const rest = splitter.flush();
  if (rest && !signal.aborted) yield withoutPosition(rest);
}

function withoutPosition(line: SplitLine): SourceLine {
  const out: SourceLine = { text: line.text, lineNo: line.lineNo };
  if (line.truncatedBytes > 0) out.truncatedBytes = line.truncatedBytes;
  return out;
}
