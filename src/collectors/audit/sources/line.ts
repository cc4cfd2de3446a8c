/** One raw line from a line source. Parsing it is someone else's job. */
export interface SourceLine {
  /** The line without its trailing "\n" (and without a trailing "\r"), decoded as UTF-8; invalid bytes become U+FFFD. */
  text: string;
  /**
   * 1-based number of this line among the lines read from the current file or stream. It restarts
   * at 1 when a file is rotated or truncated, and on every new socket connection. When reading
   * resumes from an offset it counts from there, because the lines before it were never read.
   */
  lineNo: number;
  /** For file sources: where this line starts and where the next begins, in the file identified by inode. */
  pos?: { file: string; inode: string; start: number; end: number };
  /**
   * Set when the line was longer than the source's cap: how many bytes were dropped from its end.
   * `text` then holds only the first bytes of the line; `pos` still spans the whole line, so
   * resuming after it is exact.
   */
  truncatedBytes?: number;
}

/** Lines longer than this are cut (see SourceLine.truncatedBytes). An audit record is at most ~9 KiB. */
export const DEFAULT_MAX_LINE_BYTES = 1024 * 1024;
