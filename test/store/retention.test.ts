import { join } from "node:path";
import type Database from "better-sqlite3";
import { describe, expect, it } from "vitest";
import { countEvents, listEvents, storeBatch } from "../../src/store/events.js";
import { openStore } from "../../src/store/open.js";
import { applyRetention } from "../../src/store/retention.js";
import { BASE_MS, envelopes, makeEvent } from "../helpers/events.js";
import { tempDir } from "./tmp.js";

const range = (from: number, to: number): number[] => Array.from({ length: to - from }, (_, k) => from + k);
const totalBytes = (db: Database.Database): number => db.prepare(`SELECT total(size) FROM events`).pluck().get() as number;
const storedIndexes = (db: Database.Database): number[] => listEvents(db).map((e) => Number(e.event.id.slice(4)));

function storeRange(db: Database.Database, from: number, to: number): void {
  storeBatch(db, envelopes(range(from, to).map((i) => makeEvent(i))));
}

describe("applyRetention", () => {
  it("deletes events older than maxAge and keeps the one exactly at the cutoff", () => {
    const db = openStore(join(tempDir(), "hv.db"));
    storeRange(db, 0, 100); // event i at BASE + i s
    const result = applyRetention(db, { maxAgeMs: 60_000, nowMs: BASE_MS + 100_000, chunkRows: 7 });
    expect(result).toEqual({ deletedByAge: 40, deletedBySize: 0 });
    expect(storedIndexes(db)).toEqual(range(40, 100));
    expect(applyRetention(db, { maxAgeMs: 60_000, nowMs: BASE_MS + 100_000 })).toEqual({ deletedByAge: 0, deletedBySize: 0 });
    db.close();
  });

  it("deletes the oldest events until the total size fits, by timestamp then storage order", () => {
    const db = openStore(join(tempDir(), "hv.db"));
    // Stored newest first, so storage order alone would delete the wrong end.
    for (let i = 99; i >= 0; i--) storeRange(db, i, i + 1);
    // Two events sharing the oldest timestamp: the one stored first goes first.
    storeBatch(db, envelopes([makeEvent(-1, { "@timestamp": makeEvent(0)["@timestamp"] })]));
    const sizes = db.prepare(`SELECT size FROM events ORDER BY ts, rowid`).pluck().all() as number[];
    const total = totalBytes(db);
    // Keep roughly the newest 30.
    const maxBytes = sizes.slice(-30).reduce((a, b) => a + b, 0);

    const result = applyRetention(db, { maxBytes, chunkRows: 8 });
    expect(result.deletedByAge).toBe(0);
    expect(result.deletedBySize).toBe(71);
    expect(totalBytes(db)).toBeLessThanOrEqual(maxBytes);
    expect(storedIndexes(db)).toEqual(range(70, 100));
    expect(total).toBeGreaterThan(maxBytes);

    // One byte less than what is left forces exactly one more deletion: the oldest.
    expect(applyRetention(db, { maxBytes: totalBytes(db) - 1 }).deletedBySize).toBe(1);
    expect(storedIndexes(db)[0]).toBe(71);
    db.close();
  });

  it("prefers the tie that was stored first", () => {
    const db = openStore(join(tempDir(), "hv.db"));
    const at = makeEvent(0)["@timestamp"];
    storeBatch(db, envelopes([makeEvent(2, { "@timestamp": at }), makeEvent(1, { "@timestamp": at })]));
    const size = totalBytes(db) / 2;
    expect(applyRetention(db, { maxBytes: size }).deletedBySize).toBe(1);
    expect(storedIndexes(db)).toEqual([1]);
    db.close();
  });

  it("applies age first, then size, and deletes everything if it must", () => {
    const db = openStore(join(tempDir(), "hv.db"));
    storeRange(db, 0, 50);
    const result = applyRetention(db, { maxAgeMs: 10_000, nowMs: BASE_MS + 30_000, maxBytes: 0, chunkRows: 3 });
    expect(result).toEqual({ deletedByAge: 20, deletedBySize: 30 });
    expect(countEvents(db)).toBe(0);
    expect(applyRetention(db, { maxBytes: 0 })).toEqual({ deletedByAge: 0, deletedBySize: 0 });
    db.close();
  });

  it("does nothing without limits", () => {
    const db = openStore(join(tempDir(), "hv.db"));
    storeRange(db, 0, 10);
    expect(applyRetention(db, {})).toEqual({ deletedByAge: 0, deletedBySize: 0 });
    expect(applyRetention(db, { maxBytes: totalBytes(db) })).toEqual({ deletedByAge: 0, deletedBySize: 0 });
    expect(countEvents(db)).toBe(10);
    db.close();
  });

  it("trims a large table in bounded chunks", () => {
    const db = openStore(join(tempDir(), "hv.db"));
    for (let b = 0; b < 10; b++) storeRange(db, b * 5000, (b + 1) * 5000);
    const start = performance.now();
    const result = applyRetention(db, { maxAgeMs: 20_000_000, nowMs: BASE_MS + 30_000_000, maxBytes: totalBytes(db) / 2, chunkRows: 4096 });
    const elapsed = performance.now() - start;
    expect(result.deletedByAge).toBe(10_000);
    expect(countEvents(db)).toBeGreaterThan(19_000);
    expect(countEvents(db)).toBeLessThanOrEqual(25_001);
    expect(storedIndexes(db).at(-1)).toBe(49_999);
    // Generous bound: a per-row or quadratic implementation takes far longer than this.
    expect(elapsed).toBeLessThan(5_000);
    db.close();
  });
});
