import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { describe, expect, it } from "vitest";
import type { HvEvent } from "../../src/events/event.js";
import { getCheckpoint } from "../../src/store/checkpoints.js";
import { countEvents, storeBatch } from "../../src/store/events.js";
import { openStore } from "../../src/store/open.js";
import { BatchWriter } from "../../src/store/writer.js";
import { envelopes, makeEvent } from "../helpers/events.js";
import { tempDir } from "./tmp.js";

const range = (from: number, to: number): number[] => Array.from({ length: to - from }, (_, k) => from + k);

function setup(options: ConstructorParameters<typeof BatchWriter>[1] = {}) {
  const db = openStore(join(tempDir(), "hv.db"));
  const seen: HvEvent[][] = [];
  const writer = new BatchWriter(db, { onStored: (events) => seen.push(events), ...options });
  return { db, writer, seen };
}

describe("BatchWriter", () => {
  it("stores a batch as soon as batchSize envelopes are pending", () => {
    const { db, writer, seen } = setup({ batchSize: 3, flushIntervalMs: 60_000 });
    for (const env of envelopes(range(0, 7).map((i) => makeEvent(i)), "audit.log")) writer.add(env);
    expect(countEvents(db)).toBe(6);
    expect(writer.pendingCount).toBe(1);
    expect(seen.map((b) => b.map((e) => e.event.id))).toEqual([
      ["evt-0", "evt-1", "evt-2"],
      ["evt-3", "evt-4", "evt-5"],
    ]);
    expect(getCheckpoint(db, "audit.log")?.offset).toBe(6);
    writer.close();
    expect(countEvents(db)).toBe(7);
    expect(getCheckpoint(db, "audit.log")?.offset).toBe(7);
    expect(writer.counters).toEqual({ batches: 3, stored: 7, ignoredDuplicates: 0, failures: 0 });
    expect(() => writer.add({ event: makeEvent(8) })).toThrow(/closed/);
    db.close();
  });

  it("stores a partial batch flushIntervalMs after its first envelope", async () => {
    const { db, writer, seen } = setup({ batchSize: 1000, flushIntervalMs: 50 });
    writer.add({ event: makeEvent(1) });
    await sleep(20);
    writer.add({ event: makeEvent(2) });
    expect(countEvents(db)).toBe(0);
    // The interval counts from the first envelope (due at 50 ms), not the last (due at 70 ms).
    await sleep(40);
    expect(countEvents(db)).toBe(2);
    expect(seen).toHaveLength(1);
    expect(writer.counters.batches).toBe(1);
    // Nothing pending: no empty batches from the timer.
    await sleep(80);
    expect(writer.counters.batches).toBe(1);
    writer.close();
    db.close();
  });

  it("passes only new events on and counts duplicates", () => {
    const { db, writer, seen } = setup({ batchSize: 4 });
    storeBatch(db, envelopes([makeEvent(1), makeEvent(3)]));
    for (const i of [0, 1, 2, 3, 3, 4]) writer.add({ event: makeEvent(i) });
    const last = writer.flush();
    expect(seen.flat().map((e) => e.event.id)).toEqual(["evt-0", "evt-2", "evt-4"]);
    expect(last.map((e) => e.event.id)).toEqual(["evt-4"]);
    expect(writer.counters).toEqual({ batches: 2, stored: 3, ignoredDuplicates: 3, failures: 0 });
    // A batch of duplicates only is stored (checkpoint) but not passed on.
    writer.add({ event: makeEvent(0) });
    expect(writer.flush()).toEqual([]);
    expect(seen).toHaveLength(2);
    writer.close();
    db.close();
  });

  it("keeps a failed batch pending, reports timer failures to onError, and stores it once possible", async () => {
    const errors: unknown[] = [];
    const { db, writer } = setup({ batchSize: 100, flushIntervalMs: 20, onError: (err) => errors.push(err) });
    db.exec(`CREATE TRIGGER poison BEFORE INSERT ON events WHEN NEW.id = 'evt-2' BEGIN SELECT RAISE(ABORT, 'poisoned'); END`);
    for (const i of [1, 2, 3]) writer.add({ event: makeEvent(i), checkpoint: { source: "s", inode: "1", offset: i } });
    expect(() => writer.flush()).toThrow("poisoned");
    expect(writer.pendingCount).toBe(3);
    expect(countEvents(db)).toBe(0);
    writer.add({ event: makeEvent(4), checkpoint: { source: "s", inode: "1", offset: 4 } });
    await sleep(50);
    expect(errors.length).toBeGreaterThanOrEqual(1);
    expect(writer.counters.failures).toBeGreaterThanOrEqual(2);
    db.exec(`DROP TRIGGER poison`);
    // The timer keeps retrying.
    await sleep(60);
    expect(countEvents(db)).toBe(4);
    expect(getCheckpoint(db, "s")?.offset).toBe(4);
    expect(writer.pendingCount).toBe(0);
    expect(writer.counters.stored).toBe(4);
    writer.close();
    db.close();
  });

  it("rejects nonsense options", () => {
    const db = openStore(":memory:");
    expect(() => new BatchWriter(db, { batchSize: 0 })).toThrow(RangeError);
    expect(() => new BatchWriter(db, { flushIntervalMs: -1 })).toThrow(RangeError);
    db.close();
  });
});
