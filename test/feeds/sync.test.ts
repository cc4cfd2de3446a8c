// Feed sync against a real loopback HTTP(S) server into a real SQLite store. Every rejected or
// failed sync is checked against the stored entries themselves, not only its status.

import { readFileSync } from "node:fs";
import { networkInterfaces } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import type Database from "better-sqlite3";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { validateFeedSpec } from "../../src/feeds/spec.js";
import type { FeedSpec } from "../../src/events/feed.js";
import { syncFeed, type SyncOptions } from "../../src/feeds/sync.js";
import { addFeed, feedIndicators, feedSyncHistory, getFeed } from "../../src/store/feeds.js";
import { openStore } from "../../src/store/open.js";
import { selfSignedCert, startFeedServer, type FeedServer } from "./feed-server.js";

const FIX = new URL("../fixtures/feeds/", import.meta.url).pathname;

let db: Database.Database;
let srv: FeedServer;

beforeEach(async () => {
  db = openStore(":memory:");
  srv = await startFeedServer();
});

afterEach(async () => {
  db.close();
  await srv.close();
});

// Interface addresses differ per machine (and other tests may add 192.0.2.x ones): off here, on in the poisoning test.
const QUICK: SyncOptions = { retries: 2, retryBaseMs: 5, interfaces: false };

function add(name: string, url: string, extra: Partial<FeedSpec> = {}): void {
  addFeed(db, validateFeedSpec({ name, url, format: "auto", enabled: true, action: "alert", ...extra }));
}

function list(n: number, prefix = "198.51.100"): string {
  return Array.from({ length: n }, (_, i) => `${prefix}.${i + 1}`).join("\n") + "\n";
}

const snapshot = (name: string) => feedIndicators(db, name).map((e) => ({ value: e.value, first_seen: e.first_seen, last_seen: e.last_seen }));

/** Syncs a good 20-entry copy first, so later tests can check it survives. */
async function withGoodSet(extra: Partial<FeedSpec> = {}): Promise<ReturnType<typeof snapshot>> {
  srv.serve("/feed.txt", list(20));
  add("f", `${srv.url}/feed.txt`, extra);
  const r = await syncFeed(db, "f", QUICK);
  expect(r.status).toBe("updated");
  expect(r.entries).toBe(20);
  return snapshot("f");
}

describe("syncing a feed over HTTP", () => {
  it("stores the entries with provenance, a version and a history row", async () => {
    srv.serve("/drop.json", readFileSync(join(FIX, "drop.json")), { contentType: "application/json" });
    add("drop", `${srv.url}/drop.json`);
    const r = await syncFeed(db, "drop", { ...QUICK, now: () => Date.parse("2026-11-26T10:00:00Z") });
    expect(r).toMatchObject({ status: "updated", entries: 3, added: 3, removed: 0, rejected: 0, httpStatus: 200, version: 1, format: "spamhaus-json" });
    expect(feedIndicators(db, "drop")).toEqual([
      { value: "192.0.2.0/24", kind: "cidr", feed: "drop", meta: { sblid: "SBL000001", rir: "test" }, first_seen: "2026-11-26T10:00:00.000Z", last_seen: "2026-11-26T10:00:00.000Z" },
      { value: "198.51.100.0/25", kind: "cidr", feed: "drop", meta: { sblid: "SBL000002", rir: "test" }, first_seen: "2026-11-26T10:00:00.000Z", last_seen: "2026-11-26T10:00:00.000Z" },
      { value: "2001:db8:200::/48", kind: "cidr", feed: "drop", meta: { sblid: "SBL000004", rir: "test" }, first_seen: "2026-11-26T10:00:00.000Z", last_seen: "2026-11-26T10:00:00.000Z" },
    ]);
    expect(getFeed(db, "drop")).toMatchObject({ entries: 3, version: 1, lastSuccess: "2026-11-26T10:00:00.000Z" });
    expect(feedSyncHistory(db, "drop")[0]).toMatchObject({ status: "updated", entries: 3, added: 3, httpStatus: 200 });
  });

  it("sends If-None-Match with the stored ETag and keeps the set on 304", async () => {
    const before = await withGoodSet();
    const r = await syncFeed(db, "f", QUICK);
    expect(r.status).toBe("not-modified");
    expect(r.httpStatus).toBe(304);
    const second = srv.hitsTo("/feed.txt")[1]!;
    expect(second.headers["if-none-match"]).toBe(getFeed(db, "f")!.etag);
    expect(snapshot("f")).toEqual(before);
    // --force skips the conditional request
    expect((await syncFeed(db, "f", { ...QUICK, force: true })).status).toBe("unchanged");
    expect(srv.hitsTo("/feed.txt")[2]!.headers["if-none-match"]).toBeUndefined();
  });

  it("uses If-Modified-Since when the server gives only Last-Modified", async () => {
    srv.serve("/lm.txt", list(5), { etag: false, lastModified: "Tue, 24 Nov 2026 08:00:00 GMT" });
    add("lm", `${srv.url}/lm.txt`);
    expect((await syncFeed(db, "lm", QUICK)).status).toBe("updated");
    expect((await syncFeed(db, "lm", QUICK)).status).toBe("not-modified");
    expect(srv.hitsTo("/lm.txt")[1]!.headers["if-modified-since"]).toBe("Tue, 24 Nov 2026 08:00:00 GMT");
  });

  it("adds and removes entries, keeping first_seen of the ones still listed and bumping the version", async () => {
    srv.serve("/feed.txt", "192.0.2.1\n192.0.2.2\n192.0.2.3\n");
    add("f", `${srv.url}/feed.txt`);
    await syncFeed(db, "f", { ...QUICK, now: () => Date.parse("2026-11-26T10:00:00Z") });
    srv.serve("/feed.txt", "192.0.2.2\n192.0.2.3\n192.0.2.4\n");
    const r = await syncFeed(db, "f", { ...QUICK, now: () => Date.parse("2026-11-26T11:00:00Z") });
    expect(r).toMatchObject({ status: "updated", entries: 3, added: 1, removed: 1, version: 2 });
    const rows = Object.fromEntries(feedIndicators(db, "f").map((e) => [e.value, [e.first_seen, e.last_seen]]));
    expect(rows).toEqual({
      "192.0.2.2": ["2026-11-26T10:00:00.000Z", "2026-11-26T11:00:00.000Z"],
      "192.0.2.3": ["2026-11-26T10:00:00.000Z", "2026-11-26T11:00:00.000Z"],
      "192.0.2.4": ["2026-11-26T11:00:00.000Z", "2026-11-26T11:00:00.000Z"],
    });
    srv.serve("/feed.txt", "192.0.2.4\n192.0.2.3\n192.0.2.2\n", { etag: '"other"' });
    expect(await syncFeed(db, "f", QUICK)).toMatchObject({ status: "unchanged", version: 2 });
  });

  it("decompresses a gzip response", async () => {
    srv.route("/gz.txt", (_req, res) => res.writeHead(200, { "content-encoding": "gzip", "content-type": "text/plain" }).end(gzipSync(list(50))));
    add("gz", `${srv.url}/gz.txt`);
    expect(await syncFeed(db, "gz", QUICK)).toMatchObject({ status: "updated", entries: 50 });
    expect(srv.hitsTo("/gz.txt")[0]!.headers["accept-encoding"]).toMatch(/gzip/);
  });

  it("syncs a MISP feed: manifest first, then every event", async () => {
    const dir = join(FIX, "misp-feed");
    srv.serve("/misp/manifest.json", readFileSync(join(dir, "manifest.json")), { contentType: "application/json" });
    for (const uuid of ["5f0c2a10-0000-4000-8000-000000000001", "5f0c2a10-0000-4000-8000-000000000002"]) {
      srv.serve(`/misp/${uuid}.json`, readFileSync(join(dir, `${uuid}.json`)), { contentType: "application/json" });
    }
    add("misp", `${srv.url}/misp/`, { format: "misp" });
    const r = await syncFeed(db, "misp", QUICK);
    expect(r).toMatchObject({ status: "updated", entries: 7, format: "misp" });
    expect(feedIndicators(db, "misp").map((e) => e.value)).toContain("c2.example.org");
    expect(srv.hits[0]!.path).toBe("/misp/manifest.json");
    // a manifest naming an event the server does not have fails the sync and keeps the set
    const before = snapshot("misp");
    srv.serve("/misp/manifest.json", JSON.stringify({ "5f0c2a10-0000-4000-8000-00000000dead": { timestamp: 1 } }), { contentType: "application/json" });
    const bad = await syncFeed(db, "misp", QUICK);
    expect(bad.status).toBe("failed");
    expect(bad.reason).toMatch(/MISP event 5f0c2a10-0000-4000-8000-00000000dead: HTTP 404/);
    expect(snapshot("misp")).toEqual(before);
  });

  it("syncs a local file path", async () => {
    add("local", join(FIX, "feodo.csv"));
    const r = await syncFeed(db, "local", QUICK);
    expect(r).toMatchObject({ status: "updated", entries: 3, rejected: 1, format: "feodo-csv" });
    expect(feedIndicators(db, "local")[0]!.meta).toMatchObject({ malware: "Pikabot", port: "443" });
  });
});

describe("a bad copy never replaces the last good set", () => {
  it("HTML error page served as text/html", async () => {
    const before = await withGoodSet();
    srv.serve("/feed.txt", readFileSync(join(FIX, "page.html")), { contentType: "text/html" });
    const r = await syncFeed(db, "f", QUICK);
    expect(r.status).toBe("rejected");
    expect(r.reason).toMatch(/HTML page.*text\/html/);
    expect(snapshot("f")).toEqual(before);
    expect(getFeed(db, "f")).toMatchObject({ entries: 20, version: 1, lastError: r.reason });
    expect(feedSyncHistory(db, "f")[0]).toMatchObject({ status: "rejected", reason: r.reason });
  });

  it("HTML body labelled text/plain (sniffed)", async () => {
    const before = await withGoodSet();
    srv.serve("/feed.txt", readFileSync(join(FIX, "page.html")), { contentType: "text/plain" });
    expect((await syncFeed(db, "f", QUICK)).reason).toMatch(/HTML page/);
    expect(snapshot("f")).toEqual(before);
  });

  it("empty body", async () => {
    const before = await withGoodSet();
    srv.serve("/feed.txt", "");
    expect(await syncFeed(db, "f", QUICK)).toMatchObject({ status: "rejected", reason: "the response is empty" });
    expect(snapshot("f")).toEqual(before);
  });

  it("connection cut before Content-Length bytes arrived (retried, then failed)", async () => {
    const before = await withGoodSet();
    srv.route("/feed.txt", (_req, res) => {
      res.writeHead(200, { "content-type": "text/plain", "content-length": "5000" });
      res.write(list(5));
      setTimeout(() => res.socket?.destroy(), 20);
    });
    const r = await syncFeed(db, "f", QUICK);
    expect(r.status).toBe("failed");
    expect(r.reason).toMatch(/after 3 attempts/);
    expect(srv.hitsTo("/feed.txt").length).toBe(1 + 3);
    expect(snapshot("f")).toEqual(before);
  });

  it("JSON lines cut in the middle of a record", async () => {
    srv.serve("/drop.json", readFileSync(join(FIX, "drop.json")), { contentType: "application/json" });
    add("drop", `${srv.url}/drop.json`);
    await syncFeed(db, "drop", QUICK);
    const before = snapshot("drop");
    srv.serve("/drop.json", readFileSync(join(FIX, "drop-cut.json")), { contentType: "application/json", etag: '"cut"' });
    const r = await syncFeed(db, "drop", QUICK);
    expect(r.status).toBe("rejected");
    expect(r.reason).toMatch(/^truncated: /);
    expect(snapshot("drop")).toEqual(before);
  });

  it("a copy far smaller than the last good one, unless forced", async () => {
    const before = await withGoodSet();
    srv.serve("/feed.txt", list(3), { etag: '"small"' });
    const r = await syncFeed(db, "f", QUICK);
    expect(r.status).toBe("rejected");
    expect(r.reason).toMatch(/only 3 entries where the last good copy had 20/);
    expect(snapshot("f")).toEqual(before);
    const forced = await syncFeed(db, "f", { ...QUICK, force: true });
    expect(forced).toMatchObject({ status: "updated", entries: 3, removed: 17 });
  });

  it("a copy that is mostly garbage", async () => {
    const before = await withGoodSet();
    srv.serve("/feed.txt", list(20) + Array.from({ length: 30 }, (_, i) => `garbage-${i}`).join("\n"), { etag: '"junk"' });
    const r = await syncFeed(db, "f", QUICK);
    expect(r.status).toBe("rejected");
    expect(r.reason).toMatch(/30 of 50 entries rejected \(most: not an IP address or CIDR\)/);
    expect(snapshot("f")).toEqual(before);
  });

  it("a copy that is only 0.0.0.0/0", async () => {
    const before = await withGoodSet();
    srv.serve("/feed.txt", "0.0.0.0/0\n", { etag: '"all"' });
    const r = await syncFeed(db, "f", { ...QUICK, force: true });
    expect(r).toMatchObject({ status: "rejected", reason: "no usable entries", rejected: 1 });
    expect(snapshot("f")).toEqual(before);
  });
});

describe("poisoned entries are rejected one by one, the rest applies", () => {
  it("default routes, loopback, link-local, multicast, short prefixes, the host's addresses, allowlisted networks", async () => {
    // A real address of this host, outside the ranges the other poison entries cover.
    const real = Object.values(networkInterfaces()).flat().find((a) => a && !a.internal && a.family === "IPv4" && !a.address.startsWith("192.0.2.") && !a.address.startsWith("203.0.113."))?.address;
    const poison = [
      "0.0.0.0/0", "::/0", "127.0.0.1", "::1", "169.254.10.1", "fe80::1", "224.0.0.251", "ff02::1", "0.0.0.0", "::",
      "8.0.0.0/7", "2000::/3", "192.0.2.77", "192.0.2.64/26", "203.0.113.9",
      ...(real ? [real] : []),
    ];
    srv.serve("/feed.txt", list(40) + poison.join("\n") + "\n");
    add("p", `${srv.url}/feed.txt`, { allowlist: ["203.0.113.0/24"] });
    const r = await syncFeed(db, "p", { ...QUICK, interfaces: true, hostAddresses: ["192.0.2.77"] });
    expect(r.status).toBe("updated");
    expect(r.entries).toBe(40);
    expect(r.rejected).toBe(poison.length);
    const stored = feedIndicators(db, "p").map((e) => e.value);
    for (const p of poison) expect(stored).not.toContain(p);
    expect(r.rejectedByReason).toMatchObject({
      "default route 0.0.0.0/0": 1,
      "default route ::/0": 1,
      loopback: 2,
      "link-local": 2,
      multicast: 2,
      "unspecified (0.0.0.0/8)": 1,
      "unspecified (::)": 1,
      "prefix shorter than /8": 1,
      "prefix shorter than /16": 1,
      "covers this host's address 192.0.2.77": 2,
      "allowlisted (203.0.113.0/24)": 1,
    });
    if (real) expect(r.rejectedByReason![`covers this host's address ${real}`]).toBe(1);
    expect(r.reason).toMatch(/entries rejected/);
    expect(getFeed(db, "p")!.rejected).toBe(poison.length);
  });

  it("a global allowlist passed to sync applies to every feed", async () => {
    srv.serve("/feed.txt", list(10));
    add("g", `${srv.url}/feed.txt`);
    const r = await syncFeed(db, "g", { ...QUICK, allowlist: ["198.51.100.8/29"] });
    expect(r.entries).toBe(7); // .1–.10 minus .8/29 (.8–.15)
    expect(feedIndicators(db, "g").map((e) => e.value)).not.toContain("198.51.100.9");
  });
});

describe("HTTP behaviour", () => {
  it("retries 500 and 429 (honouring Retry-After) and then succeeds", async () => {
    srv.route("/flaky.txt", (_req, res, n) => {
      if (n === 0) res.writeHead(500).end("oops");
      else if (n === 1) res.writeHead(429, { "retry-after": "0" }).end("slow down");
      else res.writeHead(200, { "content-type": "text/plain" }).end(list(5));
    });
    add("flaky", `${srv.url}/flaky.txt`);
    expect(await syncFeed(db, "flaky", QUICK)).toMatchObject({ status: "updated", entries: 5 });
    expect(srv.hitsTo("/flaky.txt").length).toBe(3);
  });

  it("does not retry a 404", async () => {
    add("missing", `${srv.url}/nothing.txt`);
    const r = await syncFeed(db, "missing", QUICK);
    expect(r).toMatchObject({ status: "failed", httpStatus: 404 });
    expect(r.reason).toMatch(/^HTTP 404/);
    expect(srv.hitsTo("/nothing.txt").length).toBe(1);
  });

  it("gives up at the timeout", async () => {
    const before = await withGoodSet({ timeoutMs: 300 });
    srv.route("/feed.txt", () => {
      /* never answers */
    });
    const r = await syncFeed(db, "f", { ...QUICK, retries: 1 });
    expect(r.status).toBe("failed");
    expect(r.reason).toMatch(/timed out after 300 ms/);
    expect(snapshot("f")).toEqual(before);
  });

  it("enforces the size cap with and without a Content-Length", async () => {
    add("big", `${srv.url}/big.txt`, { maxBytes: 1000 });
    srv.serve("/big.txt", list(500));
    const declared = await syncFeed(db, "big", QUICK);
    expect(declared.status).toBe("failed");
    // The body's real size and the cap, each named.
    expect(declared.reason).toBe(`the response is ${list(500).length} bytes, over the cap of 1000 bytes`);
    srv.route("/big.txt", (_req, res) => {
      res.writeHead(200, { "content-type": "text/plain" });
      for (let i = 0; i < 20; i++) res.write(list(50));
      res.end();
    });
    const streamed = await syncFeed(db, "big", QUICK);
    expect(streamed.reason).toMatch(/^the response is larger than the cap of 1000 bytes; reading stopped there/);
    // a small gzip body that inflates past the cap (a "zip bomb")
    const bomb = gzipSync(Buffer.alloc(500_000, 0x0a));
    expect(bomb.length).toBeLessThan(1000);
    srv.route("/big.txt", (_req, res) => res.writeHead(200, { "content-encoding": "gzip", "content-length": String(bomb.length) }).end(bomb));
    expect((await syncFeed(db, "big", QUICK)).reason).toMatch(/^the decompressed response is larger than the cap of 1000 bytes/);
    expect(feedIndicators(db, "big")).toEqual([]);
  });
});

describe("TLS", () => {
  it("refuses a self-signed server, and accepts it when its CA is given", async () => {
    const cert = selfSignedCert();
    const tls = await startFeedServer(cert);
    try {
      tls.serve("/feed.txt", list(5));
      add("tls", `${tls.url}/feed.txt`);
      const refused = await syncFeed(db, "tls", QUICK);
      expect(refused.status).toBe("failed");
      expect(refused.reason).toMatch(/TLS verification failed.*SELF_SIGNED/);
      expect(tls.hitsTo("/feed.txt").length).toBe(0);
      const ok = await syncFeed(db, "tls", { ...QUICK, ca: cert.cert });
      expect(ok).toMatchObject({ status: "updated", entries: 5 });
    } finally {
      await tls.close();
    }
  });
});
