// Cuts a byte stream into lines. It works on Buffers, not strings, so that start/end are exact
// byte offsets (a multi-byte or invalid UTF-8 sequence would shift string lengths) and so that a
// chunk boundary inside a character cannot corrupt it. Every line source uses it: audit logs,
// sockets, stdin, and feeds as they download.

export interface SplitLine {
  text: string;
  lineNo: number;
  /** Byte offset of the line's first byte. */
  start: number;
  /** Byte offset just past its "\n": where the next line begins. */
  end: number;
  /** Bytes dropped beyond the cap; 0 when the line was kept whole. */
  truncatedBytes: number;
}

import { InputError } from "./input.js";

/** No line of any text hv reads comes near this; an input that does is not made of lines. */
export const MAX_RUNAWAY_LINE_BYTES = 64 * 1024 * 1024;

const NL = 0x0a;
const CR = 0x0d;

export class LineSplitter {
  private pieces: Buffer[] = [];
  private kept = 0;
  private dropped = 0;
  private lineStart: number;
  private offset: number;
  private lineNo = 0;

  /**
   * `offset` is the byte position of the first byte that will be pushed. A line is cut after
   * `maxLineBytes` (the rest counted, not kept); past `giveUpBytes` without a newline the input is
   * not text made of lines (/dev/zero, a binary file) and push() throws an InputError.
   */
  constructor(
    private readonly maxLineBytes: number,
    offset = 0,
    private readonly giveUpBytes = MAX_RUNAWAY_LINE_BYTES,
  ) {
    if (!Number.isInteger(maxLineBytes) || maxLineBytes < 1) throw new RangeError(`maxLineBytes must be a positive integer, got ${maxLineBytes}`);
    this.lineStart = offset;
    this.offset = offset;
  }

  /** Bytes of an unfinished line held back (including dropped ones). */
  get pendingBytes(): number {
    return this.offset - this.lineStart;
  }

  /** Position just past the last byte pushed. */
  get position(): number {
    return this.offset;
  }

  /** Yields every line the chunk completes. The caller may reuse `chunk` afterwards. */
  *push(chunk: Buffer): Generator<SplitLine> {
    let from = 0;
    while (from < chunk.length) {
      const nl = chunk.indexOf(NL, from);
      if (nl === -1) {
        this.hold(chunk.subarray(from));
        this.offset += chunk.length - from;
        return;
      }
      this.hold(chunk.subarray(from, nl));
      this.offset += nl + 1 - from;
      from = nl + 1;
      yield this.take(true);
    }
  }

  /** The unfinished line, if any, as a line of its own (at EOF, or when its file is gone). */
  flush(): SplitLine | undefined {
    return this.pendingBytes > 0 ? this.take(false) : undefined;
  }

  /** Forget everything and continue as a fresh stream starting at `offset` (after a truncation). */
  reset(offset: number): void {
    this.pieces = [];
    this.kept = 0;
    this.dropped = 0;
    this.lineStart = offset;
    this.offset = offset;
    this.lineNo = 0;
  }

  private hold(bytes: Buffer): void {
    const room = this.maxLineBytes - this.kept;
    const keep = Math.min(room, bytes.length);
    // Copy: the caller reuses its read buffer, and a held slice would pin the whole chunk anyway.
    if (keep > 0) this.pieces.push(Buffer.from(bytes.subarray(0, keep)));
    this.kept += keep;
    this.dropped += bytes.length - keep;
    if (this.kept + this.dropped > this.giveUpBytes) {
      throw new InputError(`line ${this.lineNo + 1} (from byte ${this.lineStart}) runs past ${this.giveUpBytes} bytes without a newline: this is not text made of lines`);
    }
  }

  private take(terminated: boolean): SplitLine {
    let bytes = this.pieces.length === 1 ? (this.pieces[0] as Buffer) : Buffer.concat(this.pieces, this.kept);
    // Only a CR that really ended the line is stripped; a cut line lost its end anyway.
    if (terminated && this.dropped === 0 && bytes.length > 0 && bytes[bytes.length - 1] === CR) bytes = bytes.subarray(0, -1);
    const line: SplitLine = {
      text: bytes.toString("utf8"),
      lineNo: ++this.lineNo,
      start: this.lineStart,
      end: this.offset,
      truncatedBytes: this.dropped,
    };
    this.pieces = [];
    this.kept = 0;
    this.dropped = 0;
    this.lineStart = this.offset;
    return line;
  }
}
