// A sink's backlog on disk: alerts its peer did not take (down, refusing connections, timing out)
// wait here, in order, to be retried — also by the next agent after a restart. One JSON line per
// item in STATE/outbox/<sink>.jsonl; a sidecar <sink>.head holds the byte offset of the first item
// not yet delivered and a hash of that item's line, so taking items off the front is a tiny write,
// and the file is compacted only once most of it is delivered. A head that does not match its file
// (a crash between a compaction and the head update, a torn write) makes the next run start from
// the beginning: an alert may be delivered twice, never lost. Bounded in items and bytes: what does
// not fit is refused, and the caller counts it as dropped.

import { appendFileSync, closeSync, existsSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, writeFileSync, writeSync } from "node:fs";
import { createHash } from "node:crypto";
import { join } from "node:path";

export interface SpoolOptions {
  /** Directory of the spool files (STATE/outbox). */
  dir: string;
  /** The sink's name; the file name is made from it. */
  name: string;
  maxItems: number;
  maxBytes: number;
}

export const DEFAULT_SPOOL_ITEMS = 10_000;
export const DEFAULT_SPOOL_BYTES = 16 * 1024 * 1024;

export interface SpoolLoad {
  items: number;
  /** Lines of the file that were not JSON (a torn last line after a crash): counted, skipped. */
  unreadable: number;
}

export class Spool<T> {
  private readonly file: string;
  private readonly headFile: string;
  /** The items not yet delivered, oldest first, with their line (newline included) and its size. */
  private items: Array<{ value: T; line: string; bytes: number }> = [];
  private totalBytes = 0;
  /** Bytes at the front of the file already delivered. */
  private head = 0;
  /** Size of the file (delivered front included). */
  private fileBytes = 0;

  constructor(private readonly opts: SpoolOptions) {
    const safe = opts.name.replace(/[^A-Za-z0-9_.-]/g, "_").slice(0, 80);
    // Two sink names that make the same safe name still get files of their own.
    const tag = createHash("sha256").update(opts.name).digest("hex").slice(0, 8);
    this.file = join(opts.dir, `${safe}-${tag}.jsonl`);
    this.headFile = join(opts.dir, `${safe}-${tag}.head`);
  }

  get length(): number {
    return this.items.length;
  }

  get bytes(): number {
    return this.totalBytes;
  }

  get path(): string {
    return this.file;
  }

  /** Reads what a previous run left. */
  load(): SpoolLoad {
    mkdirSync(this.opts.dir, { recursive: true, mode: 0o700 });
    if (!existsSync(this.file)) return { items: 0, unreadable: 0 };
    const buf = readFileSync(this.file);
    this.head = validHead(buf, existsSync(this.headFile) ? readFileSync(this.headFile, "utf8") : "");
    this.fileBytes = buf.length;
    let unreadable = 0;
    let at = this.head;
    while (at < buf.length) {
      const nl = buf.indexOf(0x0a, at);
      const end = nl < 0 ? buf.length : nl;
      const text = buf.subarray(at, end).toString("utf8");
      at = end + 1;
      if (text.trim() === "") continue;
      try {
        const value = JSON.parse(text) as T;
        const line = text + "\n";
        this.items.push({ value, line, bytes: Buffer.byteLength(line) });
        this.totalBytes += Buffer.byteLength(line);
      } catch {
        unreadable++;
      }
    }
    return { items: this.items.length, unreadable };
  }

  /** Appends what fits; returns how many of `values` (from the end) did not fit. */
  push(values: T[]): number {
    const taken: Array<{ value: T; line: string; bytes: number }> = [];
    let bytes = 0;
    for (const value of values) {
      const line = JSON.stringify(value) + "\n";
      const size = Buffer.byteLength(line);
      if (this.items.length + taken.length + 1 > this.opts.maxItems || this.totalBytes + bytes + size > this.opts.maxBytes) break;
      taken.push({ value, line, bytes: size });
      bytes += size;
    }
    if (taken.length > 0) {
      mkdirSync(this.opts.dir, { recursive: true, mode: 0o700 });
      appendFileSync(this.file, taken.map((t) => t.line).join(""), { mode: 0o600 });
      this.items.push(...taken);
      this.totalBytes += bytes;
      this.fileBytes += bytes;
    }
    return values.length - taken.length;
  }

  /** The oldest `n` items, still in the spool. */
  peek(n: number): T[] {
    return this.items.slice(0, n).map((i) => i.value);
  }

  /** Removes the oldest `n` items once they were delivered (or given up on). */
  shift(n: number): void {
    // Memory first: a failing write below leaves the file behind, never the items in memory.
    const gone = this.items.splice(0, n);
    const bytes = gone.reduce((s, i) => s + i.bytes, 0);
    this.totalBytes -= bytes;
    this.head += bytes;
    if (this.items.length === 0) {
      rmSync(this.headFile, { force: true });
      rmSync(this.file, { force: true });
      this.head = 0;
      this.fileBytes = 0;
    } else if (this.head > this.fileBytes / 2) {
      this.compact();
    } else {
      this.writeHead();
    }
  }

  private writeHead(): void {
    const tmp = `${this.headFile}.tmp`;
    writeFileSync(tmp, `${this.head} ${lineHash(this.items[0]!.line)}\n`, { mode: 0o600 });
    renameSync(tmp, this.headFile);
  }

  /** Rewrites the file with only what is left; the old head then no longer matches and is removed. */
  private compact(): void {
    const tmp = `${this.file}.tmp`;
    const fd = openSync(tmp, "w", 0o600);
    try {
      writeSync(fd, this.items.map((i) => i.line).join(""));
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, this.file);
    rmSync(this.headFile, { force: true });
    this.head = 0;
    this.fileBytes = this.totalBytes;
  }
}

function lineHash(line: string): string {
  return createHash("sha256").update(line).digest("hex").slice(0, 16);
}

/** The head's offset when it points at the start of the line it names in `buf`; else 0 (start over). */
function validHead(buf: Buffer, text: string): number {
  const m = /^(\d+) ([0-9a-f]{16})\s*$/.exec(text);
  if (!m) return 0;
  const at = Number(m[1]);
  if (!Number.isSafeInteger(at) || at >= buf.length || (at > 0 && buf[at - 1] !== 0x0a)) return 0;
  const nl = buf.indexOf(0x0a, at);
  const line = buf.subarray(at, nl < 0 ? buf.length : nl + 1).toString("utf8");
  return lineHash(line) === m[2] ? at : 0;
}
