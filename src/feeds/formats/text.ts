// Line-oriented feeds: plain IP/CIDR lists, FireHOL netsets, Spamhaus DROP/EDROP/DROPv6 text,
// and domain lists (one per line, or hosts-file style "0.0.0.0 domain").

import { canonicalDomain, canonicalNet } from "../canonical.js";
import { FeedBuilder, isCommentLine, MAX_LINE_CHARS, parseLines, splitComment, type LineParser, type ParsedFeed } from "./result.js";

type LineHandler = (entry: string, comment: string | undefined, lineNo: number, b: FeedBuilder) => void;

/** Lines of entries with comments: overlong lines rejected, comments and blanks skipped, the rest to `handle`. */
function entryLines(b: FeedBuilder, handle: LineHandler, onComment?: (line: string, b: FeedBuilder) => void): LineParser {
  return {
    line(raw, lineNo) {
      if (raw.length > MAX_LINE_CHARS) {
        b.reject(raw, `line longer than ${MAX_LINE_CHARS} characters`, lineNo);
        return;
      }
      const trimmed = raw.trim();
      if (trimmed === "" || isCommentLine(trimmed)) {
        onComment?.(trimmed, b);
        b.skip();
        return;
      }
      const [entry, comment] = splitComment(trimmed);
      if (entry === "") {
        b.skip();
        return;
      }
      handle(entry, comment, lineNo, b);
    },
    end() {},
  };
}

function whole(text: string, b: FeedBuilder, lines: (b: FeedBuilder) => LineParser): ParsedFeed {
  parseLines(text, lines(b));
  return b.done();
}

/**
 * One IP or CIDR per line. A line of several addresses separated by blanks or commas (a
 * "freetext" export) gives each; otherwise the first word is the entry and the rest a note.
 */
function addressLine(entry: string, comment: string | undefined, lineNo: number, b: FeedBuilder): void {
  const words = entry.split(/[\s,]+/).filter((w) => w !== "");
  if (words.length === 0) return b.reject(entry, "no address on the line", lineNo);
  const canons = words.map((w) => canonicalNet(w));
  if (words.length > 1 && canons.every((c) => c.ok)) {
    canons.forEach((c, i) => b.add(c, words[i]!, lineNo));
    return;
  }
  const note = [words.slice(1).join(" "), comment].filter((s) => s).join(" ");
  b.add(canons[0]!, words[0]!, lineNo, note ? { note: note.slice(0, 200) } : undefined);
}

export const plainLines = (b: FeedBuilder): LineParser => entryLines(b, addressLine, footerCheck);
export const netsetLines = (b: FeedBuilder): LineParser => entryLines(b, addressLine);

/** "1.10.16.0/20 ; SBL256894": the SBL id is kept as meta. */
export const spamhausDropLines = (b: FeedBuilder): LineParser =>
  entryLines(b, (entry, comment, lineNo, b) => {
    const sbl: Record<string, string> | undefined = comment && /^SBL\d+$/i.test(comment) ? { sblid: comment.toUpperCase() } : comment ? { note: comment.slice(0, 200) } : undefined;
    b.add(canonicalNet(entry), entry, lineNo, sbl);
  });

export function parsePlain(text: string, source: string): ParsedFeed {
  return whole(text, new FeedBuilder("plain", source), plainLines);
}

export function parseNetset(text: string, source: string): ParsedFeed {
  return whole(text, new FeedBuilder("netset", source), netsetLines);
}

export function parseSpamhausDrop(text: string, source: string): ParsedFeed {
  return whole(text, new FeedBuilder("spamhaus-drop", source), spamhausDropLines);
}

// Hosts files point blocked names at a sink address; the address itself is not the indicator.
const SINK_ADDRESSES = new Set(["0.0.0.0", "127.0.0.1", "::", "::1", "::0"]);

export const domainLines = (b: FeedBuilder): LineParser =>
  entryLines(b, (entry, _comment, lineNo, b) => {
    const words = entry.split(/\s+/);
    if (words.length >= 2 && SINK_ADDRESSES.has(words[0]!)) {
      for (const w of words.slice(1)) b.add(canonicalDomain(w), w, lineNo);
      return;
    }
    // Adblock-style "||example.com^" lines are common in domain feeds.
    const adblock = /^\|\|([^/^$]+)\^?$/.exec(entry);
    const name = adblock ? adblock[1]! : words[0]!;
    b.add(canonicalDomain(name), name, lineNo);
  });

export function parseDomains(text: string, source: string): ParsedFeed {
  return whole(text, new FeedBuilder("domains", source), domainLines);
}

/** abuse.ch lists end with "# END 244 entries": a different count means the copy was cut. */
function footerCheck(line: string, b: FeedBuilder): void {
  const m = /^#\s*END\s+(\d+)\s+entries/i.exec(line);
  const found = b.count + b.done().rejectedCount + b.done().duplicates;
  if (m && Number(m[1]) !== found) b.truncated(`footer declares ${m[1]} entries, found ${found}`);
}
