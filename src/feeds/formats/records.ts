// Record-per-line feeds: abuse.ch Feodo Tracker CSV and Spamhaus DROP JSON lines.

import { canonicalNet } from "../canonical.js";
import { FeedBuilder, MAX_LINE_CHARS, parseLines, type LineParser, type ParsedFeed } from "./result.js";

/** Splits one CSV line with optional double quotes ("a","b,c",d; "" is a quote inside quotes). */
export function splitCsv(line: string): string[] | undefined {
  const out: string[] = [];
  let i = 0;
  while (i <= line.length) {
    if (line[i] === '"') {
      let value = "";
      i++;
      for (;;) {
        if (i >= line.length) return undefined; // unterminated quote
        if (line[i] === '"') {
          if (line[i + 1] === '"') {
            value += '"';
            i += 2;
            continue;
          }
          i++;
          break;
        }
        value += line[i++];
      }
      out.push(value);
      if (i < line.length && line[i] !== ",") return undefined;
      i++;
    } else {
      const comma = line.indexOf(",", i);
      const end = comma < 0 ? line.length : comma;
      out.push(line.slice(i, end).trim());
      i = end + 1;
    }
  }
  return out;
}

const FEODO_COLUMNS = ["first_seen_utc", "dst_ip", "dst_port", "c2_status", "last_online", "malware"];

/** Feodo Tracker CSV, line by line (see parseFeodoCsv). */
export function feodoLines(b: FeedBuilder): LineParser {
  let columns = FEODO_COLUMNS;
  let rows = 0;
  return {
    line(raw, lineNo) {
      if (raw.length > MAX_LINE_CHARS) return b.reject(raw, `line longer than ${MAX_LINE_CHARS} characters`, lineNo);
      const line = raw.trim();
      if (line === "") return b.skip();
      const uncommented = line.replace(/^#\s*/, "");
      if (/(^|,)"?dst_ip"?(,|$)/.test(uncommented)) {
        columns = (splitCsv(uncommented) ?? FEODO_COLUMNS).map((c) => c.trim().toLowerCase());
        return b.skip("header");
      }
      if (line.startsWith("#")) {
        const end = /^#\s*END\s+(\d+)\s+entries/i.exec(line);
        if (end && Number(end[1]) !== rows) b.truncated(`footer declares ${end[1]} entries, found ${rows}`);
        return b.skip();
      }
      const fields = splitCsv(line);
      if (!fields) return b.reject(line, "unterminated quoted field", lineNo);
      rows++;
      const row: Record<string, string> = {};
      columns.forEach((c, j) => {
        if (fields[j] !== undefined && fields[j] !== "") row[c] = fields[j]!;
      });
      const ip = row.dst_ip ?? row.ip_address ?? row.ip;
      if (ip === undefined) return b.reject(line, "no dst_ip column", lineNo);
      const meta: Record<string, string> = {};
      if (row.malware) meta.malware = row.malware;
      if (row.dst_port) meta.port = row.dst_port;
      if (row.c2_status) meta.status = row.c2_status;
      if (row.first_seen_utc) meta.first_seen = row.first_seen_utc;
      if (row.last_online) meta.last_online = row.last_online;
      b.add(canonicalNet(ip), ip, lineNo, meta);
    },
    end() {},
  };
}

/**
 * Feodo Tracker CSV: a "#" banner, a header row (quoted; in some versions itself commented out),
 * then rows. The address column is found by its header name; port, status, malware and dates
 * go into meta. "# END n entries" is checked against the rows read.
 */
export function parseFeodoCsv(text: string, source: string): ParsedFeed {
  const b = new FeedBuilder("feodo-csv", source);
  parseLines(text, feodoLines(b));
  return b.done();
}

/** Spamhaus DROP JSON lines, line by line (see parseSpamhausJson). */
export function spamhausJsonLines(b: FeedBuilder): LineParser {
  let records = 0;
  let declared: number | undefined;
  // A cut download usually ends in half a record: known only once the last line has gone by.
  let lastLineBroken: number | undefined;
  return {
    line(raw, lineNo) {
      const line = raw.trim();
      if (line === "") return b.skip();
      lastLineBroken = undefined;
      if (line.length > MAX_LINE_CHARS) return b.reject(line, `line longer than ${MAX_LINE_CHARS} characters`, lineNo);
      let rec: unknown;
      try {
        rec = JSON.parse(line);
      } catch {
        lastLineBroken = lineNo;
        return b.reject(line, "not valid JSON", lineNo);
      }
      if (typeof rec !== "object" || rec === null || Array.isArray(rec)) return b.reject(line, "not a JSON object", lineNo);
      const r = rec as Record<string, unknown>;
      if (r.type === "metadata") {
        if (typeof r.records === "number") declared = r.records;
        return b.skip("metadata");
      }
      records++;
      const meta: Record<string, string> = {};
      if (typeof r.sblid === "string") meta.sblid = r.sblid;
      if (typeof r.rir === "string") meta.rir = r.rir;
      if (typeof r.cidr === "string") return b.add(canonicalNet(r.cidr), r.cidr, lineNo, meta);
      if (r.asn !== undefined) return b.reject(`AS${String(r.asn)}`, "ASN entries need a routing table", lineNo);
      b.reject(line, "record has neither cidr nor asn", lineNo);
    },
    end() {
      if (lastLineBroken !== undefined) b.truncated(`last line ${lastLineBroken} is not complete JSON`);
      if (declared === undefined) b.truncated("no closing metadata record");
      else if (declared !== records) b.truncated(`metadata declares ${declared} records, found ${records}`);
    },
  };
}

/**
 * Spamhaus DROP JSON lines: {"cidr","sblid","rir"} records and a closing
 * {"type":"metadata","records":n}. ASN-DROP records ({"asn":…}) name networks by AS number;
 * matching them needs a routing table hv does not have, so they are rejected, counted.
 */
export function parseSpamhausJson(text: string, source: string): ParsedFeed {
  const b = new FeedBuilder("spamhaus-json", source);
  parseLines(text, spamhausJsonLines(b));
  return b.done();
}
