import { readFileSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { formatIPv6, parseIPv6 } from "../../src/events/address.js";
import { canonicalDomain, canonicalNet } from "../../src/feeds/canonical.js";
import { detectFeedFormat, parseFeed, type ParsedFeed } from "../../src/feeds/formats/index.js";
import { orComparisons } from "../../src/feeds/formats/stix.js";
import { readFeedFile } from "../../src/feeds/read.js";

const FIX = new URL("../fixtures/feeds/", import.meta.url).pathname;
const text = (name: string): string => readFileSync(join(FIX, name), "utf8");
const values = (p: ParsedFeed): string[] => p.indicators.map((i) => i.value);
const byValue = (p: ParsedFeed, v: string) => p.indicators.find((i) => i.value === v);

describe("canonical forms", () => {
  it("compresses IPv6 per RFC 5952 and clears host bits of CIDRs, saying so", () => {
    expect(canonicalNet("2001:DB8:0:0:0:0:0:1")).toEqual({ ok: true, indicator: { value: "2001:db8::1", kind: "ip" } });
    expect(canonicalNet("2001:db8:0:0:1:0:0:1").ok && (canonicalNet("2001:db8:0:0:1:0:0:1") as { indicator: { value: string } }).indicator.value).toBe("2001:db8::1:0:0:1");
    expect(canonicalNet("::ffff:192.0.2.1")).toMatchObject({ indicator: { value: "::ffff:c000:201" } });
    expect(canonicalNet("198.51.100.77/24")).toEqual({ ok: true, indicator: { value: "198.51.100.0/24", kind: "cidr", meta: { fixed_from: "198.51.100.77/24" } } });
    expect(canonicalNet("192.0.2.1/32")).toEqual({ ok: true, indicator: { value: "192.0.2.1", kind: "ip" } });
    expect(canonicalNet("192.0.2.0/33")).toEqual({ ok: false, reason: "bad prefix length /33" });
    expect(canonicalNet("01.2.3.4").ok).toBe(false);
  });

  it("round-trips any IPv6 address through parse and format", () => {
    fc.assert(
      fc.property(fc.ipV6(), (addr) => {
        const n = parseIPv6(addr);
        expect(n).toBeDefined();
        expect(parseIPv6(formatIPv6(n!))).toBe(n);
        // the WHATWG URL parser is an independent RFC 5952-style serializer
        expect(formatIPv6(n!)).toBe(new URL(`http://[${addr}]/`).hostname.slice(1, -1));
      }),
      { numRuns: 300 },
    );
  });

  it("lower-cases domains, drops the trailing dot, converts IDN to punycode, refuses single labels", () => {
    expect(canonicalDomain("Evil.Example.COM.")).toMatchObject({ indicator: { value: "evil.example.com" } });
    expect(canonicalDomain("bücher.example")).toMatchObject({ indicator: { value: "xn--bcher-kva.example" } });
    expect(canonicalDomain("com")).toEqual({ ok: false, reason: "single-label name (a whole TLD or host name)" });
    expect(canonicalDomain("domain autuo.xicp.net").ok).toBe(false);
  });
});

describe("plain lists", () => {
  const p = parseFeed(text("plain.txt"), { source: "plain.txt" });

  it("handles the BOM, CRLF, # and ; comments, trailing comments and blank lines", () => {
    expect(p.format).toBe("plain");
    expect(values(p)).toEqual(["192.0.2.1", "198.51.100.0/24", "203.0.113.7", "2001:db8::1", "2001:db8::/48"]);
    expect(p.skipped).toBe(3);
    expect(p.duplicates).toBe(2); // 192.0.2.1 twice, and 198.51.100.77/24 fixed into 198.51.100.0/24
  });

  it("rejects bad lines with their line number and reason, and goes on", () => {
    expect(p.rejected).toEqual([
      { line: 11, value: "not-an-ip", reason: "not an IP address or CIDR" },
      { line: 12, value: "203.0.113.300", reason: "not an IP address or CIDR" },
      { line: 13, value: "192.0.2.0/33", reason: "bad prefix length /33" },
    ]);
    expect(p.rejectedCount).toBe(3);
  });

  it("rejects a line of only separators with a reason instead of failing", () => {
    for (const format of ["plain", "netset", "auto"] as const) {
      const r = parseFeed("192.0.2.1\n,\n , ,\n198.51.100.1\n", { source: "t", format });
      expect(values(r), format).toEqual(["192.0.2.1", "198.51.100.1"]);
      expect(r.rejected.map((x) => [x.line, x.reason])).toEqual([
        [2, "no address on the line"],
        [3, "no address on the line"],
      ]);
    }
  });

  it("reads a freetext line of several addresses as several entries", () => {
    expect(values(parseFeed("8.8.8.8 8.8.4.4\n", { source: "t", format: "plain" }))).toEqual(["8.8.8.8", "8.8.4.4"]);
  });

  it("survives hostile input: a huge line, binary junk, and counts it", () => {
    const huge = "1".repeat(100_000);
    const r = parseFeed(`192.0.2.1\n${huge}\n\u0001\u0002garbage\n`, { source: "t", format: "plain" });
    expect(values(r)).toEqual(["192.0.2.1"]);
    expect(r.rejectedCount).toBe(2);
    expect(r.rejected[0]!.reason).toMatch(/longer than 4096/);
    expect(r.rejected[0]!.value.length).toBeLessThan(300);
  });

  it("checks an abuse.ch '# END n entries' footer", () => {
    expect(parseFeed("192.0.2.1\n192.0.2.2\n# END 2 entries\n", { source: "t" }).truncated).toBeUndefined();
    expect(parseFeed("192.0.2.1\n# END 2 entries\n", { source: "t" }).truncated).toMatch(/declares 2 entries, found 1/);
  });
});

describe("Spamhaus", () => {
  it("reads DROP text with SBL ids as meta", () => {
    const p = parseFeed(text("drop.txt"), { source: "drop.txt" });
    expect(p.format).toBe("spamhaus-drop");
    expect(p.indicators).toEqual([
      { value: "192.0.2.0/24", kind: "cidr", meta: { sblid: "SBL000001" } },
      { value: "198.51.100.0/25", kind: "cidr", meta: { sblid: "SBL000002" } },
      { value: "2001:db8:100::/48", kind: "cidr", meta: { sblid: "SBL000003" } },
    ]);
    expect(p.skipped).toBe(3);
  });

  it("reads JSON lines, skips the metadata record and checks its count", () => {
    const p = parseFeed(text("drop.json"), { source: "drop.json" });
    expect(p.format).toBe("spamhaus-json");
    expect(values(p)).toEqual(["192.0.2.0/24", "198.51.100.0/25", "2001:db8:200::/48"]);
    expect(byValue(p, "192.0.2.0/24")!.meta).toEqual({ sblid: "SBL000001", rir: "test" });
    expect(p.skippedByReason).toEqual({ metadata: 1 });
    expect(p.truncated).toBeUndefined();
  });

  it("finds a cut JSON-lines download truncated", () => {
    const p = parseFeed(text("drop-cut.json"), { source: "cut" });
    expect(p.truncated).toMatch(/last line 3 is not complete JSON/);
  });

  it("counts ASN-DROP records as rejected, with the reason", () => {
    const p = parseFeed(text("asn-drop.json"), { source: "asn" });
    expect(p.indicators).toEqual([]);
    expect(p.rejectedCount).toBe(2);
    expect(p.rejected[0]).toEqual({ line: 1, value: "AS64496", reason: "ASN entries need a routing table" });
  });
});

describe("Feodo CSV", () => {
  it("takes the address column by header and keeps malware, port and status", () => {
    const p = parseFeed(text("feodo.csv"), { source: "feodo.csv" });
    expect(p.format).toBe("feodo-csv");
    expect(values(p)).toEqual(["192.0.2.10", "198.51.100.20", "203.0.113.30"]);
    expect(byValue(p, "198.51.100.20")!.meta).toMatchObject({ malware: 'Qakbot, variant "B"', port: "8080", status: "offline" });
    expect(p.rejected).toEqual([{ line: 9, value: "not.an.ip", reason: "not an IP address or CIDR" }]);
    expect(p.truncated).toBeUndefined();
  });
});

describe("FireHOL netsets", () => {
  it("is detected from its header and parsed as addresses (safety is a later step)", () => {
    const p = parseFeed(text("firehol.netset"), { source: "f" });
    expect(p.format).toBe("netset");
    expect(values(p)).toEqual(["0.0.0.0/8", "127.0.0.0/8", "192.0.2.0/24", "198.51.100.128/25", "224.0.0.0/3", "203.0.113.5"]);
  });
});

describe("domain lists", () => {
  it("reads plain names, hosts-file lines and adblock lines, canonical", () => {
    const p = parseFeed(text("domains.txt"), { source: "d" });
    expect(p.format).toBe("domains");
    expect(values(p)).toEqual(["evil.example.com", "c2.example.net", "ads.example.org", "tracker.example.org", "other.example.org", "blocked.example.com", "xn--bcher-kva.example"]);
    expect(p.rejected.map((r) => [r.value, r.reason])).toEqual([
      ["localhost", "single-label name (a whole TLD or host name)"],
      ["com", "single-label name (a whole TLD or host name)"],
      ["bad_domain..example", "not a valid domain name"],
    ]);
  });
});

describe("MISP", () => {
  it("reads a feed directory: manifest, events, attributes and object attributes, to_ids only", () => {
    const p = readFeedFile(join(FIX, "misp-feed"));
    expect(p.format).toBe("misp");
    expect(values(p).sort()).toEqual(
      [
        "198.51.100.50",
        "203.0.113.51",
        "bad.example.org",
        "0749bae92ca336a02c83d126e04ec628",
        "http://bad.example.org/payload.bin",
        "b3c4ae251f8094fa15b510051835c657eaef2a6cea46075d3aec964b14a99f68",
        "c2.example.org",
      ].sort(),
    );
    expect(byValue(p, "203.0.113.51")!.meta).toMatchObject({ port: "4444", misp_type: "ip-dst|port", tlp: "white", misp_event: "5f0c2a10-0000-4000-8000-000000000001" });
    expect(byValue(p, "b3c4ae251f8094fa15b510051835c657eaef2a6cea46075d3aec964b14a99f68")!.meta).toMatchObject({ filename: "drop.exe", misp_object: "file" });
    expect(p.skippedByReason).toEqual({ "not to_ids": 2, "deleted attribute": 1, "MISP type regkey not matchable": 1 });
    expect(values(p)).not.toContain("192.0.2.200");
  });

  it("reads the same directory given its manifest.json path", () => {
    expect(values(readFeedFile(join(FIX, "misp-feed", "manifest.json"))).length).toBe(7);
  });

  it("finds an event that does not parse", () => {
    const p = parseFeed('{"Event": {"Attribute": [', { source: "x", format: "misp" });
    expect(p.truncated).toMatch(/JSON does not parse/);
  });
});

describe("STIX 2.1", () => {
  const p = parseFeed(text("bundle.json"), { source: "bundle", now: Date.parse("2026-11-26T00:00:00Z") });

  it("takes the comparisons of OR patterns on addresses, domains, URLs and hashes", () => {
    expect(p.format).toBe("stix");
    expect(values(p)).toEqual([
      "198.51.100.1",
      "c2.example.net",
      "2001:db8::5",
      "http://evil.example.com/a?b=1",
      "ef537f25c895bfa782526529a9b63d97aa631564d5d789c2b765448c8635fb6c",
      "203.0.113.0/28",
    ]);
    expect(byValue(p, "198.51.100.1")!.meta).toMatchObject({ stix_id: "indicator--0001", name: "C2 address", types: "malicious-activity" });
  });

  it("skips revoked, expired, AND and FOLLOWEDBY patterns and other pattern types, counted by reason", () => {
    expect(p.skippedByReason).toMatchObject({
      revoked: 1,
      "expired (valid_until passed)": 1,
      "complex pattern (AND)": 1,
      "complex pattern (FOLLOWEDBY)": 1,
      "pattern_type sigma": 1,
      "STIX identity object": 1,
      "STIX relationship object": 1,
    });
    expect(values(p)).not.toContain("203.0.113.99");
    expect(values(p)).not.toContain("203.0.113.98");
  });

  it("parses pattern syntax: quoted path parts, escapes, several brackets", () => {
    expect(orComparisons("[file:hashes.'SHA-256' = 'ab\\'c']")).toEqual([{ path: "file:hashes.'SHA-256'", value: "ab'c" }]);
    expect(orComparisons("[a:value = 'x'] OR [b:value = 'y']")).toEqual([
      { path: "a:value", value: "x" },
      { path: "b:value", value: "y" },
    ]);
    expect(orComparisons("[email-message:body_multipart[*].body_raw_ref.name MATCHES '^x']")).toEqual({ skip: "complex pattern (MATCHES)" });
    expect(orComparisons("[a:value = 'x'] WITHIN 5 SECONDS")).toEqual({ skip: "complex pattern (WITHIN qualifier)" });
    expect(orComparisons("[a:value = 'x' OR]")).toEqual({ skip: "pattern does not parse" });
  });
});

describe("format detection", () => {
  it("recognizes every fixture and refuses HTML and empty bodies", () => {
    expect(detectFeedFormat(text("plain.txt"))).toBe("plain");
    expect(detectFeedFormat(text("drop.txt"))).toBe("spamhaus-drop");
    expect(detectFeedFormat(text("drop.json"))).toBe("spamhaus-json");
    expect(detectFeedFormat(text("asn-drop.json"))).toBe("spamhaus-json");
    expect(detectFeedFormat(text("feodo.csv"))).toBe("feodo-csv");
    expect(detectFeedFormat(text("firehol.netset"))).toBe("netset");
    expect(detectFeedFormat(text("domains.txt"))).toBe("domains");
    expect(detectFeedFormat(text("bundle.json"))).toBe("stix");
    expect(detectFeedFormat(text("misp-feed/manifest.json"))).toBe("misp");
    expect(detectFeedFormat(text("page.html"))).toBeUndefined();
    expect(detectFeedFormat("  \n")).toBeUndefined();
    expect(() => parseFeed(text("page.html"), { source: "page" })).toThrow(/HTML page/);
  });

  it("never throws on random text, and every indicator it returns is canonical", () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 400 }), (s) => {
        const format = detectFeedFormat(s);
        if (!format) return;
        const p = parseFeed(s, { source: "fuzz", format });
        for (const i of p.indicators) {
          if (i.kind === "ip" || i.kind === "cidr") expect((canonicalNet(i.value) as { indicator: { value: string } }).indicator.value).toBe(i.value);
        }
      }),
      { numRuns: 500 },
    );
  });
});
