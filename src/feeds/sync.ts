// One sync of one feed: fetch (or read) it, parse it, drop unsafe entries one by one, decide
// whether the copy as a whole may replace the last good set, apply it in one transaction, and
// record the attempt. Whatever goes wrong, the last good set stays as it was.

import type Database from "better-sqlite3";
import { stat } from "node:fs/promises";
import { basename, dirname } from "node:path";
import { InputTooLargeError, readChunksCapped } from "../events/input.js";
import type { IndicatorSink, Rejected } from "./formats/index.js";
import { detectFeedFormat, parseFeed, type ParsedFeed } from "./formats/index.js";
import type { FeedFormat } from "../events/feed.js";
import { isManifest } from "./formats/misp.js";
import { MAX_REJECT_DETAILS } from "./formats/result.js";
import { fetchFeed, fetchFeedWith, FetchError, type FetchOptions } from "./fetch.js";
import { parseMispFeed, readMispDirectory } from "./read.js";
import { entryCheck, rejectCopy, type EntryCheck } from "./safety.js";
import { readFeedStream } from "./stream.js";
import { DEFAULT_MAX_BYTES, DEFAULT_MIN_KEEP_RATIO, DEFAULT_TIMEOUT_MS, isRemote } from "./spec.js";
import { FeedStage, getFeed, markFeedConfirmed, markFeedFailed, recordSync, type StoredFeed } from "../store/feeds.js";

export interface SyncResult {
  feed: string;
  status: "updated" | "unchanged" | "not-modified" | "rejected" | "failed";
  reason?: string;
  entries: number;
  added: number;
  removed: number;
  rejected: number;
  httpStatus?: number;
  bytes?: number;
  ms: number;
  /** Set version after the sync (grows when the set changed). */
  version?: number;
  format?: FeedFormat;
  rejectedByReason?: Record<string, number>;
  /** A few rejected entries with their reasons, for the report. */
  examples?: Rejected[];
}

export interface SyncOptions {
  /** Ignore ETag/Last-Modified and the minKeepRatio check (never the other safety checks). */
  force?: boolean;
  onProgress?: (done: number, total?: number) => void;
  /** Addresses that count as this host's, besides its interfaces' addresses. */
  hostAddresses?: string[];
  /** Protect the addresses on this host's interfaces too (default true). */
  interfaces?: boolean;
  /** Global allowlist (CIDRs), added to the feed's own. */
  allowlist?: string[];
  signal?: AbortSignal;
  /** Extra CA certificate (PEM) to trust, e.g. a private feed server's. */
  ca?: string;
  /** Retry tuning (tests and benchmarks shorten it). */
  retries?: number;
  retryBaseMs?: number;
  /** Concurrent event downloads of a MISP feed (default 4). */
  mispConcurrency?: number;
  now?: () => number;
}

const EXAMPLES = 20;

type Obtained =
  | { kind: "not-modified"; httpStatus: number }
  | { kind: "rejected"; reason: string; httpStatus?: number; bytes?: number }
  | { kind: "parsed"; parsed: ParsedFeed; httpStatus?: number; bytes?: number; etag?: string; lastModified?: string };

/**
 * Where a sync puts the entries of the copy it reads: a staging table in the store (FeedStage),
 * each entry checked on the way (safety.ts), so a feed of millions of entries never sits in memory.
 * A retried download starts a fresh one.
 */
class Staging {
  stage: FeedStage | undefined;
  filtered: { rejected: Rejected[]; rejectedCount: number; rejectedByReason: Record<string, number> } = { rejected: [], rejectedCount: 0, rejectedByReason: {} };

  constructor(
    private readonly db: Database.Database,
    private readonly check: EntryCheck,
  ) {}

  /** A fresh stage (dropping the one of a previous attempt); its sink for a FeedBuilder. */
  fresh(): { sink: IndicatorSink; batch: (fn: () => void) => void } {
    this.drop();
    const stage = new FeedStage(this.db);
    this.stage = stage;
    this.filtered = { rejected: [], rejectedCount: 0, rejectedByReason: {} };
    const f = this.filtered;
    const sink: IndicatorSink = (ind) => {
      const reason = this.check(ind);
      const r = stage.add(ind, reason);
      if (r === "added" && reason !== undefined) {
        f.rejectedCount++;
        f.rejectedByReason[reason] = (f.rejectedByReason[reason] ?? 0) + 1;
        if (f.rejected.length < MAX_REJECT_DETAILS) f.rejected.push({ value: ind.value, reason });
      }
      return r;
    };
    return { sink, batch: (fn) => stage.batch(fn) };
  }

  /** Stages what a whole-document parse kept in memory (MISP, STIX: capped, so bounded). */
  stageParsed(parsed: ParsedFeed): void {
    if (this.stage) return;
    const { sink, batch } = this.fresh();
    batch(() => {
      for (const ind of parsed.indicators) sink(ind);
    });
  }

  drop(): void {
    this.stage?.drop();
    this.stage = undefined;
  }
}

/** Syncs one feed by name; never throws for feed problems (they are a "failed" or "rejected" result). */
export async function syncFeed(db: Database.Database, name: string, opts: SyncOptions = {}): Promise<SyncResult> {
  const now = opts.now ?? Date.now;
  const feed = getFeed(db, name);
  if (!feed) throw new Error(`no feed named ${name}`);
  const started = now();
  const t0 = performance.now();
  const staging = new Staging(db, entryCheck({ hostAddresses: opts.hostAddresses, interfaces: opts.interfaces, allowlist: [...(opts.allowlist ?? []), ...(feed.allowlist ?? [])] }));
  try {
    return await syncWith(db, feed, opts, staging, started, t0);
  } finally {
    staging.drop();
  }
}

async function syncWith(db: Database.Database, feed: StoredFeed, opts: SyncOptions, staging: Staging, started: number, t0: number): Promise<SyncResult> {
  const name = feed.name;
  let obtained: Obtained;
  try {
    obtained = await obtain(feed, opts, staging);
  } catch (err) {
    const e = err as FetchError;
    return finish(db, feed, started, t0, { feed: name, status: "failed", reason: e.message, entries: feed.entries, added: 0, removed: 0, rejected: 0, httpStatus: e.httpStatus, ms: 0 });
  }
  if (obtained.kind === "not-modified") {
    markFeedConfirmed(db, name, started);
    return finish(db, feed, started, t0, { feed: name, status: "not-modified", entries: feed.entries, added: 0, removed: 0, rejected: 0, httpStatus: obtained.httpStatus, ms: 0, version: feed.version });
  }
  if (obtained.kind === "rejected") {
    return finish(db, feed, started, t0, { feed: name, status: "rejected", reason: obtained.reason, entries: feed.entries, added: 0, removed: 0, rejected: 0, httpStatus: obtained.httpStatus, bytes: obtained.bytes, ms: 0 });
  }

  const { parsed } = obtained;
  staging.stageParsed(parsed);
  const stage = staging.stage!;
  const filtered = staging.filtered;
  const rejectedByReason = { ...parsed.rejectedByReason };
  for (const [r, n] of Object.entries(filtered.rejectedByReason)) rejectedByReason[r] = (rejectedByReason[r] ?? 0) + n;
  const rejected = parsed.rejectedCount + filtered.rejectedCount;
  const examples = [...filtered.rejected, ...parsed.rejected].slice(0, EXAMPLES);
  const base = { feed: name, rejected, httpStatus: obtained.httpStatus, bytes: obtained.bytes, format: parsed.format, rejectedByReason, examples, ms: 0 };

  const hadGoodSet = feed.lastSuccess !== undefined;
  const refusal = rejectCopy(parsed, stage.entries, {
    lastGood: hadGoodSet ? feed.entries : undefined,
    minKeepRatio: opts.force ? 0 : feed.minKeepRatio ?? DEFAULT_MIN_KEEP_RATIO,
  });
  if (refusal) {
    return finish(db, feed, started, t0, { ...base, status: "rejected", reason: refusal, entries: feed.entries, added: 0, removed: 0 }, parsed);
  }
  const applied = stage.apply(name, { now: started, rejected, etag: obtained.etag, lastModified: obtained.lastModified });
  const changed = applied.added + applied.removed > 0;
  return finish(
    db,
    feed,
    started,
    t0,
    { ...base, status: changed || !hadGoodSet ? "updated" : "unchanged", reason: rejected > 0 ? summarizeRejects(rejectedByReason) : undefined, entries: applied.entries, added: applied.added, removed: applied.removed, version: applied.version },
    parsed,
  );
}

export function summarizeRejects(byReason: Record<string, number>): string {
  const parts = Object.entries(byReason)
    .sort((a, b) => b[1] - a[1])
    .map(([r, n]) => `${r} ×${n}`);
  const total = Object.values(byReason).reduce((a, b) => a + b, 0);
  return `${total} entr${total === 1 ? "y" : "ies"} rejected: ${parts.slice(0, 5).join(", ")}${parts.length > 5 ? ", …" : ""}`;
}

function finish(db: Database.Database, feed: StoredFeed, started: number, t0: number, r: SyncResult, parsed?: ParsedFeed): SyncResult {
  r.ms = Math.round(performance.now() - t0);
  for (const k of Object.keys(r) as Array<keyof SyncResult>) if (r[k] === undefined) delete r[k];
  if (r.status === "failed" || r.status === "rejected") markFeedFailed(db, feed.name, started, r.reason ?? r.status);
  recordSync(db, {
    feed: feed.name,
    started,
    ms: r.ms,
    status: r.status,
    reason: r.reason,
    httpStatus: r.httpStatus,
    bytes: r.bytes,
    entries: r.entries,
    added: r.added,
    removed: r.removed,
    rejected: r.rejected,
    details: parsed ? { format: parsed.format, rejectedByReason: r.rejectedByReason, skippedByReason: parsed.skippedByReason, duplicates: parsed.duplicates, examples: r.examples?.slice(0, 5) } : undefined,
  });
  return r;
}

function fetchOptions(feed: StoredFeed, opts: SyncOptions, conditional: boolean): FetchOptions {
  return {
    etag: conditional && !opts.force ? feed.etag : undefined,
    lastModified: conditional && !opts.force ? feed.lastModified : undefined,
    maxBytes: feed.maxBytes ?? DEFAULT_MAX_BYTES,
    timeoutMs: feed.timeoutMs ?? DEFAULT_TIMEOUT_MS,
    signal: opts.signal,
    ca: opts.ca,
    onProgress: opts.onProgress,
    retries: opts.retries,
    retryBaseMs: opts.retryBaseMs,
  };
}

async function obtain(feed: StoredFeed, opts: SyncOptions, staging: Staging): Promise<Obtained> {
  if (!isRemote(feed.url)) return obtainLocal(feed, opts, staging);
  // An explicit MISP feed may be given by its directory URL; its manifest is fetched first.
  const url = feed.format === "misp" && !/\.json($|\?)/.test(feed.url) ? feed.url.replace(/\/?$/, "/manifest.json") : feed.url;
  return fetchFeedWith(url, fetchOptions(feed, opts, true), async (res): Promise<Obtained> => {
    if (res.notModified) return { kind: "not-modified", httpStatus: res.httpStatus };
    const meta = (): { httpStatus: number; bytes: number } => ({ httpStatus: res.httpStatus, bytes: res.wireBytes() });
    const contentType = (res.contentType ?? "").toLowerCase();
    const html = `the response is an HTML page${contentType ? ` (Content-Type: ${res.contentType})` : ""}, not a feed`;
    // Refused on its header alone: nothing of the body is read.
    if (contentType.includes("text/html") || contentType.includes("application/xhtml")) return { kind: "rejected", reason: html, httpStatus: res.httpStatus };
    const streamed = await readFeedStream(res.body, { format: feed.format, source: feed.url, ...staging.fresh() });
    const cond = { ...(res.etag !== undefined ? { etag: res.etag } : {}), ...(res.lastModified !== undefined ? { lastModified: res.lastModified } : {}) };
    switch (streamed.kind) {
      case "html":
        return { kind: "rejected", reason: html, ...meta() };
      case "empty":
        return { kind: "rejected", reason: "the response is empty", ...meta() };
      case "unknown-format":
        return { kind: "rejected", reason: "the response is in no feed format hv knows", ...meta() };
      case "parsed":
        return { kind: "parsed", parsed: streamed.parsed, ...cond, ...meta() };
    }
    staging.drop();
    const text = streamed.text;
    const format = streamed.format === "auto" ? detectFeedFormat(text) : streamed.format;
    if (!format) return { kind: "rejected", reason: "the response is in no feed format hv knows", ...meta() };
    if (format === "misp") {
      let doc: unknown;
      try {
        doc = JSON.parse(text);
      } catch (err) {
        return { kind: "rejected", reason: `truncated: JSON does not parse: ${(err as Error).message}`, ...meta() };
      }
      if (isManifest(doc)) {
        const events = await fetchMispEvents(url, doc, feed, opts);
        return { kind: "parsed", parsed: parseMispFeed(doc, (uuid) => events.get(uuid)!, feed.url), ...cond, httpStatus: res.httpStatus, bytes: res.wireBytes() + events.bytes };
      }
    }
    return { kind: "parsed", parsed: parseFeed(text, { format, source: feed.url, now: opts.now?.() }), ...cond, ...meta() };
  });
}

/** Downloads a MISP feed's event files with bounded concurrency; any failure fails the sync. */
async function fetchMispEvents(manifestUrl: string, manifest: Record<string, unknown>, feed: StoredFeed, opts: SyncOptions): Promise<Map<string, string> & { bytes: number }> {
  const uuids = Object.keys(manifest).map((u) => u.toLowerCase());
  const out = new Map<string, string>() as Map<string, string> & { bytes: number };
  out.bytes = 0;
  const cap = feed.maxBytes ?? DEFAULT_MAX_BYTES;
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < uuids.length) {
      const uuid = uuids[next++]!;
      const eventUrl = new URL(`${uuid}.json`, manifestUrl).href;
      let got;
      try {
        got = await fetchFeed(eventUrl, { ...fetchOptions(feed, opts, false), onProgress: undefined });
      } catch (err) {
        const e = err as FetchError;
        throw new FetchError(`MISP event ${uuid}: ${e.message}`, false, e.httpStatus);
      }
      if (got.notModified) throw new FetchError(`MISP event ${uuid}: unexpected 304`, false, got.httpStatus);
      out.bytes += got.bytes;
      if (out.bytes > cap) throw new FetchError(`MISP feed exceeds the ${cap}-byte cap`, false);
      out.set(uuid, got.body.toString("utf8"));
      // Bytes so far, like a single download (the total is not known before every event came).
      opts.onProgress?.(out.bytes);
    }
  };
  await Promise.all(Array.from({ length: Math.min(opts.mispConcurrency ?? 4, uuids.length) }, worker));
  return out;
}

/** A local file (any format, also a pipe or a device: read within the cap) or a MISP feed directory. */
async function obtainLocal(feed: StoredFeed, opts: SyncOptions, staging: Staging): Promise<Obtained> {
  const cap = feed.maxBytes ?? DEFAULT_MAX_BYTES;
  const st = await stat(feed.url).catch((err: NodeJS.ErrnoException) => {
    throw new FetchError(`cannot read ${feed.url}: ${err.code ?? err.message}`, false);
  });
  const bytes = st.isFile() ? st.size : undefined;
  try {
    if (st.isDirectory()) return { kind: "parsed", parsed: readMispDirectory(feed.url, cap) };
    const streamed = await readFeedStream(readChunksCapped(feed.url, { cap, what: feed.url, ...(opts.signal ? { signal: opts.signal } : {}) }), { format: feed.format, source: feed.url, ...staging.fresh() });
    switch (streamed.kind) {
      case "html":
        return { kind: "rejected", reason: `${feed.url} is an HTML page, not a feed`, bytes };
      case "empty":
        return { kind: "rejected", reason: `${feed.url} is empty`, bytes };
      case "unknown-format":
        return { kind: "rejected", reason: `${feed.url}: not a feed format hv knows`, bytes };
      case "parsed":
        return { kind: "parsed", parsed: streamed.parsed, bytes };
    }
    staging.drop();
    const text = streamed.text;
    if (basename(feed.url) === "manifest.json" && feed.format !== "stix") {
      try {
        if (isManifest(JSON.parse(text))) return { kind: "parsed", parsed: readMispDirectory(dirname(feed.url), cap), bytes };
      } catch {
        // not JSON: parsed below as whatever it is
      }
    }
    return { kind: "parsed", parsed: parseFeed(text, { format: streamed.format, source: feed.url, now: opts.now?.() }), bytes };
  } catch (err) {
    if (err instanceof InputTooLargeError) return { kind: "rejected", reason: err.message, bytes: err.size };
    return { kind: "rejected", reason: (err as Error).message, bytes };
  }
}
