// The one capped reader for everything hv reads whole or streams: configs, playbooks, alert JSON,
// manifests, inventories, feeds — from a file, a pipe, a character device or an HTTP body alike.
// A regular file over the cap is refused before a byte is read (its real size named); anything
// else (a pipe, /dev/zero, a download without Content-Length) is read up to the cap and stops there.

import { closeSync, fstatSync, openSync, readSync } from "node:fs";
import { open } from "node:fs/promises";

/** Input hv cannot use as given (unreadable, too big, not what it should be): exit code 2 at the CLI. */
export class InputError extends Error {
  override readonly name: string = "InputError";
}

/** `text` as a whole number from 1 up (a count, a limit, a row id); anything else — "abc", "-5", "1.5", "Infinity" — is an InputError naming `what`. */
export function positiveInt(text: string, what: string): number {
  const n = Number(text);
  if (!Number.isSafeInteger(n) || n < 1) throw new InputError(`${what} must be a positive integer, got ${JSON.stringify(text)}`);
  return n;
}

/** An input over its cap. `size` is its real size when known (a regular file, a Content-Length), else undefined. */
export class InputTooLargeError extends InputError {
  override readonly name = "InputTooLargeError";

  constructor(
    readonly what: string,
    readonly cap: number,
    readonly size: number | undefined,
  ) {
    super(size !== undefined ? `${what} is ${size} bytes, over the cap of ${cap} bytes` : `${what} is larger than the cap of ${cap} bytes; reading stopped there`);
  }
}

/** Configs, playbooks, alert files, manifests, inventories: documents people write, never near this. */
export const MAX_DOCUMENT_BYTES = 16 * 1024 * 1024;

/** Training data read whole (traces, recorded logs for `hv model train`): below V8's longest string. */
export const MAX_TRAINING_BYTES = 256 * 1024 * 1024;

/**
 * Passes chunks on until more than `cap` bytes went by, then throws InputTooLargeError. `size`
 * is the input's declared size when one is known (the error then names it).
 */
export async function* capChunks(chunks: AsyncIterable<Buffer | string>, cap: number, what: string, size?: number): AsyncGenerator<Buffer> {
  if (size !== undefined && size > cap) throw new InputTooLargeError(what, cap, size);
  let seen = 0;
  for await (const chunk of chunks) {
    const buf = typeof chunk === "string" ? Buffer.from(chunk, "utf8") : chunk;
    seen += buf.length;
    if (seen > cap) throw new InputTooLargeError(what, cap, size);
    yield buf;
  }
}

/** All of the chunks in one Buffer, at most `cap` bytes. */
export async function collectCapped(chunks: AsyncIterable<Buffer | string>, cap: number, what: string, size?: number): Promise<Buffer> {
  const parts: Buffer[] = [];
  let n = 0;
  for await (const buf of capChunks(chunks, cap, what, size)) {
    parts.push(buf);
    n += buf.length;
  }
  return Buffer.concat(parts, n);
}

const CHUNK = 64 * 1024;

/**
 * The chunks of a file, pipe or device at `path`, at most `cap` bytes (InputTooLargeError past it;
 * InputError when it cannot be opened or is a directory). Stops early when `signal` aborts.
 */
export async function* readChunksCapped(path: string, opts: { cap: number; what?: string; signal?: AbortSignal }): AsyncGenerator<Buffer> {
  const what = opts.what ?? path;
  let fh;
  try {
    fh = await open(path, "r");
  } catch (err) {
    throw new InputError(`cannot read ${what}: ${describeIoError(err)}`);
  }
  try {
    const st = await fh.stat();
    if (st.isDirectory()) throw new InputError(`${what} is a directory, not a file`);
    if (st.isFile() && st.size > opts.cap) throw new InputTooLargeError(what, opts.cap, st.size);
    async function* raw(): AsyncGenerator<Buffer> {
      for (;;) {
        if (opts.signal?.aborted) return;
        // A fresh buffer each time: the consumer may keep the chunk.
        const buf = Buffer.allocUnsafe(CHUNK);
        const { bytesRead } = await fh!.read(buf, 0, CHUNK, null);
        if (bytesRead === 0) return;
        yield buf.subarray(0, bytesRead);
      }
    }
    yield* capChunks(raw(), opts.cap, what, st.isFile() ? st.size : undefined);
  } finally {
    await fh.close();
  }
}

/** A whole file, pipe or device as bytes, at most `cap` (synchronous, for loaders that are). */
export function readFileCapped(path: string, cap: number, what = path): Buffer {
  let fd: number;
  try {
    fd = openSync(path, "r");
  } catch (err) {
    throw new InputError(`cannot read ${what}: ${describeIoError(err)}`);
  }
  try {
    return readFdCapped(fd, cap, what);
  } finally {
    closeSync(fd);
  }
}

/** Everything an open descriptor gives, at most `cap` bytes; the caller closes it. */
export function readFdCapped(fd: number, cap: number, what: string): Buffer {
  const st = fstatSync(fd);
  if (st.isDirectory()) throw new InputError(`${what} is a directory, not a file`);
  if (st.isFile() && st.size > cap) throw new InputTooLargeError(what, cap, st.size);
  const parts: Buffer[] = [];
  let n = 0;
  for (;;) {
    // One byte past the cap tells "exactly the cap" from "more".
    const buf = Buffer.allocUnsafe(Math.min(CHUNK, cap + 1 - n));
    let got: number;
    try {
      got = readSync(fd, buf, 0, buf.length, null);
    } catch (err) {
      throw new InputError(`cannot read ${what}: ${describeIoError(err)}`);
    }
    if (got === 0) break;
    parts.push(buf.subarray(0, got));
    n += got;
    if (n > cap) throw new InputTooLargeError(what, cap, st.isFile() ? st.size : undefined);
  }
  return Buffer.concat(parts, n);
}

/** A whole text input, decoded as UTF-8, at most `cap` bytes. */
export function readTextCapped(path: string, cap = MAX_DOCUMENT_BYTES, what = path): string {
  return readFileCapped(path, cap, what).toString("utf8");
}

/** "ENOENT (no such file or directory)" rather than Node's message with the path repeated. */
function describeIoError(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  if (!e.code) return e.message ?? String(err);
  const why = /^[A-Z]+: ([^,]+)/.exec(e.message)?.[1];
  return why ? `${e.code} (${why})` : e.code;
}
