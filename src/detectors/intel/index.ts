// The IOC index: every feed's indicators in structures that answer "is this address, domain, URL
// or hash listed, and by which entries?" in well under a microsecond. Addresses and CIDRs go to
// prefix sets (prefix-set.ts), domains to a table that also finds parent domains (domain-table.ts),
// URLs and hashes to exact-key tables (names.ts).
// Built once per feed sync; the detector asks it per event. See docs/intel.md.

import type { Severity } from "../../events/alert.js";
import type { Indicator, StoredIndicator } from "../../events/indicator.js";
import { parsePrefix, parseV4, parseV6 } from "./ip.js";
import { buildDomainTable, type DomainTable } from "./domain-table.js";
import { KeyedIds, normalizeDomain, normalizeHash, normalizeUrl } from "./names.js";
import { buildPrefixSet, type PrefixSet } from "./prefix-set.js";

export interface IntelEntry {
  feed: string;
  indicator: Indicator | StoredIndicator;
  severity?: Severity;
}

export interface IntelFeedInput {
  feed: string;
  indicators: Iterable<Indicator | StoredIndicator>;
  severity?: Severity;
}

export interface InvalidIndicator {
  feed: string;
  /** Position of the indicator in its feed's input (0-based). */
  index: number;
  kind: string;
  value: string;
  reason: string;
}

export interface IntelIndex {
  /** Every entry whose address or CIDR contains `ip` (IPv4, IPv6, IPv4-mapped IPv6), most specific first. */
  matchIp(ip: string): IntelEntry[];
  /** The entries listing `name` itself or a parent domain (on label boundaries), most specific first. */
  matchDomain(name: string): IntelEntry[];
  /** The entries listing the same URL after normalization (normalizeUrl). */
  matchUrl(url: string): IntelEntry[];
  matchHash(hash: string): IntelEntry[];
  /** Entries indexed, by kind (ip: single addresses, cidr: networks shorter than /32 or /128). */
  readonly size: { ip: number; cidr: number; domain: number; url: number; hash: number };
  /** Entries that could not be indexed (counted; the first few kept with the reason). */
  readonly invalid: { count: number; examples: InvalidIndicator[] };
  /** Bytes held by the address structures' typed arrays (the indicators themselves not counted). */
  readonly addressBytes: number;
}

const MAX_INVALID_EXAMPLES = 20;

export function buildIntelIndex(feeds: IntelFeedInput[]): IntelIndex {
  const indicators: Array<Indicator | StoredIndicator> = [];
  const feedOf: number[] = [];
  const v4: number[] = [];
  const v4len: number[] = [];
  const v4id: number[] = [];
  const v6: number[] = [];
  const v6len: number[] = [];
  const v6id: number[] = [];
  const domainNames: string[] = [];
  const domainIds: number[] = [];
  const urls = new KeyedIds();
  const hashes = new KeyedIds();
  const size = { ip: 0, cidr: 0, domain: 0, url: 0, hash: 0 };
  const invalid = { count: 0, examples: [] as InvalidIndicator[] };
  // Networks covering all of IPv4 (0.0.0.0/0, ::/80, ...) all become 0.0.0.0/0 there; they are
  // added last, longest first, so a lookup still lists them most specific first.
  const whole: Array<{ id: number; len128: number }> = [];

  feeds.forEach((input, f) => {
    let index = 0;
    for (const ind of input.indicators) {
      const reason = add(ind, indicators.length);
      if (reason === undefined) {
        indicators.push(ind);
        feedOf.push(f);
      } else {
        invalid.count++;
        if (invalid.examples.length < MAX_INVALID_EXAMPLES) invalid.examples.push({ feed: input.feed, index, kind: String(ind.kind), value: String(ind.value), reason });
      }
      index++;
    }
  });

  /** Indexes one indicator under payload id `id`; a reason when it cannot be. */
  function add(ind: Indicator | StoredIndicator, id: number): string | undefined {
    if (typeof ind.value !== "string") return "value is not a string";
    switch (ind.kind) {
      case "ip":
      case "cidr": {
        const p = parsePrefix(ind.value);
        if (typeof p === "string") return p;
        const [w0, w1, w2, w3] = p.words;
        if (!p.v6) pushV4(w0, p.len, id, p.len + 96);
        else if (w0 === 0 && w1 === 0 && w2 === 0xffff && p.len >= 96) pushV4(w3, p.len - 96, id, p.len);
        else {
          v6.push(w0, w1, w2, w3);
          v6len.push(p.len);
          v6id.push(id);
          // A network containing all of ::ffff:0:0/96 contains every IPv4 address too.
          if (p.len <= 96 && containsMappedRange(p.words, p.len)) pushV4(0, 0, id, p.len);
        }
        if (p.len === (p.v6 ? 128 : 32)) size.ip++;
        else size.cidr++;
        return undefined;
      }
      case "domain": {
        const name = normalizeDomain(ind.value.trim().replace(/^\*\./, ""));
        if (name === undefined) return `not a domain name: "${ind.value}"`;
        domainNames.push(name);
        domainIds.push(id);
        size.domain++;
        return undefined;
      }
      case "url": {
        const url = normalizeUrl(ind.value);
        if (url === undefined) return `not a URL: "${ind.value}"`;
        urls.add(url, id);
        size.url++;
        return undefined;
      }
      case "hash": {
        const hash = normalizeHash(ind.value);
        if (hash === undefined) return `not a hex hash of 32 to 128 digits: "${ind.value}"`;
        hashes.add(hash, id);
        size.hash++;
        return undefined;
      }
      default:
        return `unknown indicator kind "${String(ind.kind)}"`;
    }
  }

  function pushV4(addr: number, len: number, id: number, len128: number): void {
    if (len === 0) whole.push({ id, len128 });
    else {
      v4.push(addr);
      v4len.push(len);
      v4id.push(id);
    }
  }

  whole.sort((a, b) => b.len128 - a.len128);
  for (const w of whole) {
    v4.push(0);
    v4len.push(0);
    v4id.push(w.id);
  }
  const set4 = buildPrefixSet(32, Uint32Array.from(v4), Uint8Array.from(v4len), Uint32Array.from(v4id), v4id.length);
  const set6 = buildPrefixSet(128, Uint32Array.from(v6), Uint8Array.from(v6len), Uint32Array.from(v6id), v6id.length);
  const domains = buildDomainTable(domainNames, domainIds);
  return createIndex(feeds, indicators, Uint16Array.from(feedOf), set4, set6, domains, urls, hashes, size, invalid);
}

function containsMappedRange(words: number[], len: number): boolean {
  const mapped = [0, 0, 0xffff, 0];
  for (let w = 0; w < 3; w++) {
    const bits = Math.min(32, Math.max(0, len - 32 * w));
    if (bits === 0) break;
    const mask = bits === 32 ? 0xffffffff : (0xffffffff << (32 - bits)) >>> 0;
    if (((words[w]! ^ mapped[w]!) & mask) !== 0) return false;
  }
  return true;
}

// One lookup at a time (JavaScript is single-threaded), so parsed addresses use shared scratch space.
const WORDS = new Uint32Array(4);
const V4 = new Uint32Array(1);

function createIndex(
  feeds: IntelFeedInput[],
  indicators: Array<Indicator | StoredIndicator>,
  feedOf: Uint16Array,
  set4: PrefixSet,
  set6: PrefixSet,
  domains: DomainTable,
  urls: KeyedIds,
  hashes: KeyedIds,
  size: IntelIndex["size"],
  invalid: IntelIndex["invalid"],
): IntelIndex {
  // Entry objects are made per hit, not kept: most entries never match, and short-lived objects
  // cost the young generation almost nothing while a cache of them would grow the old one.
  const entryOf = (id: number): IntelEntry => {
    const feed = feeds[feedOf[id]!]!;
    const entry: IntelEntry = { feed: feed.feed, indicator: indicators[id]! };
    if (feed.severity) entry.severity = feed.severity;
    return entry;
  };
  const entries = (ids: number[]): IntelEntry[] => ids.map(entryOf);

  return {
    size,
    invalid,
    addressBytes: set4.bytes + set6.bytes,
    matchIp(ip) {
      const ids: number[] = [];
      const n = parseV4(ip);
      if (n >= 0) {
        V4[0] = n;
        set4.lookup(V4, ids);
      } else if (ip.includes(":") && parseV6(ip, WORDS)) {
        if (WORDS[0] === 0 && WORDS[1] === 0 && WORDS[2] === 0xffff) {
          V4[0] = WORDS[3]!;
          set4.lookup(V4, ids);
        } else set6.lookup(WORDS, ids);
      }
      return ids.length === 0 ? [] : entries(ids);
    },
    matchDomain(name) {
      const s = normalizeDomain(name);
      if (s === undefined) return [];
      const ids: number[] = [];
      domains.lookup(s, ids);
      return ids.length === 0 ? [] : entries(ids);
    },
    matchUrl(url) {
      const s = normalizeUrl(url);
      if (s === undefined) return [];
      const ids: number[] = [];
      urls.get(s, ids);
      return ids.length === 0 ? [] : entries(ids);
    },
    matchHash(hash) {
      const ids: number[] = [];
      hashes.get(hash.trim().toLowerCase(), ids);
      return ids.length === 0 ? [] : entries(ids);
    },
  };
}
