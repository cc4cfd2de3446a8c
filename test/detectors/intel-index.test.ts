// The IOC index against brute force: random IPv4/IPv6 prefixes (overlapping, nested, duplicated
// across feeds) and addresses at their edges, checked against a BigInt containment test over the
// 128-bit space where an IPv4 address is its IPv4-mapped IPv6 form. Plus the address parsers
// against node:net, and the domain, URL and hash rules.

import fc from "fast-check";
import { isIPv4, isIPv6 } from "node:net";
import { describe, expect, it } from "vitest";
import type { Indicator } from "../../src/events/indicator.js";
import { buildIntelIndex, type IntelEntry } from "../../src/detectors/intel/index.js";
import { parseV4, parseV6 } from "../../src/detectors/intel/ip.js";

const MAPPED = 0xffffn << 32n;
const ALL = (1n << 128n) - 1n;

interface Net {
  v6: boolean;
  /** Address bits (32 or 128 wide), host bits cleared. */
  base: bigint;
  len: number;
}

function maskOf(width: number, len: number): bigint {
  const all = (1n << BigInt(width)) - 1n;
  return (all << BigInt(width - len)) & all;
}

function formatV4(n: bigint): string {
  return [24n, 16n, 8n, 0n].map((s) => String((n >> s) & 255n)).join(".");
}

/** Eight groups, optionally with the longest zero run compressed, optionally upper case. */
function formatV6(n: bigint, style: number): string {
  const groups = [...Array(8).keys()].map((i) => Number((n >> BigInt(112 - 16 * i)) & 0xffffn).toString(16));
  let text = groups.join(":");
  if (style % 2 === 1) {
    let best = -1;
    let bestLen = 1;
    for (let i = 0; i < 8; ) {
      let j = i;
      while (j < 8 && groups[j] === "0") j++;
      if (j - i > bestLen) [best, bestLen] = [i, j - i];
      i = j === i ? i + 1 : j;
    }
    if (best >= 0) text = `${groups.slice(0, best).join(":")}::${groups.slice(best + bestLen).join(":")}`;
  }
  return style >= 2 ? text.toUpperCase() : text;
}

/** In the 128-bit space: IPv4 becomes ::ffff:a.b.c.d. */
function to128(v6: boolean, n: bigint): bigint {
  return v6 ? n : MAPPED | n;
}

function contains(net: Net, v6: boolean, addr: bigint): boolean {
  const base = to128(net.v6, net.base);
  const len = net.v6 ? net.len : net.len + 96;
  return (to128(v6, addr) & maskOf(128, len)) === base;
}

// Clustered generators so that prefixes overlap and nest often.
const v4Addr = fc.oneof(
  fc.bigInt({ min: 0n, max: 0xffffffffn }),
  fc.tuple(fc.constantFrom(0xc633n, 0xcb00n, 0x0a00n), fc.bigInt({ min: 0n, max: 0xffffn })).map(([hi, lo]) => (hi << 16n) | lo),
);
const v6Addr = fc.oneof(
  fc.bigInt({ min: 0n, max: ALL }),
  fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }).map((lo) => (0x20010db8n << 96n) | lo),
  fc.bigInt({ min: 0n, max: (1n << 32n) - 1n }).map((lo) => (0x20010db8n << 96n) | lo),
  fc.bigInt({ min: 0n, max: 0xffffffffn }).map((lo) => MAPPED | lo),
);
const v4Net = fc.tuple(v4Addr, fc.integer({ min: 1, max: 32 })).map(([a, len]): Net => ({ v6: false, base: a & maskOf(32, len), len }));
const v6Net = fc.tuple(v6Addr, fc.integer({ min: 1, max: 128 })).map(([a, len]): Net => ({ v6: true, base: a & maskOf(128, len), len }));

function netText(net: Net, style: number): string {
  const addr = net.v6 ? formatV6(net.base, style) : formatV4(net.base);
  const host = net.len === (net.v6 ? 128 : 32);
  return host && style < 2 ? addr : `${addr}/${net.len}`;
}

/** Addresses a broken boundary would get wrong: first, last, one before, one after each net. */
function edges(nets: Net[]): Array<{ v6: boolean; n: bigint }> {
  const out: Array<{ v6: boolean; n: bigint }> = [];
  for (const net of nets) {
    const width = net.v6 ? 128 : 32;
    const last = net.base | (((1n << BigInt(width)) - 1n) >> BigInt(net.len));
    const max = (1n << BigInt(width)) - 1n;
    for (const n of [net.base, last, net.base - 1n, last + 1n]) if (n >= 0n && n <= max) out.push({ v6: net.v6, n });
  }
  return out;
}

const key = (e: IntelEntry): string => `${e.feed}|${e.indicator.value}`;

describe("IP index against brute force", () => {
  it("returns exactly the containing entries, most specific first, for random nested and overlapping prefixes", () => {
    fc.assert(
      fc.property(
        fc.array(fc.oneof(v4Net, v6Net), { minLength: 1, maxLength: 60 }),
        fc.array(fc.integer({ min: 0, max: 2 }), { minLength: 60, maxLength: 60 }),
        fc.array(fc.oneof(v4Addr.map((n) => ({ v6: false, n })), v6Addr.map((n) => ({ v6: true, n }))), { maxLength: 30 }),
        fc.integer({ min: 0, max: 3 }),
        (nets, feedPick, randomQueries, style) => {
          const names = ["feodo", "drop", "firehol"];
          // Each net in one feed, every seventh also in firehol (the same prefix listed twice).
          const listed = nets.flatMap((net, i) => names.filter((_, f) => feedPick[i] === f || (f === 2 && i % 7 === 0)).map((feed) => ({ feed, value: netText(net, style), net })));
          const feeds = names.map((feed) => ({
            feed,
            indicators: listed.filter((l) => l.feed === feed).map((l): Indicator => ({ kind: l.net.len === (l.net.v6 ? 128 : 32) ? "ip" : "cidr", value: l.value })),
          }));
          const index = buildIntelIndex(feeds);
          expect(index.invalid.count).toBe(0);
          const queries = [...edges(nets), ...randomQueries];
          for (const q of queries) {
            const texts = q.v6 ? [formatV6(q.n, style)] : [formatV4(q.n), `::ffff:${formatV4(q.n)}`, formatV6(MAPPED | q.n, style)];
            const want = listed.filter((l) => contains(l.net, q.v6, q.n)).map((l) => `${l.feed}|${l.value}`).sort();
            for (const text of texts) {
              const got = index.matchIp(text);
              expect(got.map(key).sort(), `${text}`).toEqual(want);
              const lens = got.map((e) => {
                const net = listed.find((l) => l.feed === e.feed && l.value === e.indicator.value)!.net;
                return net.v6 ? net.len : net.len + 96;
              });
              expect(lens, `order for ${text}`).toEqual([...lens].sort((a, b) => b - a));
            }
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it("a /32 inside a /16 of another feed returns both; the last address of a range matches, the next does not", () => {
    const index = buildIntelIndex([
      { feed: "feodo", indicators: [{ kind: "ip", value: "198.51.100.7", meta: { malware: "Dridex" } }] },
      { feed: "drop", indicators: [{ kind: "cidr", value: "198.51.0.0/16" }, { kind: "cidr", value: "2001:db8:40::/48" }] },
    ]);
    expect(index.matchIp("198.51.100.7").map(key)).toEqual(["feodo|198.51.100.7", "drop|198.51.0.0/16"]);
    expect(index.matchIp("198.51.255.255").map(key)).toEqual(["drop|198.51.0.0/16"]);
    expect(index.matchIp("198.52.0.0")).toEqual([]);
    expect(index.matchIp("198.50.255.255")).toEqual([]);
    expect(index.matchIp("::ffff:198.51.100.7").map(key)).toEqual(["feodo|198.51.100.7", "drop|198.51.0.0/16"]);
    expect(index.matchIp("::ffff:c633:6407").map(key)).toEqual(["feodo|198.51.100.7", "drop|198.51.0.0/16"]);
    expect(index.matchIp("2001:db8:40:ffff:ffff:ffff:ffff:ffff").map(key)).toEqual(["drop|2001:db8:40::/48"]);
    expect(index.matchIp("2001:db8:41::")).toEqual([]);
    expect(index.matchIp("2001:DB8:40::1%eth0").map(key)).toEqual(["drop|2001:db8:40::/48"]);
    expect(index.size).toEqual({ ip: 1, cidr: 2, domain: 0, url: 0, hash: 0 });
  });

  it("an entry listed in IPv4-mapped form matches the plain IPv4 address", () => {
    const index = buildIntelIndex([{ feed: "x", indicators: [{ kind: "cidr", value: "::ffff:203.0.113.0/120" }] }]);
    expect(index.matchIp("203.0.113.9").map(key)).toEqual(["x|::ffff:203.0.113.0/120"]);
    expect(index.matchIp("203.0.114.0")).toEqual([]);
  });

  it("counts bad entries with the reason and indexes the rest", () => {
    const index = buildIntelIndex([
      {
        feed: "bad",
        indicators: [
          { kind: "ip", value: "198.51.100.300" },
          { kind: "cidr", value: "198.51.100.0/33" },
          { kind: "cidr", value: "2001:db8::/129" },
          { kind: "ip", value: "010.0.0.1" },
          { kind: "domain", value: "." },
          { kind: "hash", value: "xyz" },
          { kind: "url", value: "http://[::1" },
          { kind: "ip", value: "192.0.2.1" },
        ],
      },
    ]);
    expect(index.invalid.count).toBe(7);
    expect(index.invalid.examples[1]).toMatchObject({ feed: "bad", index: 1, value: "198.51.100.0/33", reason: expect.stringContaining("prefix length") });
    expect(index.matchIp("192.0.2.1").map(key)).toEqual(["bad|192.0.2.1"]);
  });

  it("clears host bits of a CIDR written with them set", () => {
    const index = buildIntelIndex([{ feed: "x", indicators: [{ kind: "cidr", value: "198.51.100.77/24" }] }]);
    expect(index.matchIp("198.51.100.1")).toHaveLength(1);
    expect(index.matchIp("198.51.101.1")).toHaveLength(0);
  });
});

describe("address parsers agree with node:net", () => {
  it("accept and reject the same strings", () => {
    const chars = fc.constantFrom(..."0123456789abcdefABCDEF:.".split(""));
    fc.assert(
      fc.property(fc.oneof(fc.string({ unit: chars, maxLength: 45 }), fc.ipV4(), fc.ipV6(), fc.ipV4Extended()), (s) => {
        expect(parseV4(s) >= 0, s).toBe(isIPv4(s));
        expect(parseV6(s, new Uint32Array(4)), s).toBe(isIPv6(s));
      }),
      { numRuns: 5000 },
    );
  });

  it("parse IPv6 to the same bits in every spelling", () => {
    fc.assert(
      fc.property(v6Addr, fc.integer({ min: 0, max: 3 }), (n, style) => {
        const words = new Uint32Array(4);
        expect(parseV6(formatV6(n, style), words)).toBe(true);
        const back = [...words].reduce((acc, w) => (acc << 32n) | BigInt(w), 0n);
        expect(back).toBe(n);
      }),
      { numRuns: 2000 },
    );
  });
});

describe("domain index", () => {
  const index = buildIntelIndex([
    { feed: "urlhaus", indicators: [{ kind: "domain", value: "evil.com" }, { kind: "domain", value: "Bücher.example." }, { kind: "domain", value: "*.wild.test" }] },
    { feed: "misp", indicators: [{ kind: "domain", value: "sub.evil.com" }] },
  ]);

  it("matches the name and its subdomains on label boundaries only", () => {
    expect(index.matchDomain("evil.com").map(key)).toEqual(["urlhaus|evil.com"]);
    expect(index.matchDomain("a.b.evil.com").map(key)).toEqual(["urlhaus|evil.com"]);
    expect(index.matchDomain("x.sub.evil.com").map(key)).toEqual(["misp|sub.evil.com", "urlhaus|evil.com"]);
    expect(index.matchDomain("notevil.com")).toEqual([]);
    expect(index.matchDomain("evil.com.au")).toEqual([]);
    expect(index.matchDomain("com")).toEqual([]);
    expect(index.matchDomain("host.wild.test").map(key)).toEqual(["urlhaus|*.wild.test"]);
  });

  it("ignores case and a trailing dot, and compares IDNs in punycode", () => {
    expect(index.matchDomain("WWW.Evil.COM.").map(key)).toEqual(["urlhaus|evil.com"]);
    expect(index.matchDomain("xn--bcher-kva.example").map(key)).toEqual(["urlhaus|Bücher.example."]);
    expect(index.matchDomain("shop.BÜCHER.example").map(key)).toEqual(["urlhaus|Bücher.example."]);
    expect(index.matchDomain("bucher.example")).toEqual([]);
  });

  it("agrees with a brute-force suffix rule on random names", () => {
    const label = fc.constantFrom("a", "b", "ab", "ba", "evil", "notevil", "com");
    const name = fc.array(label, { minLength: 1, maxLength: 4 }).map((l) => l.join("."));
    fc.assert(
      fc.property(fc.array(name, { minLength: 1, maxLength: 20 }), fc.array(name, { maxLength: 20 }), (listed, queries) => {
        const idx = buildIntelIndex([{ feed: "f", indicators: listed.map((value): Indicator => ({ kind: "domain", value })) }]);
        for (const q of [...listed, ...queries]) {
          const want = listed.filter((d) => q === d || q.endsWith(`.${d}`)).sort();
          expect(idx.matchDomain(q.toUpperCase()).map((e) => e.indicator.value).sort(), q).toEqual(want);
        }
      }),
      { numRuns: 300 },
    );
  });
});

describe("URL and hash index", () => {
  const index = buildIntelIndex([
    {
      feed: "urlhaus",
      indicators: [
        { kind: "url", value: "http://evil.example/Payload.sh?x=1" },
        { kind: "hash", value: "44D88612FEA8A8F36DE82E1278ABB02F" },
      ],
    },
  ]);

  it("matches URLs after normalization: scheme and host case, default port, fragment", () => {
    expect(index.matchUrl("HTTP://EVIL.example:80/Payload.sh?x=1#frag")).toHaveLength(1);
    expect(index.matchUrl("http://evil.example/payload.sh?x=1")).toEqual([]);
    expect(index.matchUrl("http://evil.example:8080/Payload.sh?x=1")).toEqual([]);
    expect(index.matchUrl("not a url at all [")).toEqual([]);
  });

  it("matches hashes case-insensitively", () => {
    expect(index.matchHash("44d88612fea8a8f36de82e1278abb02f")).toHaveLength(1);
    expect(index.matchHash("44d88612fea8a8f36de82e1278abb02e")).toEqual([]);
    expect(index.size).toEqual({ ip: 0, cidr: 0, domain: 0, url: 1, hash: 1 });
  });
});
