// The syncer's feed cache: a block feed is read from the store and parsed once per stored version,
// so a quarantine next to a 100k-entry feed does not rebuild it; a new version, a changed mode, or
// the feed removed and added again under the same name are rebuilt.

import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { desiredFirewallState, type FeedSetCache } from "../../src/firewall/sync.js";
import { validateFeedSpec } from "../../src/feeds/spec.js";
import { addFeed, applyFeedSet, removeFeed, updateFeedSpec } from "../../src/store/feeds.js";
import { enforce } from "../../src/store/enforcements.js";
import { openStore } from "../../src/store/open.js";

const spec = (mode: "monitor" | "enforce") => validateFeedSpec({ name: "c2", url: "http://127.0.0.1:9/c2.txt", format: "plain", action: "block", block: { mode, paths: ["input"] } });
const ips = (...values: string[]) => values.map((value) => ({ value, kind: "ip" as const }));

describe("desiredFirewallState feed cache", () => {
  const dirs: string[] = [];
  afterAll(async () => {
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });

  it("reuses a feed's set until the stored feed changes, and never serves a stale one", async () => {
    const dir = await mkdtemp(join(tmpdir(), "hvfw-cache-"));
    dirs.push(dir);
    const db = openStore(join(dir, "hv.db"));
    const cache: FeedSetCache = new Map();
    addFeed(db, spec("monitor"));
    applyFeedSet(db, "c2", ips("203.0.113.1", "203.0.113.2"), { now: 1, rejected: 0 });

    const first = desiredFirewallState(db, { feedCache: cache }).state.sets[0]!;
    // An enforcement changes, the feed does not: the very same set object comes back.
    enforce(db, { kind: "quarantine", target: "web1", detail: { taps: ["vnet3"] } });
    const second = desiredFirewallState(db, { feedCache: cache });
    expect(second.state.sets[0]).toBe(first);
    expect(second.state.quarantines?.map((q) => q.vm)).toEqual(["web1"]);

    applyFeedSet(db, "c2", ips("203.0.113.1", "203.0.113.3"), { now: 2, rejected: 0 });
    const third = desiredFirewallState(db, { feedCache: cache }).state.sets[0]!;
    expect(third).not.toBe(first);
    expect(third.v4).toEqual(["203.0.113.1", "203.0.113.3"]);

    updateFeedSpec(db, spec("enforce"));
    expect(desiredFirewallState(db, { feedCache: cache }).state.sets[0]!.mode).toBe("enforce");

    // Removed and added again: the same name and, after one sync, the same version as before.
    removeFeed(db, "c2");
    await new Promise((r) => setTimeout(r, 5));
    addFeed(db, spec("enforce"));
    applyFeedSet(db, "c2", ips("198.51.100.7"), { now: 3, rejected: 0 });
    applyFeedSet(db, "c2", ips("198.51.100.7", "198.51.100.8"), { now: 4, rejected: 0 });
    expect(desiredFirewallState(db, { feedCache: cache }).state.sets[0]!.v4).toEqual(["198.51.100.7", "198.51.100.8"]);

    removeFeed(db, "c2");
    expect(desiredFirewallState(db, { feedCache: cache }).state.sets).toEqual([]);
    expect(cache.size).toBe(0);
    db.close();
  });
});
