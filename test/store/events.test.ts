import { join } from "node:path";
import { describe, expect, it, vi } from "vitest";
import { getCheckpoint, setCheckpoint } from "../../src/store/checkpoints.js";
import { countEvents, listEvents, storeBatch } from "../../src/store/events.js";
import { openStore } from "../../src/store/open.js";
import { BASE_MS, envelopes, makeEvent } from "../helpers/events.js";
import { tempDir } from "./tmp.js";

const ids = (events: { event: { id: string } }[]): string[] => events.map((e) => e.event.id);
const range = (from: number, to: number): number[] => Array.from({ length: to - from }, (_, k) => from + k);

function open() {
  return openStore(join(tempDir(), "hv.db"));
}

describe("storeBatch", () => {
  it("stores every event with its columns and returns them in order", () => {
    const db = open();
    const special = makeEvent(7, { vm: { name: "vm-ü" }, host: { name: "h2" }, event: { module: "libvirt", action: "started" } });
    const stored = storeBatch(db, envelopes([makeEvent(1), makeEvent(2), special]));
    expect(ids(stored)).toEqual(["evt-1", "evt-2", "evt-7"]);
    const row = db.prepare(`SELECT * FROM events WHERE id = 'evt-7'`).get() as Record<string, unknown>;
    const json = JSON.stringify(special);
    expect(row).toEqual({
      id: "evt-7",
      ts: BASE_MS + 7000,
      module: "libvirt",
      action: "started",
      vm_name: "vm-ü",
      host: "h2",
      size: Buffer.byteLength(json), // bytes, not UTF-16 units
      json,
    });
    expect(Buffer.byteLength(json)).toBeGreaterThan(json.length);
    db.close();
  });

  it("ignores events already stored and does not return them again", () => {
    const db = open();
    expect(storeBatch(db, envelopes(range(0, 5).map((i) => makeEvent(i))))).toHaveLength(5);
    // A restart re-reads 3..7: only 5..7 are new.
    const again = storeBatch(db, envelopes(range(3, 8).map((i) => makeEvent(i))));
    expect(ids(again)).toEqual(["evt-5", "evt-6", "evt-7"]);
    expect(countEvents(db)).toBe(8);
    // Same id twice inside one batch: stored and returned once.
    const within = storeBatch(db, envelopes([makeEvent(9), makeEvent(9), makeEvent(10)]));
    expect(ids(within)).toEqual(["evt-9", "evt-10"]);
    expect(countEvents(db)).toBe(10);
    expect(storeBatch(db, [])).toEqual([]);
    db.close();
  });

  it("commits the last checkpoint per source, and a checkpoint of an all-duplicate batch too", () => {
    const db = open();
    const batch = [
      { event: makeEvent(1), checkpoint: { source: "audit.log", inode: "7", offset: 100 } },
      { event: makeEvent(2), checkpoint: { source: "libvirt", inode: "0", offset: 5 } },
      { event: makeEvent(3) },
      { event: makeEvent(4), checkpoint: { source: "audit.log", inode: "7", offset: 300 } },
      { event: makeEvent(5) },
    ];
    storeBatch(db, batch);
    expect(getCheckpoint(db, "audit.log")).toEqual({ source: "audit.log", inode: "7", offset: 300 });
    expect(getCheckpoint(db, "libvirt")).toEqual({ source: "libvirt", inode: "0", offset: 5 });
    expect(getCheckpoint(db, "flows")).toBeUndefined();

    expect(storeBatch(db, [{ event: makeEvent(1), checkpoint: { source: "audit.log", inode: "8", offset: 10 } }])).toEqual([]);
    expect(getCheckpoint(db, "audit.log")).toEqual({ source: "audit.log", inode: "8", offset: 10 });
    db.close();
  });

  it("stores nothing, not even the checkpoint, when an insert fails mid-batch", () => {
    const db = open();
    storeBatch(db, envelopes([makeEvent(0)], "audit.log"));
    db.exec(`CREATE TRIGGER poison BEFORE INSERT ON events WHEN NEW.id = 'evt-3' BEGIN SELECT RAISE(ABORT, 'poisoned row'); END`);

    expect(() => storeBatch(db, envelopes(range(1, 6).map((i) => makeEvent(i)), "audit.log", 1))).toThrow("poisoned row");
    expect(ids(listEvents(db))).toEqual(["evt-0"]);
    expect(getCheckpoint(db, "audit.log")?.offset).toBe(1);
    expect(db.inTransaction).toBe(false);

    // After the cause is gone the same batch goes in whole.
    db.exec(`DROP TRIGGER poison`);
    expect(storeBatch(db, envelopes(range(1, 6).map((i) => makeEvent(i)), "audit.log", 1))).toHaveLength(5);
    expect(getCheckpoint(db, "audit.log")?.offset).toBe(6);
    db.close();
  });

  it("stores no events when the checkpoint write fails", () => {
    const db = open();
    db.exec(`CREATE TRIGGER no_cp BEFORE INSERT ON checkpoints BEGIN SELECT RAISE(ABORT, 'checkpoint refused'); END`);
    expect(() => storeBatch(db, envelopes([makeEvent(1), makeEvent(2)], "audit.log"))).toThrow("checkpoint refused");
    expect(countEvents(db)).toBe(0);
    db.close();
  });

  it("stores an event without a parsable @timestamp under the time it was stored, with the rest of its batch", () => {
    const db = open();
    const bad = makeEvent(2, { "@timestamp": "yesterday" });
    const before = Date.now();
    expect(storeBatch(db, envelopes([makeEvent(1), bad, makeEvent(3)], "audit.log")).map((e) => e.event.id)).toEqual(["evt-1", "evt-2", "evt-3"]);
    const ts = (db.prepare("SELECT ts FROM events WHERE id = 'evt-2'").get() as { ts: number }).ts;
    expect(ts).toBeGreaterThanOrEqual(before);
    expect(getCheckpoint(db, "audit.log")).toBeDefined();
    db.close();
  });

  it("prepares its statements once per database", () => {
    const db = open();
    storeBatch(db, envelopes([makeEvent(1)], "s"));
    const prepare = vi.spyOn(db, "prepare");
    storeBatch(db, envelopes([makeEvent(2), makeEvent(3)], "s"));
    expect(prepare).not.toHaveBeenCalled();
    // A second database gets its own statements (a statement belongs to one connection).
    const other = open();
    expect(storeBatch(other, envelopes([makeEvent(2)], "s"))).toHaveLength(1);
    expect(countEvents(db)).toBe(3);
    other.close();
    db.close();
  });
});

describe("listEvents", () => {
  it("orders by timestamp, then by storage order, and filters by time and VM", () => {
    const db = open();
    // Stored out of time order; 20 and 21 share the timestamp of 5.
    const sameTime = (i: number) => makeEvent(i, { "@timestamp": makeEvent(5)["@timestamp"] });
    storeBatch(db, envelopes([makeEvent(9), sameTime(21), makeEvent(1), makeEvent(5), sameTime(20), makeEvent(3)]));

    expect(ids(listEvents(db))).toEqual(["evt-1", "evt-3", "evt-21", "evt-5", "evt-20", "evt-9"]);
    expect(ids(listEvents(db, { limit: 2 }))).toEqual(["evt-1", "evt-3"]);
    // since is inclusive, until exclusive.
    expect(ids(listEvents(db, { sinceMs: BASE_MS + 3000, untilMs: BASE_MS + 9000 }))).toEqual(["evt-3", "evt-21", "evt-5", "evt-20"]);
    expect(ids(listEvents(db, { vmName: "vm-0" }))).toEqual(["evt-3", "evt-21", "evt-9"]);
    expect(ids(listEvents(db, { vmName: "vm-0", sinceMs: BASE_MS + 4000, limit: 1 }))).toEqual(["evt-21"]);
    expect(ids(listEvents(db, { vmName: "vm-2", untilMs: BASE_MS + 9000 }))).toEqual(["evt-5", "evt-20"]);
    expect(listEvents(db, { vmName: "nope" })).toEqual([]);
    // What comes back is the event as stored.
    expect(listEvents(db, { limit: 1 })[0]).toEqual(makeEvent(1));
    db.close();
  });
});

describe("checkpoints", () => {
  it("are set, overwritten and kept across a reopen", () => {
    const path = join(tempDir(), "hv.db");
    const db = openStore(path);
    expect(getCheckpoint(db, "audit.log")).toBeUndefined();
    setCheckpoint(db, { source: "audit.log", inode: "11", offset: 4096 });
    setCheckpoint(db, { source: "audit.log", inode: "12", offset: 2 ** 40 });
    setCheckpoint(db, { source: "other", inode: "1", offset: 1 });
    db.close();

    const again = openStore(path);
    expect(getCheckpoint(again, "audit.log")).toEqual({ source: "audit.log", inode: "12", offset: 2 ** 40 });
    expect(getCheckpoint(again, "other")).toEqual({ source: "other", inode: "1", offset: 1 });
    again.close();
  });
});
