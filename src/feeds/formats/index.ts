// Feed formats: recognizing one from its content, and parsing text into canonical indicators.

import { canonicalDomain, canonicalNet } from "../canonical.js";
import { isManifest, parseMisp } from "./misp.js";
import { feodoLines, parseFeodoCsv, parseSpamhausJson, spamhausJsonLines } from "./records.js";
import { FEED_FORMATS, type FeedFormat } from "../../events/feed.js";
import { isCommentLine, splitComment, textLines, type FeedBuilder, type LineParser, type ParsedFeed } from "./result.js";
import { parseStix } from "./stix.js";
import { domainLines, netsetLines, parseDomains, parseNetset, parsePlain, parseSpamhausDrop, plainLines, spamhausDropLines } from "./text.js";

export { FeedBuilder, type IndicatorSink, type ParsedFeed, type Rejected } from "./result.js";

/** Does the text look like an HTML page (an error or login page served instead of the feed)? */
export function looksLikeHtml(text: string): boolean {
  const head = text.slice(0, 1024).replace(/^\uFEFF/, "").trimStart().toLowerCase();
  return head.startsWith("<!doctype html") || head.startsWith("<html") || head.startsWith("<head") || head.startsWith("<body") || /<html[\s>]/.test(head.slice(0, 512));
}

function firstJsonValue(body: string): unknown {
  try {
    return JSON.parse(body);
  } catch {
    return undefined;
  }
}

/** The format the text is in, or undefined when it is none hv knows (HTML, binary, empty). */
export function detectFeedFormat(text: string): FeedFormat | undefined {
  const body = text.replace(/^\uFEFF/, "").trimStart();
  if (body === "" || looksLikeHtml(body) || body.slice(0, 512).includes("\u0000")) return undefined;
  if (body.startsWith("{") || body.startsWith("[")) return detectJson(body);

  const lines = textLines(body).slice(0, 400);
  const comments = lines.filter((l) => isCommentLine(l.trim()));
  if (comments.some((l) => /ipset|firehol/i.test(l))) return "netset";
  if (lines.some((l) => /(^|,|#\s*)"?dst_ip"?(,|$)/.test(l.trim()))) return "feodo-csv";
  const data = lines.map((l) => l.trim()).filter((l) => l !== "" && !isCommentLine(l)).slice(0, 200);
  if (data.length === 0) return comments.length > 0 ? "plain" : undefined;
  if (data.filter((l) => /^\S+\s*;\s*SBL\d+/i.test(l)).length >= data.length / 2) return "spamhaus-drop";
  let ips = 0;
  let domains = 0;
  for (const l of data) {
    const [entry] = splitComment(l);
    const words = entry.split(/[\s,]+/);
    if (canonicalNet(words[0]!).ok) {
      // "0.0.0.0 example.com" is a hosts file: the names are the entries.
      if (words.length > 1 && canonicalDomain(words[1]!).ok) domains++;
      else ips++;
    } else if (canonicalDomain(words[0]!.replace(/^\|\|/, "").replace(/\^$/, "")).ok) domains++;
  }
  if (ips === 0 && domains === 0) return undefined;
  return ips >= domains ? "plain" : "domains";
}

function detectJson(body: string): FeedFormat | undefined {
  const firstLine = body.slice(0, body.indexOf("\n") < 0 ? body.length : body.indexOf("\n")).trim();
  const first = firstJsonValue(firstLine);
  if (first && typeof first === "object" && !Array.isArray(first) && ("cidr" in first || "asn" in first || (first as { type?: unknown }).type === "metadata")) {
    return "spamhaus-json";
  }
  const doc = firstJsonValue(body);
  if (doc === undefined) {
    // Not whole JSON: guess from the start so a truncated download is parsed (and found truncated).
    if (/"type"\s*:\s*"bundle"|"spec_version"|"pattern"\s*:/.test(body.slice(0, 4096))) return "stix";
    if (/"Event"\s*:/.test(body.slice(0, 4096))) return "misp";
    return undefined;
  }
  const o = doc as Record<string, unknown>;
  if (Array.isArray(doc)) {
    const x = doc[0] as Record<string, unknown> | undefined;
    if (x && typeof x === "object" && "Event" in x) return "misp";
    if (x && typeof x === "object" && typeof x.type === "string" && typeof x.id === "string") return "stix";
    return undefined;
  }
  if (typeof o !== "object" || o === null) return undefined;
  if ("Event" in o || Array.isArray(o.response) || isManifest(o)) return "misp";
  if (o.type === "bundle" || o.type === "indicator" || "spec_version" in o) return "stix";
  return undefined;
}

export interface ParseOptions {
  format?: FeedFormat | "auto";
  /** Names the feed or file in messages. */
  source: string;
  /** For STIX valid_until (default: now). */
  now?: number;
}

/** The line parser of a line-oriented format (these stream); undefined for the whole-document ones (MISP, STIX). */
export function lineParserFor(format: FeedFormat, b: FeedBuilder): LineParser | undefined {
  switch (format) {
    case "plain":
      return plainLines(b);
    case "netset":
      return netsetLines(b);
    case "spamhaus-drop":
      return spamhausDropLines(b);
    case "spamhaus-json":
      return spamhausJsonLines(b);
    case "feodo-csv":
      return feodoLines(b);
    case "domains":
      return domainLines(b);
    default:
      return undefined;
  }
}

export function isFeedFormat(text: string): text is FeedFormat {
  return (FEED_FORMATS as readonly string[]).includes(text);
}

/** Parses feed text; with format "auto" (the default) the format is detected, and an unknown one is an error. */
export function parseFeed(text: string, opts: ParseOptions): ParsedFeed {
  let format = opts.format ?? "auto";
  if (format === "auto") {
    const found = detectFeedFormat(text);
    if (!found) throw new Error(`${opts.source}: not a feed format hv knows${looksLikeHtml(text) ? " (it is an HTML page)" : text.trim() === "" ? " (it is empty)" : ""}`);
    format = found;
  }
  switch (format) {
    case "plain":
      return parsePlain(text, opts.source);
    case "netset":
      return parseNetset(text, opts.source);
    case "spamhaus-drop":
      return parseSpamhausDrop(text, opts.source);
    case "spamhaus-json":
      return parseSpamhausJson(text, opts.source);
    case "feodo-csv":
      return parseFeodoCsv(text, opts.source);
    case "domains":
      return parseDomains(text, opts.source);
    case "misp":
      return parseMisp(text, opts.source);
    case "stix":
      return parseStix(text, opts.source, opts.now);
  }
}
