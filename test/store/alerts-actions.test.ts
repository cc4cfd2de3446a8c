import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { getAction, insertAction, listActions } from "../../src/store/actions.js";
import { ackAlert, findOpenAlert, getAlert, listAlerts, saveAlert } from "../../src/store/alerts.js";
import type { Alert } from "../../src/events/alert.js";
import { openStore } from "../../src/store/open.js";
import { tempDir } from "./tmp.js";

const alert = (n: number, overrides: Partial<Alert> = {}): Alert => ({
  "@timestamp": new Date(1000 * n + 500).toISOString(),
  first_seen: new Date(1000 * n).toISOString(),
  last_seen: new Date(1000 * n + 500).toISOString(),
  count: n,
  rule: { id: `rule-${n % 2}`, title: `Rule ${n % 2}`, source: "sigma" },
  severity: "high",
  mitre: { tactics: ["execution"], techniques: ["T1059"] },
  entity: { kind: "vm", id: "vm-a" },
  event_ids: [`evt-${n}`, `evt-${n + 1}`],
  status: "open",
  ...overrides,
});

describe("alerts", () => {
  it("round-trip through save and get, and update in place", () => {
    const db = openStore(join(tempDir(), "hv.db"));
    const id = saveAlert(db, alert(1, { vm: { name: "vm-a" } }));
    expect(getAlert(db, id)).toEqual({ id, ...alert(1), vm: { name: "vm-a" } });
    expect(saveAlert(db, { ...getAlert(db, id)!, count: 7 })).toBe(id);
    expect(getAlert(db, id)?.count).toBe(7);
    expect(listAlerts(db)).toHaveLength(1);
    expect(getAlert(db, 999)).toBeUndefined();
    db.close();
  });

  it("list newest first, filtered by status, rule, severity and VM", () => {
    const db = openStore(join(tempDir(), "hv.db"));
    for (const n of [1, 2, 3, 4]) saveAlert(db, alert(n, n === 4 ? { status: "acked", severity: "low" } : n === 2 ? { vm: { name: "web" } } : {}));
    expect(listAlerts(db).map((a) => a.count)).toEqual([4, 3, 2, 1]);
    expect(listAlerts(db, { status: "open" }).map((a) => a.count)).toEqual([3, 2, 1]);
    expect(listAlerts(db, { ruleId: "rule-1", status: "open" }).map((a) => a.count)).toEqual([3, 1]);
    expect(listAlerts(db, { severity: "low" }).map((a) => a.count)).toEqual([4]);
    expect(listAlerts(db, { vmName: "web" }).map((a) => a.count)).toEqual([2]);
    expect(listAlerts(db, { limit: 1 }).map((a) => a.count)).toEqual([4]);
    db.close();
  });

  it("acks, and finds only open alerts of the same rule and entity inside the window", () => {
    const db = openStore(join(tempDir(), "hv.db"));
    const id = saveAlert(db, alert(3));
    expect(findOpenAlert(db, "rule-1", "vm", "vm-a", 3000)?.id).toBe(id);
    expect(findOpenAlert(db, "rule-1", "vm", "vm-a", 3501)).toBeUndefined();
    expect(findOpenAlert(db, "rule-1", "vm", "vm-b", 0)).toBeUndefined();
    expect(ackAlert(db, id)).toBe(true);
    expect(getAlert(db, id)?.status).toBe("acked");
    expect(findOpenAlert(db, "rule-1", "vm", "vm-a", 0)).toBeUndefined();
    expect(ackAlert(db, 999)).toBe(false);
    db.close();
  });
});

describe("actions", () => {
  it("round-trip through insert and get, and list by alert and status in order", () => {
    const db = openStore(join(tempDir(), "hv.db"));
    const alertId = saveAlert(db, alert(1));
    const first = insertAction(db, { alertId, playbook: "quarantine", action: "firewall.isolate", mode: "monitor", status: "recorded", detail: { tap: "vnet0" }, target: "vm:web1", params: { keep: ["10.0.0.5"] }, created: 5, expires: 3_600_005 });
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
      target: "vm:web1",
      params: { keep: ["10.0.0.5"] },
      created: 5,
      notBefore: null,
      expires: 3_600_005,
      undone: null,
      undoneBy: null,
      ownerPid: null,
    });
    expect(getAction(db, second)).toMatchObject({ approvedBy: "alice", started: 10, finished: 20, result: "ok", undo: "vm.resume", detail: undefined });
    expect(listActions(db, { alertId }).map((a) => a.id)).toEqual([first, second]);
    expect(listActions(db, { status: "queued" }).map((a) => a.alertId)).toEqual([null]);
    expect(listActions(db)).toHaveLength(3);
    expect(getAction(db, 999)).toBeUndefined();
    db.close();
  });
});
