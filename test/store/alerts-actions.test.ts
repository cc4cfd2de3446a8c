import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { getAction, insertAction, listActions } from "../../src/store/actions.js";
import { getAlert, insertAlert, listAlerts, type NewAlert } from "../../src/store/alerts.js";
import { openStore } from "../../src/store/open.js";
import { tempDir } from "./tmp.js";

const alert = (n: number, overrides: Partial<NewAlert> = {}): NewAlert => ({
  ruleId: `rule-${n % 2}`,
  ruleTitle: `Rule ${n % 2}`,
  severity: "high",
  entityKind: "vm",
  entity: "vm-a",
  firstSeen: 1000 * n,
  lastSeen: 1000 * n + 500,
  count: n,
  eventIds: [`evt-${n}`, `evt-${n + 1}`],
  ...overrides,
});

describe("alerts", () => {
  it("round-trip through insert and get, with defaults", () => {
    const db = openStore(join(tempDir(), "hv.db"));
    const id = insertAlert(db, alert(1, { vmName: "vm-a", detail: { mitre: ["T1059"] } }));
    expect(getAlert(db, id)).toEqual({ id, ...alert(1), vmName: "vm-a", status: "open", detail: { mitre: ["T1059"] } });
    const bare = insertAlert(db, alert(2));
    expect(getAlert(db, bare)).toMatchObject({ vmName: null, status: "open", detail: undefined });
    expect(getAlert(db, 999)).toBeUndefined();
    db.close();
  });

  it("list newest first, filtered by status and rule", () => {
    const db = openStore(join(tempDir(), "hv.db"));
    for (const n of [1, 2, 3, 4]) insertAlert(db, alert(n, n === 4 ? { status: "closed" } : {}));
    expect(listAlerts(db).map((a) => a.count)).toEqual([4, 3, 2, 1]);
    expect(listAlerts(db, { status: "open" }).map((a) => a.count)).toEqual([3, 2, 1]);
    expect(listAlerts(db, { ruleId: "rule-1", status: "open" }).map((a) => a.count)).toEqual([3, 1]);
    expect(listAlerts(db, { limit: 1 }).map((a) => a.count)).toEqual([4]);
    db.close();
  });
});

describe("actions", () => {
  it("round-trip through insert and get, and list by alert and status in order", () => {
    const db = openStore(join(tempDir(), "hv.db"));
    const alertId = insertAlert(db, alert(1));
    const first = insertAction(db, { alertId, playbook: "quarantine", action: "firewall.isolate", mode: "monitor", status: "recorded", detail: { tap: "vnet0" } });
    const second = insertAction(db, {
      alertId,
      playbook: "quarantine",
      action: "vm.pause",
      mode: "automatic",
      status: "done",
      approvedBy: "alice",
      started: 10,
      finished: 20,
      result: "ok",
      undo: "vm.resume",
    });
    insertAction(db, { playbook: "manual", action: "forensics.dump", mode: "interactive", status: "queued" });

    expect(getAction(db, first)).toEqual({
      id: first,
      alertId,
      playbook: "quarantine",
      action: "firewall.isolate",
      mode: "monitor",
      status: "recorded",
      approvedBy: null,
      started: null,
      finished: null,
      result: null,
      undo: null,
      detail: { tap: "vnet0" },
    });
    expect(getAction(db, second)).toMatchObject({ approvedBy: "alice", started: 10, finished: 20, result: "ok", undo: "vm.resume", detail: undefined });
    expect(listActions(db, { alertId }).map((a) => a.id)).toEqual([first, second]);
    expect(listActions(db, { status: "queued" }).map((a) => a.alertId)).toEqual([null]);
    expect(listActions(db)).toHaveLength(3);
    expect(getAction(db, 999)).toBeUndefined();
    db.close();
  });
});
