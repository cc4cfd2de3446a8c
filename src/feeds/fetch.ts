// Downloading one feed document over HTTP(S) with axios: conditional requests (ETag,
// Last-Modified), an overall deadline, a size cap enforced while streaming, a Content-Length
// check (a cut connection is not a smaller feed), and retries with exponential backoff and
// jitter on network errors, 5xx and 429 (honouring Retry-After). TLS is always verified; an
// extra CA can be trusted on top of the system ones.

import { Agent as HttpsAgent } from "node:https";
import { rootCertificates } from "node:tls";
import { gunzipSync, inflateSync } from "node:zlib";
import type { Readable } from "node:stream";
import type { AxiosResponse } from "axios";

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

/** Fetches with retries; the last error is thrown when every attempt failed. */
export async function fetchFeed(url: string, opts: FetchOptions): Promise<Fetched> {
  const retries = opts.retries ?? 3;
  const base = opts.retryBaseMs ?? 1000;
  const maxDelay = opts.maxRetryDelayMs ?? 60_000;
  for (let attempt = 0; ; attempt++) {
    try {
      const got = await fetchOnce(url, opts);
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

type Once = Omit<Extract<Fetched, { notModified: false }>, "attempts"> | Omit<Extract<Fetched, { notModified: true }>, "attempts">;

async function fetchOnce(url: string, opts: FetchOptions): Promise<Once> {
  const deadline = new AbortController();
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
    return await readResponse(res, opts, deadline.signal);
  } catch (err) {
    throw classify(err, deadline.signal.aborted && !opts.signal?.aborted, opts);
  } finally {
    clearTimeout(timer);
    opts.signal?.removeEventListener("abort", onOuterAbort);
    res?.data.destroy();
  }
}

function classify(err: unknown, timedOut: boolean, opts: FetchOptions): FetchError {
  if (err instanceof FetchError) return err;
  if (opts.signal?.aborted) return new FetchError("aborted", false);
  if (timedOut) return new FetchError(`timed out after ${opts.timeoutMs} ms`, true);
  const e = err as { code?: string; message?: string };
  const code = e.code ?? "";
  if (/CERT|SSL|TLS|SELF_SIGNED|UNABLE_TO_VERIFY|ERR_TLS/i.test(code)) return new FetchError(`TLS verification failed: ${e.message ?? code} (${code})`, false);
  if (NETWORK_CODES.has(code) || /aborted|socket hang up/i.test(e.message ?? "")) return new FetchError(`network error: ${e.message ?? code}${code ? ` (${code})` : ""}`, true);
  return new FetchError(e.message ?? String(err), false);
}

function header(res: AxiosResponse, name: string): string | undefined {
  const v: unknown = res.headers[name];
  return typeof v === "string" ? v : Array.isArray(v) ? String(v[0]) : undefined;
}

async function readResponse(res: AxiosResponse<Readable>, opts: FetchOptions, signal: AbortSignal): Promise<Once> {
  const status = res.status;
  if (status === 304) return { notModified: true, httpStatus: status };
  if (status < 200 || status >= 300) {
    const retryable = status >= 500 || status === 429;
    throw new FetchError(`HTTP ${status}${res.statusText ? ` ${res.statusText}` : ""}`, retryable, status, retryable ? parseRetryAfter(header(res, "retry-after")) : undefined);
  }
  const declared = header(res, "content-length");
  const total = declared !== undefined && /^\d+$/.test(declared) ? Number(declared) : undefined;
  if (total !== undefined && total > opts.maxBytes) throw new FetchError(`response is ${total} bytes, over the ${opts.maxBytes}-byte cap`, false, status);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of res.data) {
    if (signal.aborted) throw new FetchError("aborted", false);
    const buf = chunk as Buffer;
    size += buf.length;
    if (size > opts.maxBytes) throw new FetchError(`response exceeds the ${opts.maxBytes}-byte cap`, false, status);
    chunks.push(buf);
    opts.onProgress?.(size, total);
  }
  if (total !== undefined && size !== total) throw new FetchError(`truncated: ${size} of ${total} bytes (Content-Length)`, true, status);
  const raw = Buffer.concat(chunks, size);
  const encoding = (header(res, "content-encoding") ?? "").toLowerCase();
  let body = raw;
  try {
    if (encoding === "gzip" || encoding === "x-gzip") body = gunzipSync(raw, { maxOutputLength: opts.maxBytes });
    else if (encoding === "deflate") body = inflateSync(raw, { maxOutputLength: opts.maxBytes });
  } catch (err) {
    const tooBig = (err as { code?: string }).code === "ERR_BUFFER_TOO_LARGE" || err instanceof RangeError;
    throw new FetchError(tooBig ? `decompressed response exceeds the ${opts.maxBytes}-byte cap` : `truncated or corrupt ${encoding} body: ${(err as Error).message}`, !tooBig, status);
  }
  return {
    notModified: false,
    httpStatus: status,
    body,
    bytes: size,
    contentType: header(res, "content-type"),
    etag: header(res, "etag"),
    lastModified: header(res, "last-modified"),
  };
}
