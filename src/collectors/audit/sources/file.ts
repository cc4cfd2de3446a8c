// Reads lines from a log file, optionally following it like `tail -F`, and resumes from a saved
// (inode, byte offset) position, even when the file was rotated since the position was saved.
//
// Following is done by polling: fs.watch misses events on some filesystems and after renames,
// and a 250 ms delay does not matter for audit logs.
//
// Known limits, shared with tail -F: lines a writer still appends to the old file after we moved
// on to the new one are lost (auditd itself never does that: it rotates its own files); a
// truncation is only seen if the file is still shorter than what we had read when we look.

import { open, stat, type FileHandle } from "node:fs/promises";
import { DEFAULT_MAX_LINE_BYTES, type SourceLine } from "./line.js";
import { LineSplitter, type SplitLine } from "../../../events/line-splitter.js";
import { sleep } from "../../wait.js";

/** A position to resume from: the `end` of the last line that was handled, in the file with that inode. */
export interface FilePosition {
  inode: string;
  offset: number;
}

/** How a `from` position was used. */
export type ResumeOutcome =
  | { kind: "same-file"; inode: string; offset: number }
  /** The saved inode is a rotated file now: its rest is read first, then the current file from 0. */
  | { kind: "rotated"; file: string; inode: string; offset: number }
  /** The saved position is of no use (file gone, or shorter than the offset): reading starts at 0. */
  | { kind: "restart"; reason: string };

export interface ReadFileLinesOptions {
  signal: AbortSignal;
  /** Keep reading as the file grows, is rotated or truncated, until `signal` aborts. Default false: stop at EOF. */
  follow?: boolean;
  from?: FilePosition;
  /** How often to look for growth, rotation and truncation when following. Default 250. */
  pollMs?: number;
  /** Longer lines are cut (see SourceLine.truncatedBytes). Default 1 MiB. */
  maxLineBytes?: number;
  /** Where the file goes when rotated, searched when resuming. Default `${path}.1`, `${path}.0` (auditd and logrotate use `.1`). */
  rotatedNames?: string[];
  onResume?: (outcome: ResumeOutcome) => void;
  onRotate?: (event: { path: string; oldInode: string; newInode: string }) => void;
  onTruncate?: (event: { path: string; inode: string; size: number; offset: number }) => void;
}

interface OpenFile {
  fh: FileHandle;
  inode: string;
  size: number;
}

const CHUNK_BYTES = 64 * 1024;

/**
 * Lines of the file at `path`, each with its byte position. Only complete lines are emitted while
 * following; an unfinished last line waits for its "\n", and is emitted as it is at EOF when not
 * following, or when its file was rotated away or truncated.
 *
 * Inodes are compared by number only, not device: device numbers can change across reboots,
 * which would make every saved position useless.
 */
export async function* readFileLines(path: string, options: ReadFileLinesOptions): AsyncGenerator<SourceLine> {
  const { signal, follow = false, pollMs = 250, maxLineBytes = DEFAULT_MAX_LINE_BYTES } = options;
  const buf = Buffer.allocUnsafe(CHUNK_BYTES);
  // Without follow a missing file is the caller's error; with it, the file may simply not exist yet.
  let current = follow ? await openIfPresent(path) : await openFile(path);
  try {
    const start = options.from ? yield* resume(path, current, options.from, options, maxLineBytes, buf) : 0;
    let splitter = new LineSplitter(maxLineBytes, start);
    for (;;) {
      if (signal.aborted) return;
      if (!current) {
        await sleep(pollMs, signal);
        current = await openIfPresent(path);
        continue;
      }
      yield* readToEof(current, splitter, path, signal, buf);
      if (!follow) {
        yield* flush(splitter, path, current.inode, signal);
        return;
      }

      const onDisk = await inodeAt(path);
      if (onDisk !== undefined && onDisk !== current.inode) {
        // Whatever was written before the rename is in the old file: finish it before switching.
        yield* readToEof(current, splitter, path, signal, buf);
        yield* flush(splitter, path, current.inode, signal);
        const old = current;
        current = await openIfPresent(path);
        await old.fh.close();
        options.onRotate?.({ path, oldInode: old.inode, newInode: current?.inode ?? onDisk });
        splitter = new LineSplitter(maxLineBytes, 0);
        continue;
      }

      const size = Number((await current.fh.stat({ bigint: true })).size);
      if (size < splitter.position) {
        yield* flush(splitter, path, current.inode, signal);
        options.onTruncate?.({ path, inode: current.inode, size, offset: splitter.position });
        splitter.reset(0);
        continue;
      }
      if (size === splitter.position) await sleep(pollMs, signal);
    }
  } finally {
    await current?.fh.close();
  }
}

/** Uses `from` and returns the offset to start the current file at, after yielding the rest of a rotated file if there is one. */
async function* resume(
  path: string,
  current: OpenFile | undefined,
  from: FilePosition,
  options: ReadFileLinesOptions,
  maxLineBytes: number,
  buf: Buffer,
): AsyncGenerator<SourceLine, number> {
  const report = options.onResume ?? (() => {});
  if (current && current.inode === from.inode) {
    if (from.offset <= current.size) {
      report({ kind: "same-file", inode: from.inode, offset: from.offset });
      return from.offset;
    }
    report({ kind: "restart", reason: `${path} (inode ${from.inode}) is now ${current.size} bytes, shorter than the saved offset ${from.offset}: truncated` });
    return 0;
  }
  const siblings = options.rotatedNames ?? [`${path}.1`, `${path}.0`];
  for (const name of siblings) {
    const sibling = await openIfPresent(name);
    if (!sibling) continue;
    try {
      if (sibling.inode !== from.inode) continue;
      report({ kind: "rotated", file: name, inode: from.inode, offset: from.offset });
      const splitter = new LineSplitter(maxLineBytes, from.offset <= sibling.size ? from.offset : 0);
      yield* readToEof(sibling, splitter, name, options.signal, buf);
      yield* flush(splitter, name, sibling.inode, options.signal);
      return 0;
    } finally {
      await sibling.fh.close();
    }
  }
  report({ kind: "restart", reason: `inode ${from.inode} is neither ${path} nor any of ${siblings.join(", ")}` });
  return 0;
}

async function* readToEof(file: OpenFile, splitter: LineSplitter, name: string, signal: AbortSignal, buf: Buffer): AsyncGenerator<SourceLine> {
  for (;;) {
    if (signal.aborted) return;
    const { bytesRead } = await file.fh.read(buf, 0, buf.length, splitter.position);
    if (bytesRead === 0) return;
    for (const line of splitter.push(buf.subarray(0, bytesRead))) {
      if (signal.aborted) return;
      yield toSourceLine(line, name, file.inode);
    }
  }
}

async function* flush(splitter: LineSplitter, name: string, inode: string, signal: AbortSignal): AsyncGenerator<SourceLine> {
  const rest = splitter.flush();
  if (rest && !signal.aborted) yield toSourceLine(rest, name, inode);
}

function toSourceLine(line: SplitLine, file: string, inode: string): SourceLine {
  const out: SourceLine = { text: line.text, lineNo: line.lineNo, pos: { file, inode, start: line.start, end: line.end } };
  if (line.truncatedBytes > 0) out.truncatedBytes = line.truncatedBytes;
  return out;
}

async function openFile(path: string): Promise<OpenFile> {
  const fh = await open(path, "r");
  try {
    // Inode and size from the open handle, not the path, so they describe the file we will read.
    const st = await fh.stat({ bigint: true });
    return { fh, inode: st.ino.toString(), size: Number(st.size) };
  } catch (err) {
    await fh.close();
    throw err;
  }
}

async function openIfPresent(path: string): Promise<OpenFile | undefined> {
  try {
    return await openFile(path);
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
}

async function inodeAt(path: string): Promise<string | undefined> {
  try {
    return (await stat(path, { bigint: true })).ino.toString();
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
}

function isNotFound(err: unknown): boolean {
  return (err as NodeJS.ErrnoException | null)?.code === "ENOENT";
}
