// Downloading one feed over HTTP(S) with axios: conditional requests (ETag, Last-Modified), an
// overall deadline, the body streamed to its consumer (decompressed as it comes) through the one
// capped reader (src/events/input.ts), a Content-Length check (a cut connection is not a smaller
// feed), and retries with exponential backoff and jitter on network errors, 5xx and 429
// (honouring Retry-After). TLS is always verified; an extra CA can be trusted on top of the
// system ones.

import { Agent as HttpsAgent } from "node:https";
import { rootCertificates } from "node:tls";
import { createGunzip, createInflate } from "node:zlib";
import { pipeline, Readable } from "node:stream";
import type { AxiosResponse } from "axios";
import { capChunks, collectCapped, InputTooLargeError } from "../events/input.js";

export interface FetchOptions {
  etag?: string;
  lastModified?: string;
  maxBytes: number;
  /** Deadline for one attempt, headers and body together. */
  timeoutMs: number;
  signal?: AbortSignal;
  /** Extra CA certificate(s), PEM, trusted besides the system store. */
  ca?: string;
  onProgress?: (done: number, total?: number) => void;
  /** Retries after the first attempt (default 3). */
  retries?: number;
  /** First backoff delay (default 1 s); doubles each retry, with ±50% jitter. */
  retryBaseMs?: number;
  /** No wait (backoff or Retry-After) is longer than this (default 60 s). */
  maxRetryDelayMs?: number;
}

export type Fetched =
  | { notModified: true; httpStatus: number; attempts: number }
  | { notModified: false; httpStatus: number; body: Buffer; bytes: number; contentType?: string; etag?: string; lastModified?: string; attempts: number };

export class FetchError extends Error {
  constructor(
    message: string,
    readonly retryable: boolean,
    readonly httpStatus?: number,
    readonly retryAfterMs?: number,
  ) {
    super(message);
  }
}

const NETWORK_CODES = new Set(["ECONNRESET", "ECONNREFUSED", "ECONNABORTED", "ETIMEDOUT", "EPIPE", "EAI_AGAIN", "ENETUNREACH", "EHOSTUNREACH", "ERR_STREAM_PREMATURE_CLOSE", "ERR_SOCKET_CONNECTION_TIMEOUT"]);

/** Retry-After: seconds, or an HTTP date. */
export function parseRetryAfter(value: unknown, now = Date.now()): number | undefined {
  if (typeof value !== "string" || value.trim() === "") return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1000;
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(new FetchError("aborted", false));
    const t = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = (): void => {
      clearTimeout(t);
      reject(new FetchError("aborted", false));
    };
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/** What one attempt got: a 304, or headers and a body that streams (decompressed, capped). */
export type FeedResponse =
  | { notModified: true; httpStatus: number }
  | {
      notModified: false;
      httpStatus: number;
      /** The body as it arrives: decompressed, and never more than maxBytes (InputTooLargeError past it). */
      body: AsyncIterable<Buffer>;
      /** Bytes that came over the wire so far. */
      wireBytes(): number;
      contentType?: string;
      etag?: string;
      lastModified?: string;
    };

/**
 * One feed download with retries: `consume` reads the response (all of its body, or it is cut
 * short); a network error, a timeout or a truncation while it does is retried like one before the
 * headers, with a fresh response. The last error is thrown when every attempt failed.
 */
export async function fetchFeedWith<R>(url: string, opts: FetchOptions, consume: (res: FeedResponse) => Promise<R>): Promise<R & { attempts: number }> {
  const retries = opts.retries ?? 3;
  const base = opts.retryBaseMs ?? 1000;
  const maxDelay = opts.maxRetryDelayMs ?? 60_000;
  for (let attempt = 0; ; attempt++) {
    try {
      const got = await attemptOnce(url, opts, consume);
      return { ...got, attempts: attempt + 1 };
    } catch (err) {
      const e = err instanceof FetchError ? err : new FetchError((err as Error).message, false);
      if (!e.retryable || attempt >= retries || opts.signal?.aborted) {
        throw attempt > 0 ? new FetchError(`${e.message} (after ${attempt + 1} attempts)`, false, e.httpStatus) : e;
      }
      const backoff = base * 2 ** attempt * (0.5 + Math.random());
      await sleep(Math.min(maxDelay, e.retryAfterMs ?? backoff), opts.signal);
    }
  }
}

/** A whole (small) document: a MISP manifest or event, collected within the cap. */
export async function fetchFeed(url: string, opts: FetchOptions): Promise<Fetched> {
  return fetchFeedWith(url, opts, async (res): Promise<Omit<Fetched, "attempts">> => {
    if (res.notModified) return res;
    const body = await collectCapped(res.body, opts.maxBytes, "the response");
    return {
      notModified: false,
      httpStatus: res.httpStatus,
      body,
      bytes: res.wireBytes(),
      ...(res.contentType !== undefined ? { contentType: res.contentType } : {}),
      ...(res.etag !== undefined ? { etag: res.etag } : {}),
      ...(res.lastModified !== undefined ? { lastModified: res.lastModified } : {}),
    } as Omit<Fetched, "attempts">;
  }) as Promise<Fetched>;
}

async function attemptOnce<R>(url: string, opts: FetchOptions, consume: (res: FeedResponse) => Promise<R>): Promise<R> {
  const deadline = new AbortController();
  // The deadline covers the headers and the whole body.
  const timer = setTimeout(() => deadline.abort(), opts.timeoutMs);
  const onOuterAbort = (): void => deadline.abort();
  opts.signal?.addEventListener("abort", onOuterAbort, { once: true });
  const headers: Record<string, string> = { "Accept-Encoding": "gzip, deflate", "User-Agent": "hv-feeds/1" };
  if (opts.etag) headers["If-None-Match"] = opts.etag;
  if (opts.lastModified) headers["If-Modified-Since"] = opts.lastModified;
  let res: AxiosResponse<Readable> | undefined;
  try {
    // axios takes ~0.1 s to import: loaded by the first download, not by every command that can sync.
    const { default: axios } = await import("axios");
    res = await axios.get<Readable>(url, {
      responseType: "stream",
      // Decompressed here, after the Content-Length check on the bytes that came over the wire.
      decompress: false,
      validateStatus: () => true,
      maxRedirects: 5,
      signal: deadline.signal,
      headers,
      httpsAgent: new HttpsAgent({ ca: opts.ca ? [...rootCertificates, opts.ca] : undefined, rejectUnauthorized: true }),
    });
    return await consume(responseOf(res, opts, deadline.signal));
  } catch (err) {
    throw classify(err, deadline.signal.aborted && !opts.signal?.aborted, opts, res?.status);
  } finally {
    clearTimeout(timer);
    opts.signal?.removeEventListener("abort", onOuterAbort);
    res?.data.destroy();
  }
}

function classify(err: unknown, timedOut: boolean, opts: FetchOptions, status?: number): FetchError {
  if (err instanceof FetchError) return err;
  if (opts.signal?.aborted) return new FetchError("aborted", false);
  if (timedOut) return new FetchError(`timed out after ${opts.timeoutMs} ms`, true);
  // Over the cap: the download is refused whole (retrying would get the same bytes).
  if (err instanceof InputTooLargeError) return new FetchError(err.message, false, status);
  const e = err as { code?: string; message?: string };
  const code = e.code ?? "";
  if (/CERT|SSL|TLS|SELF_SIGNED|UNABLE_TO_VERIFY|ERR_TLS/i.test(code)) return new FetchError(`TLS verification failed: ${e.message ?? code} (${code})`, false);
  if (code.startsWith("Z_") || /unexpected end of file|incorrect header check|invalid (stored )?block/i.test(e.message ?? "")) return new FetchError(`truncated or corrupt compressed body: ${e.message ?? code}`, true, status);
  if (NETWORK_CODES.has(code) || /aborted|socket hang up/i.test(e.message ?? "")) return new FetchError(`network error: ${e.message ?? code}${code ? ` (${code})` : ""}`, true);
  return new FetchError(e.message ?? String(err), false);
}

function header(res: AxiosResponse, name: string): string | undefined {
  const v: unknown = res.headers[name];
  return typeof v === "string" ? v : Array.isArray(v) ? String(v[0]) : undefined;
}

function responseOf(res: AxiosResponse<Readable>, opts: FetchOptions, signal: AbortSignal): FeedResponse {
  const status = res.status;
  if (status === 304) return { notModified: true, httpStatus: status };
  if (status < 200 || status >= 300) {
    const retryable = status >= 500 || status === 429;
    throw new FetchError(`HTTP ${status}${res.statusText ? ` ${res.statusText}` : ""}`, retryable, status, retryable ? parseRetryAfter(header(res, "retry-after")) : undefined);
  }
  const declared = header(res, "content-length");
  const total = declared !== undefined && /^\d+$/.test(declared) ? Number(declared) : undefined;
  if (total !== undefined && total > opts.maxBytes) throw new FetchError(new InputTooLargeError("the response", opts.maxBytes, total).message, false, status);
  let size = 0;
  async function* wire(): AsyncGenerator<Buffer> {
    for await (const chunk of res.data) {
      if (signal.aborted) throw new FetchError("aborted", false);
      const buf = chunk as Buffer;
      size += buf.length;
      opts.onProgress?.(size, total);
      yield buf;
    }
    if (total !== undefined && size !== total) throw new FetchError(`truncated: ${size} of ${total} bytes (Content-Length)`, true, status);
  }
  const onWire = capChunks(wire(), opts.maxBytes, "the response", total);
  const encoding = (header(res, "content-encoding") ?? "").toLowerCase();
  const inflate = encoding === "gzip" || encoding === "x-gzip" ? createGunzip() : encoding === "deflate" ? createInflate() : undefined;
  // A small compressed body may inflate far past the cap (a "zip bomb"): the cap holds after inflating too.
  const body = inflate ? capChunks(pipeline(Readable.from(onWire), inflate, () => undefined), opts.maxBytes, "the decompressed response") : onWire;
  return {
    notModified: false,
    httpStatus: status,
    body,
    wireBytes: () => size,
    ...optional("contentType", header(res, "content-type")),
    ...optional("etag", header(res, "etag")),
    ...optional("lastModified", header(res, "last-modified")),
  };
}

function optional<K extends string>(key: K, value: string | undefined): { [P in K]?: string } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: string };
}
