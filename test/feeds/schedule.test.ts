import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { dueFeeds, nextDue, startFeedScheduler } from "../../src/feeds/schedule.js";
import { validateFeedSpec } from "../../src/feeds/spec.js";
import type { SyncResult } from "../../src/feeds/sync.js";
import { addFeed, getFeed } from "../../src/store/feeds.js";
import { openStore } from "../../src/store/open.js";

const HOUR = 3_600_000;
const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function setup() {
  const dir = mkdtempSync(join(tmpdir(), "hv-feeds-sched-"));
  dirs.push(dir);
  writeFileSync(join(dir, "a.txt"), "198.51.100.1\n198.51.100.2\n");
  writeFileSync(join(dir, "b.txt"), "203.0.113.1\n");
  const db = openStore(":memory:");
  const spec = (name: string, extra: Record<string, unknown>) => validateFeedSpec({ name, url: join(dir, `${name}.txt`), enabled: true, action: "alert", format: "plain", ...extra });
  addFeed(db, spec("a", { schedule: "1h" }));
  addFeed(db, spec("b", { schedule: "6h" }));
  addFeed(db, spec("manual", {}));
  addFeed(db, spec("off", { schedule: "1h", enabled: false }));
  return { db, dir };
}

async function runOnce(db: ReturnType<typeof openStore>, now: number): Promise<SyncResult[]> {
  const results: SyncResult[] = [];
  const ac = new AbortController();
  const s = startFeedScheduler(db, { onResult: (r) => results.push(r), signal: ac.signal, now: () => now, tickMs: 3_600_000, sync: { interfaces: false } });
  await new Promise((r) => setTimeout(r, 20));
  await s.idle();
  ac.abort();
  return results;
}

describe("feed scheduler", () => {
  it("syncs enabled feeds with a schedule when due, one at a time, and not again before the period", async () => {
    const { db } = setup();
    const t0 = Date.parse("2026-11-26T00:00:00Z");
    const first = await runOnce(db, t0);
    expect(first.map((r) => [r.feed, r.status]).sort()).toEqual([
      ["a", "updated"],
      ["b", "updated"],
    ]);
    expect(dueFeeds(db, t0 + HOUR - 1)).toEqual([]);
    expect(dueFeeds(db, t0 + HOUR)).toEqual(["a"]);
    const later = await runOnce(db, t0 + 2 * HOUR);
    expect(later.map((r) => [r.feed, r.status])).toEqual([["a", "unchanged"]]);
    expect(getFeed(db, "a")!.lastAttempt).toBe(new Date(t0 + 2 * HOUR).toISOString());
    expect(getFeed(db, "manual")!.lastAttempt).toBeUndefined();
    expect(getFeed(db, "off")!.lastAttempt).toBeUndefined();
    db.close();
  });

  it("retries a failed feed sooner than its period", async () => {
    const { db, dir } = setup();
    const t0 = Date.parse("2026-11-26T00:00:00Z");
    writeFileSync(join(dir, "b.txt"), "<html><body>maintenance</body></html>\n");
    const first = await runOnce(db, t0);
    expect(first.find((r) => r.feed === "b")!.status).toBe("rejected");
    const b = getFeed(db, "b")!;
    expect(nextDue(b, 15 * 60_000)).toBe(t0 + 15 * 60_000);
    expect(nextDue(getFeed(db, "a")!, 15 * 60_000)).toBe(t0 + HOUR);
    db.close();
  });
});
