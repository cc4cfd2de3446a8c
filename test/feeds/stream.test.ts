// A feed parsed as it streams gives exactly what the whole text gives (whatever the chunk
// boundaries: one byte, inside a UTF-8 character, inside a CRLF), and hands every entry to the sink
// without keeping one. A sync streams a feed into the store and refuses endless inputs at the cap.

import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type Database from "better-sqlite3";
import fc from "fast-check";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { Indicator } from "../../src/events/indicator.js";
import { parseFeed } from "../../src/feeds/formats/index.js";
import type { FeedFormat } from "../../src/events/feed.js";
import { validateFeedSpec } from "../../src/feeds/spec.js";
import { readFeedStream } from "../../src/feeds/stream.js";
import { syncFeed } from "../../src/feeds/sync.js";
import { addFeed, feedIndicators, getFeed } from "../../src/store/feeds.js";
import { openStore } from "../../src/store/open.js";

async function* chunksOf(bytes: Buffer, size: number): AsyncGenerator<Buffer> {
  for (let i = 0; i < bytes.length; i += size) yield bytes.subarray(i, i + size);
}

const LINE_FORMATS: FeedFormat[] = ["plain", "netset", "spamhaus-drop", "spamhaus-json", "feodo-csv", "domains"];

const entry = fc.oneof(
  fc.constantFrom("192.0.2.1", "198.51.100.0/24", "203.0.113.7 # c2", "2001:db8::1", "2001:db8::/32", "example.com", "0.0.0.0 bad.example.org", "||ads.example.net^", "not-an-ip", ",", "", "# comment", "; SBL", "203.0.113.300", "1.2.3.0/33", "192.0.2.1 ; SBL123", "ünïcödé.example", "x".repeat(5000)),
  fc.constantFrom('{"cidr":"192.0.2.0/24","sblid":"SBL1"}', '{"type":"metadata","records":1}', '{"asn":64496}', "{broken", '"2026-01-01","203.0.113.9","443","online","2026-01-02","Pikabot"', '"first_seen_utc","dst_ip","dst_port"', "# END 3 entries"),
  fc.string({ unit: "grapheme", maxLength: 40 }),
);

describe("streamed parsing", () => {
  it("gives what parsing the whole text gives, for every line format and any chunking", async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...LINE_FORMATS), fc.array(entry, { maxLength: 30 }), fc.constantFrom("\n", "\r\n", "\r"), fc.integer({ min: 1, max: 64 }), async (format, lines, eol, size) => {
        const text = lines.join(eol) + eol;
        if (text.trim() === "") return;
        const whole = parseFeed(text, { source: "t", format });
        const got: Indicator[] = [];
        const seen = new Set<string>();
        const r = await readFeedStream(chunksOf(Buffer.from(text, "utf8"), size), {
          format,
          source: "t",
          sink: (ind) => {
            if (seen.has(ind.value)) return "duplicate";
            seen.add(ind.value);
            got.push(ind);
            return "added";
          },
        });
        if (r.kind !== "parsed") throw new Error(`expected parsed, got ${r.kind}`);
        expect(r.parsed.indicators).toEqual([]); // nothing kept: all went to the sink
        expect(got).toEqual(whole.indicators);
        expect(r.parsed.entries).toBe(whole.entries);
        expect(r.parsed.rejected).toEqual(whole.rejected);
        expect(r.parsed.duplicates).toBe(whole.duplicates);
        expect(r.parsed.skipped).toBe(whole.skipped);
        expect(r.parsed.truncated).toBe(whole.truncated);
      }),
      { numRuns: 150 },
    );
  });

  it("says what a stream is before parsing it: HTML, empty, unknown; JSON documents come back whole", async () => {
    const kind = async (text: string, format: FeedFormat | "auto" = "auto"): Promise<string> => (await readFeedStream(chunksOf(Buffer.from(text), 7), { format, source: "t" })).kind;
    expect(await kind("<!DOCTYPE html><html><body>login</body></html>")).toBe("html");
    expect(await kind("   \n\n  \n")).toBe("empty");
    expect(await kind("\u0000\u0001\u0002 binary")).toBe("unknown-format");
    expect(await kind('{"type":"bundle","id":"bundle--1","objects":[]}')).toBe("document");
    expect(await kind('{"cidr":"192.0.2.0/24","sblid":"SBL1"}\n{"type":"metadata","records":1}\n')).toBe("parsed");
    expect(await kind("192.0.2.1\n198.51.100.2\n")).toBe("parsed");
  });
});

describe("syncing a large or endless local feed", () => {
  let dir: string;
  let db: Database.Database;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "hv-feed-stream-"));
    db = openStore(join(dir, "hv.db"));
  });
  afterEach(() => {
    db.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("streams 200k entries into the store, then a copy with 10% changed", async () => {
    const address = (i: number, salt = 0): string => {
      const n = (11 << 24) + i + salt * (1 << 22);
      return `${(n >>> 24) & 255}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
    };
    const file = join(dir, "big.txt");
    writeFileSync(file, Array.from({ length: 200_000 }, (_, i) => address(i)).join("\n") + "\n");
    addFeed(db, validateFeedSpec({ name: "big", url: file, format: "plain", enabled: true, action: "block" }));
    expect(await syncFeed(db, "big", { interfaces: false })).toMatchObject({ status: "updated", entries: 200_000, added: 200_000, removed: 0 });
    writeFileSync(file, Array.from({ length: 200_000 }, (_, i) => (i % 10 === 0 ? address(i, 1) : address(i))).join("\n") + "\n");
    expect(await syncFeed(db, "big", { interfaces: false, force: true })).toMatchObject({ status: "updated", entries: 200_000, added: 20_000, removed: 20_000, version: 2 });
    // Every tenth entry (11.0.0.0, .10, .20, …, .100) was replaced.
    expect(feedIndicators(db, "big", 3).map((e) => e.value)).toEqual(["11.0.0.1", "11.0.0.101", "11.0.0.102"]);
    // The staging table is gone.
    expect(db.prepare("SELECT count(*) AS n FROM temp.sqlite_master WHERE name LIKE 'feed_stage_%'").get()).toEqual({ n: 0 });
  });

  it("/dev/zero as a plain feed: refused at the cap, quickly, the last good set kept", async () => {
    const good = join(dir, "good.txt");
    writeFileSync(good, "192.0.2.1\n198.51.100.7\n");
    addFeed(db, validateFeedSpec({ name: "z", url: good, format: "plain", enabled: true, action: "alert", maxBytes: 4 * 1024 * 1024 }));
    expect((await syncFeed(db, "z", { interfaces: false })).status).toBe("updated");
    db.prepare("UPDATE feeds SET spec = json_set(spec, '$.url', '/dev/zero') WHERE name = 'z'").run();
    const r = await syncFeed(db, "z", { interfaces: false });
    expect(r).toMatchObject({ status: "rejected", reason: "/dev/zero is larger than the cap of 4194304 bytes; reading stopped there", entries: 2 });
    expect(feedIndicators(db, "z").map((e) => e.value)).toEqual(["192.0.2.1", "198.51.100.7"]);
    expect(getFeed(db, "z")?.lastError).toMatch(/cap of 4194304 bytes/);
  });
});
