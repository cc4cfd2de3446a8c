// A feed read as it arrives (a download, a file, a pipe): its first bytes say whether it is a
// feed at all (not an HTML page, not empty) and which format; a line-oriented feed is then parsed
// line by line into the builder's sink, so a feed of millions of entries never sits in memory.
// The whole-document formats (MISP, STIX JSON) cannot be parsed before they end: their text is
// collected (it is capped like everything else) and handed back.

import { LineSplitter } from "../events/line-splitter.js";
import { detectFeedFormat, FeedBuilder, lineParserFor, looksLikeHtml, type IndicatorSink, type ParsedFeed } from "./formats/index.js";
import type { FeedFormat } from "../events/feed.js";
import { MAX_LINE_CHARS } from "./formats/result.js";

export type StreamedFeed =
  | { kind: "parsed"; parsed: ParsedFeed }
  | { kind: "document"; text: string; format: FeedFormat | "auto" }
  | { kind: "html" | "empty" | "unknown-format" };

/** What is looked at to decide (format detection reads its first 400 lines). */
const HEAD_BYTES = 64 * 1024;
/**
 * A line is cut here while it streams. A UTF-8 character is at most 4 bytes, so a cut line still
 * has more than MAX_LINE_CHARS characters and is rejected as too long, as it would be whole.
 */
const MAX_LINE_BYTES = 4 * (MAX_LINE_CHARS + 1);

export interface StreamOptions {
  format: FeedFormat | "auto";
  source: string;
  /** Where accepted indicators go (the sync's staging table); without one they are kept in memory. */
  sink?: IndicatorSink;
  /** Runs the parsing of one chunk (a database transaction around the sink's inserts). */
  batch?: (fn: () => void) => void;
}

export async function readFeedStream(chunks: AsyncIterable<Buffer>, opts: StreamOptions): Promise<StreamedFeed> {
  const it = chunks[Symbol.asyncIterator]();
  const head: Buffer[] = [];
  let headBytes = 0;
  let ended = false;
  // Enough to decide: 64 KiB, and at least something that is not white space.
  while (!ended && (headBytes < HEAD_BYTES || isBlank(head))) {
    const next = await it.next();
    if (next.done) ended = true;
    else {
      head.push(next.value);
      headBytes += next.value.length;
    }
  }
  const headText = Buffer.concat(head, headBytes).toString("utf8").replace(/^\uFEFF/, "");
  if (headText.trim() === "") return { kind: "empty" };
  if (looksLikeHtml(headText)) return { kind: "html" };

  const rest = async function* (): AsyncGenerator<Buffer> {
    yield* head;
    if (ended) return;
    for (;;) {
      const next = await it.next();
      if (next.done) return;
      yield next.value;
    }
  };
  const json = /^\s*[[{]/.test(headText);
  let format = opts.format;
  if (format === "auto") {
    // Only whole lines of a text feed: a line cut at the end of the head would look like garbage.
    // JSON is recognized from its start (Spamhaus' first record, STIX/MISP keys) or else, below, whole.
    const found = detectFeedFormat(ended || json ? headText : headText.slice(0, Math.max(0, headText.lastIndexOf("\n"))));
    if (found) format = found;
    else if (!json) return { kind: "unknown-format" };
  }
  const b = format === "auto" ? undefined : new FeedBuilder(format, opts.source, opts.sink);
  const parser = format === "auto" || !b ? undefined : lineParserFor(format, b);
  if (!parser || !b) {
    const parts: Buffer[] = [];
    for await (const chunk of rest()) parts.push(chunk);
    return { kind: "document", text: Buffer.concat(parts).toString("utf8"), format };
  }
  const splitter = new LineSplitter(MAX_LINE_BYTES);
  let lineNo = 0;
  const feed = (text: string, last = false): void => {
    // Old Mac line ends (a lone CR) separate lines too, as textLines() has them.
    const parts = text.includes("\r") ? text.split("\r") : [text];
    // A lone CR ending the input ends the last line; it does not start an empty one.
    if (last && parts.length > 1 && parts[parts.length - 1] === "") parts.pop();
    for (const part of parts) {
      lineNo++;
      parser.line(lineNo === 1 ? part.replace(/^\uFEFF/, "") : part, lineNo);
    }
  };
  const batch = opts.batch ?? ((fn: () => void): void => fn());
  for await (const chunk of rest()) {
    batch(() => {
      for (const line of splitter.push(chunk)) feed(line.text);
    });
  }
  batch(() => {
    const last = splitter.flush();
    if (last) feed(last.text, true);
    parser.end();
  });
  return { kind: "parsed", parsed: b.done() };
}

function isBlank(parts: Buffer[]): boolean {
  for (const p of parts) for (const byte of p) if (byte !== 0x20 && byte !== 0x0a && byte !== 0x0d && byte !== 0x09) return false;
  return true;
}
