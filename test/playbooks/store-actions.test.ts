import { describe, expect, it } from "vitest";
import {
  approveAction,
  claimAction,
  claimUndo,
  denyAction,
  dueActions,
  expiredActions,
  finishAction,
  finishUndo,
  firedForEntitySince,
  firingExists,
  firingsSince,
  getAction,
  insertAction,
  markUndone,
  pendingActions,
  requeueAction,
  runningCount,
} from "../../src/store/actions.js";
import { openStore } from "../../src/store/open.js";
import { tempStore } from "./helpers.js";

const base = { playbook: "pb", action: "quarantine_vm", mode: "automatic" };

describe("store: the engine's side of actions", () => {
  it("claims a row for one process only, also through a second handle on the same file", () => {
    const { db, path } = tempStore();
    const other = openStore(path);
    const id = insertAction(db, { ...base, status: "approved" });
    expect(claimAction(db, id, 111, ["approved"])).toBe(true);
    expect(claimAction(other, id, 222, ["approved"])).toBe(false);
    expect(getAction(other, id)).toMatchObject({ status: "running", ownerPid: 111 });
    // Only the owner finishes it.
    expect(finishAction(other, id, 222, { status: "done", result: "x" })).toBe(false);
    expect(finishAction(db, id, 111, { status: "done", result: "ok", detail: { a: 1 }, undo: "how", expires: 5000, now: 4000 })).toBe(true);
    expect(getAction(other, id)).toMatchObject({ status: "done", result: "ok", detail: { a: 1 }, undo: "how", expires: 5000, finished: 4000, ownerPid: null });
    other.close();
  });

  it("does not claim a scheduled row before its time", () => {
    const { db } = tempStore();
    const id = insertAction(db, { ...base, status: "scheduled", notBefore: 10_000 });
    expect(dueActions(db, 9_999)).toEqual([]);
    expect(claimAction(db, id, 1, ["scheduled"], 9_999)).toBe(false);
    expect(dueActions(db, 10_000).map((a) => a.id)).toEqual([id]);
    expect(claimAction(db, id, 1, ["scheduled"], 10_000)).toBe(true);
  });

  it("approves only pending rows, denies pending and scheduled ones", () => {
    const { db } = tempStore();
    const p = insertAction(db, { ...base, status: "pending" });
    const s = insertAction(db, { ...base, status: "scheduled", notBefore: 1 });
    const d = insertAction(db, { ...base, status: "done" });
    expect(pendingActions(db).map((a) => a.id)).toEqual([p]);
    expect(approveAction(db, s, "alice")).toBe(false);
    expect(approveAction(db, p, "alice")).toBe(true);
    expect(approveAction(db, p, "bob")).toBe(false);
    expect(getAction(db, p)).toMatchObject({ status: "approved", approvedBy: "alice" });
    expect(denyAction(db, s, "bob", "false positive", 7)).toBe(true);
    expect(getAction(db, s)).toMatchObject({ status: "denied", approvedBy: "bob", result: "denied by bob: false positive", finished: 7 });
    expect(denyAction(db, d, "bob")).toBe(false);
    expect(denyAction(db, p, "bob")).toBe(false);
  });

  it("undo: expired rows, one claimer, success marks undone, failure retries later", () => {
    const { db } = tempStore();
    const id = insertAction(db, { ...base, status: "done", expires: 100 });
    expect(expiredActions(db, 99)).toEqual([]);
    expect(expiredActions(db, 100).map((a) => a.id)).toEqual([id]);
    expect(claimUndo(db, id, 5)).toBe(true);
    expect(claimUndo(db, id, 6)).toBe(false);
    finishUndo(db, id, 5, { ok: false, by: "ttl", result: "libvirt down", retryAt: 160, now: 100 });
    expect(getAction(db, id)).toMatchObject({ status: "done", undone: null, expires: 160, detail: { undo: { ok: false, result: "libvirt down" } } });
    expect(claimUndo(db, id, 5)).toBe(true);
    finishUndo(db, id, 5, { ok: true, by: "ttl", result: "released", now: 170 });
    expect(getAction(db, id)).toMatchObject({ status: "done", undone: 170, undoneBy: "ttl" });
    expect(expiredActions(db, 1000)).toEqual([]);
    expect(markUndone(db, id, "user:x")).toBe(false);
  });

  it("requeues a dead owner's row to where it came from", () => {
    const { db } = tempStore();
    const auto = insertAction(db, { ...base, status: "running", ownerPid: 999_999 });
    const approved = insertAction(db, { ...base, status: "running", ownerPid: 999_999, approvedBy: "alice" });
    const undoing = insertAction(db, { ...base, status: "undoing", ownerPid: 999_999 });
    expect(requeueAction(db, auto, 123)).toBe(false);
    expect(requeueAction(db, auto, 999_999)).toBe(true);
    expect(requeueAction(db, approved, 999_999)).toBe(true);
    expect(requeueAction(db, undoing, 999_999)).toBe(true);
    expect([auto, approved, undoing].map((id) => getAction(db, id)!.status)).toEqual(["scheduled", "approved", "done"]);
    expect(runningCount(db, ["quarantine_vm"], -1)).toBe(0);
  });

  it("finds firings for dedupe, cooldown and the rate limit", () => {
    const { db } = tempStore();
    const row = (firing: string, entity: string, created: number, limited = false): number =>
      insertAction(db, { ...base, status: "recorded", created, detail: { trigger: { firing, entity, ...(limited ? { limited: true } : {}) } } });
    row("f1", "vm:a", 1000);
    row("f1", "vm:a", 1000);
    row("f2", "vm:b", 2000);
    row("f3", "vm:c", 3000, true);
    expect(firingExists(db, "pb", "f1")).toBe(true);
    expect(firingExists(db, "other", "f1")).toBe(false);
    expect(firedForEntitySince(db, "pb", "vm:a", 1000)).toBe(true);
    expect(firedForEntitySince(db, "pb", "vm:a", 1001)).toBe(false);
    // Two rows of one firing count once; a firing the rate limit refused does not count.
    expect(firingsSince(db, "pb", 0)).toBe(2);
    expect(firingsSince(db, "pb", 1500)).toBe(1);
  });
});
