// Buffered writing to stdout: one write per line costs more than parsing the line did. A closed
// pipe (`hv events … | head`) ends the program quietly instead of with an EPIPE stack trace.
// Every line is made terminal-safe (src/events/terminal.ts): control characters from events,
// alerts and feeds are shown escaped, never acted on by the terminal.

import { terminalSafe, terminalSafeLines } from "../events/terminal.js";

export class LineWriter {
  private chunks: string[] = [];
  private size = 0;
  private closed = false;

  constructor(private readonly stream: NodeJS.WritableStream = process.stdout, private readonly limit = 64 * 1024) {
    stream.on("error", (err: NodeJS.ErrnoException) => {
      if (err.code === "EPIPE") {
        this.closed = true;
        process.exit(0);
      }
      throw err;
    });
  }

  line(text: string): void {
    this.lineAsIs(terminalSafeLines(text));
  }

  /**
   * A line hv composed with escape sequences of its own (colours): it is written as it is, so
   * every value in it must have been made terminalSafe already.
   */
  lineAsIs(text: string): void {
    if (this.closed) return;
    this.chunks.push(text, "\n");
    this.size += text.length + 1;
    if (this.size >= this.limit) this.flushSync();
  }

  flushSync(): void {
    if (this.chunks.length === 0 || this.closed) return;
    this.stream.write(this.chunks.join(""));
    this.chunks = [];
    this.size = 0;
  }

  /** Flushes and waits until the stream has taken everything. */
  async end(): Promise<void> {
    this.flushSync();
    await new Promise<void>((resolve) => this.stream.write("", () => resolve()));
  }
}

/** Left-aligned columns for list output; a cell is one line whatever it holds (its control characters escaped). */
export function table(header: string[], dirty: string[][]): string[] {
  const rows = dirty.map((r) => r.map(terminalSafe));
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const fmt = (r: string[]): string => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join("  ").trimEnd();
  return [fmt(header), ...rows.map(fmt)];
}
