import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { validateFeedSpec } from "../../src/feeds/spec.js";
import { addFeed, applyFeedSet, feedIndicators, feedSyncHistory, getFeed, listFeeds, recordSync, removeFeed } from "../../src/store/feeds.js";
import { openStore } from "../../src/store/open.js";
import { tempDir } from "../store/tmp.js";

const spec = (name: string, extra: Record<string, unknown> = {}) => validateFeedSpec({ name, url: "https://feeds.example/x.txt", enabled: true, action: "alert", format: "plain", ...extra });

describe("feed store", () => {
  it("keeps the spec, fills defaults, and refuses a second feed of the same name", () => {
    const db = openStore(":memory:");
    addFeed(db, spec("a", { action: "block", allowlist: ["192.0.2.0/24"] }), Date.parse("2026-11-26T00:00:00Z"));
    expect(getFeed(db, "a")).toEqual({
      name: "a", url: "https://feeds.example/x.txt", format: "plain", enabled: true, action: "block",
      block: { mode: "monitor", paths: ["input", "forward", "taps"] }, allowlist: ["192.0.2.0/24"],
      added: "2026-11-26T00:00:00.000Z", entries: 0, rejected: 0, version: 0,
    });
    expect(() => addFeed(db, spec("a"))).toThrow(/feed a already exists/);
    db.close();
  });

  it("refuses bad specs naming the field", () => {
    expect(() => spec("bad name")).toThrow(/feed spec: name:/);
    expect(() => spec("a", { schedule: "5 minutes" })).toThrow(/feed spec: schedule:/);
    expect(() => spec("a", { allowlist: ["300.1.1.1/8"] })).toThrow(/feed spec: allowlist.0: not an IP address or CIDR/);
    expect(() => spec("a", { block: { mode: "drop" } })).toThrow(/feed spec: block.mode:/);
  });

  it("removing a feed removes its entries but not its history; all-feed listing spans feeds", () => {
    const db = openStore(join(tempDir(), "hv.db"));
    addFeed(db, spec("a"));
    addFeed(db, spec("b"));
    applyFeedSet(db, "a", [{ value: "192.0.2.1", kind: "ip" }], { now: 1000, rejected: 0 });
    applyFeedSet(db, "b", [{ value: "c2.example.net", kind: "domain", meta: { note: "x" } }], { now: 2000, rejected: 0 });
    recordSync(db, { feed: "a", started: 1000, ms: 5, status: "updated", entries: 1, added: 1, removed: 0, rejected: 0 });
    expect(feedIndicators(db).map((e) => [e.feed, e.value])).toEqual([
      ["a", "192.0.2.1"],
      ["b", "c2.example.net"],
    ]);
    expect(removeFeed(db, "a")).toBe(true);
    expect(removeFeed(db, "a")).toBe(false);
    expect(feedIndicators(db).map((e) => e.feed)).toEqual(["b"]);
    expect(listFeeds(db).map((f) => f.name)).toEqual(["b"]);
    expect(feedSyncHistory(db, "a")).toHaveLength(1);
    db.close();
  });

  it("bumps the version only when the set changes", () => {
    const db = openStore(":memory:");
    addFeed(db, spec("a"));
    const set = [{ value: "192.0.2.1", kind: "ip" as const }, { value: "192.0.2.2", kind: "ip" as const }];
    expect(applyFeedSet(db, "a", set, { now: 1000, rejected: 0 })).toEqual({ added: 2, removed: 0, entries: 2, version: 1 });
    expect(applyFeedSet(db, "a", [...set].reverse(), { now: 2000, rejected: 0 })).toEqual({ added: 0, removed: 0, entries: 2, version: 1 });
    expect(applyFeedSet(db, "a", set.slice(1), { now: 3000, rejected: 0 })).toEqual({ added: 0, removed: 1, entries: 1, version: 2 });
    expect(feedIndicators(db, "a")).toEqual([{ value: "192.0.2.2", kind: "ip", feed: "a", first_seen: new Date(1000).toISOString(), last_seen: new Date(3000).toISOString() }]);
    db.close();
  });
});
