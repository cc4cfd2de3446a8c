import { existsSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { describe, expect, it } from "vitest";
import { migrate, migrations, schemaVersion, type Migration } from "../../src/store/migrations.js";
import { openStore } from "../../src/store/open.js";
import { countEvents, storeBatch } from "../../src/store/events.js";
import { envelopes, makeEvent } from "../helpers/events.js";
import { tempDir } from "./tmp.js";

function tables(db: Database.Database): string[] {
  return db.prepare(`SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name`).pluck().all() as string[];
}

describe("openStore", () => {
  it("creates the parent directory, the schema, and sets the pragmas", () => {
    const path = join(tempDir(), "nested", "deeper", "hv.db");
    const db = openStore(path);
    expect(existsSync(path)).toBe(true);
    expect(tables(db)).toEqual(["actions", "alerts", "api_tokens", "checkpoints", "enforcements", "events", "feed_entries", "feed_syncs", "feeds", "learned_exceptions", "learning_observations", "self_actions"]);
    expect(schemaVersion(db)).toBe(migrations.length);
    expect(db.pragma("journal_mode", { simple: true })).toBe("wal");
    expect(db.pragma("synchronous", { simple: true })).toBe(1); // NORMAL
    expect(db.pragma("foreign_keys", { simple: true })).toBe(1);
    expect(db.pragma("busy_timeout", { simple: true })).toBeGreaterThan(0);
    db.close();
  });

  it("works in memory", () => {
    const db = openStore(":memory:");
    expect(tables(db)).toContain("events");
    storeBatch(db, envelopes([makeEvent(1)]));
    expect(countEvents(db)).toBe(1);
    db.close();
  });

  it("reopens an existing store without migrating again and keeps its data", () => {
    const path = join(tempDir(), "hv.db");
    const first = openStore(path);
    storeBatch(first, envelopes([makeEvent(1), makeEvent(2)]));
    first.close();

    const second = openStore(path);
    expect(schemaVersion(second)).toBe(migrations.length);
    expect(countEvents(second)).toBe(2);
    second.close();
  });

  it("refuses a store whose schema is newer than the code, and leaves it untouched", () => {
    const path = join(tempDir(), "hv.db");
    openStore(path).close();
    const raw = new Database(path);
    raw.pragma(`user_version = ${migrations.length + 1}`);
    raw.exec(`CREATE TABLE from_the_future (x)`);
    raw.close();

    expect(() => openStore(path)).toThrow(new RegExp(`schema version ${migrations.length + 1}.*only up to version ${migrations.length}`));

    const after = new Database(path);
    expect(schemaVersion(after)).toBe(migrations.length + 1);
    expect(tables(after)).toContain("from_the_future");
    after.close();
  });
});

describe("migrate", () => {
  it("applies only the migrations past the stored version, in order", () => {
    const applied: number[] = [];
    const list: Migration[] = [1, 2, 3].map((n) => ({
      description: `m${n}`,
      up: (db) => {
        applied.push(n);
        db.exec(`CREATE TABLE t${n} (x)`);
      },
    }));
    const db = new Database(join(tempDir(), "m.db"));
    expect(migrate(db, list.slice(0, 2))).toBe(2);
    expect(applied).toEqual([1, 2]);
    expect(migrate(db, list.slice(0, 2))).toBe(2);
    expect(applied).toEqual([1, 2]);
    expect(migrate(db, list)).toBe(3);
    expect(applied).toEqual([1, 2, 3]);
    expect(tables(db)).toEqual(["t1", "t2", "t3"]);
    db.close();
  });

  it("rolls back a failing migration and keeps the versions before it", () => {
    const list: Migration[] = [
      { description: "ok", up: (db) => db.exec(`CREATE TABLE a (x)`) },
      {
        description: "half done, then fails",
        up: (db) => {
          db.exec(`CREATE TABLE b (x)`);
          throw new Error("boom");
        },
      },
    ];
    const path = join(tempDir(), "m.db");
    const db = new Database(path);
    expect(() => migrate(db, list)).toThrow("boom");
    db.close();

    const reopened = new Database(path);
    expect(schemaVersion(reopened)).toBe(1);
    expect(tables(reopened)).toEqual(["a"]);
    reopened.close();
  });
});
