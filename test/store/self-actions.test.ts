import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { openStore } from "../../src/store/open.js";
import { beginSelfAction, endSelfAction, selfActionAt } from "../../src/store/self-actions.js";
import { tempDir } from "./tmp.js";

describe("self actions", () => {
  it("covers events inside an action's window (with slack), per VM, and open-ended while running", () => {
    const db = openStore(join(tempDir(), "hv.db"));
    const id = beginSelfAction(db, { vmName: "web1", action: "snapshot", startedMs: 10_000 });
    expect(selfActionAt(db, "web1", 50_000)?.action).toBe("snapshot"); // still running
    endSelfAction(db, id, 20_000);
    expect(selfActionAt(db, "web1", 15_000)).toMatchObject({ vmName: "web1", action: "snapshot", startedMs: 10_000, endedMs: 20_000, pid: process.pid });
    expect(selfActionAt(db, "web1", 21_500)?.action).toBe("snapshot"); // libvirt's event comes a little late
    expect(selfActionAt(db, "web1", 30_000)).toBeUndefined();
    expect(selfActionAt(db, "web1", 7_000)).toBeUndefined();
    expect(selfActionAt(db, "db1", 15_000)).toBeUndefined();
    db.close();
  });
});
