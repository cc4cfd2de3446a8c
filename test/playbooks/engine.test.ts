import { describe, expect, it } from "vitest";
import type { ActionRegistry } from "../../src/playbooks/action.js";
import { createResponder, type ResponderOptions } from "../../src/playbooks/engine.js";
import { parsePlaybooks } from "../../src/playbooks/load.js";
import type { Playbook } from "../../src/playbooks/schema.js";
import { getAction, insertAction, listActions } from "../../src/store/actions.js";
import { activeEnforcement, activeEnforcements, enforce } from "../../src/store/enforcements.js";
import { openStore } from "../../src/store/open.js";
import type { AllowlistSpec } from "../../src/events/allowlist.js";
import type { Alert } from "../../src/events/alert.js";
import { alertOf, recordingAction, recordingEnv, recordingRegistry, tempStore, type Call } from "./helpers.js";

const HOUR = 3_600_000;

function playbook(yaml: string, registry: ActionRegistry): Playbook {
  const [pb] = parsePlaybooks(yaml, "test.yml", registry);
  if (!pb || "problems" in pb) throw new Error(JSON.stringify(pb));
  return pb;
}

function setup(yaml: string | string[], o: { allow?: AllowlistSpec; response?: ResponderOptions["response"]; registry?: (calls: Call[]) => ActionRegistry } = {}) {
  const { db, path } = tempStore();
  const calls: Call[] = [];
  const registry = o.registry ? o.registry(calls) : recordingRegistry(calls);
  const clock = { t: Date.now() };
  const env = recordingEnv(db, calls, o.allow);
  const playbooks = (Array.isArray(yaml) ? yaml : [yaml]).map((y) => playbook(y, registry));
  const responder = createResponder({ db, registry, playbooks, env, now: () => clock.t, ...(o.response ? { response: o.response } : {}) });
  const fire = (a: Alert = alertOf()) => responder.onAlert({ alert: a, isNew: true });
  return { db, path, calls, clock, responder, fire, env, registry, playbooks };
}

const escape = (mode: string, extra = ""): string => `id: escape
title: escape
mode: ${mode}
match: {rules: ["caa1bc1b-*"]}
actions:
  - action: quarantine_vm
  - action: notify
${extra}`;

describe("responder: modes", () => {
  it("monitor records what it would do and calls nothing at all", async () => {
    const s = setup(escape("monitor", "ttl: 1h"));
    const [d] = await s.fire();
    expect(d!.actions.map((a) => [a.action, a.status, a.target, a.mode])).toEqual([
      ["quarantine_vm", "recorded", "vm:web1", "monitor"],
      ["notify", "recorded", "host", "monitor"],
    ]);
    expect(d!.actions[0]!.result).toBe("would run quarantine_vm on vm:web1");
    await s.responder.tick(s.clock.t + 2 * HOUR);
    expect(s.calls).toEqual([]);
    expect(activeEnforcements(s.db)).toEqual([]);
  });

  it("response.mode monitor turns an automatic playbook into monitor", async () => {
    const s = setup(escape("automatic"), { response: { mode: "monitor" } });
    const [d] = await s.fire();
    expect(d!.actions.map((a) => [a.status, a.mode])).toEqual([
      ["recorded", "monitor"],
      ["recorded", "monitor"],
    ]);
    expect(d!.actions[0]!.result).toMatch(/response.mode is monitor/);
    await s.responder.tick();
    expect(s.calls).toEqual([]);
  });

  it("interactive queues; approve runs it here, deny means it never runs", async () => {
    const s = setup(escape("interactive"));
    const [d] = await s.fire();
    const [q, n] = d!.actions;
    expect([q!.status, n!.status]).toEqual(["pending", "pending"]);
    await s.responder.tick(s.clock.t + HOUR);
    expect(s.calls).toEqual([]);
    const ran = await s.responder.approve(q!.id, "alice");
    expect(ran).toMatchObject({ status: "done", approvedBy: "alice" });
    expect(s.calls.filter((c) => c.what === "run:quarantine_vm")).toEqual([expect.objectContaining({ by: "user:alice", target: { kind: "vm", name: "web1", uuid: "11111111-2222-3333-4444-555555555555" } })]);
    await expect(s.responder.approve(q!.id, "alice")).rejects.toThrow(/is done, not pending/);
    const { denyAction } = await import("../../src/store/actions.js");
    expect(denyAction(s.db, n!.id, "bob", "noise")).toBe(true);
    await s.responder.tick(s.clock.t + HOUR);
    expect(s.calls.some((c) => c.what === "run:notify")).toBe(false);
    expect(getAction(s.db, n!.id)!.status).toBe("denied");
  });

  it("automatic with a delay schedules; the tick runs it once due, in order", async () => {
    const s = setup(escape("automatic", "delay: 2m"));
    const [d] = await s.fire();
    expect(d!.actions.map((a) => [a.status, a.notBefore])).toEqual([
      ["scheduled", s.clock.t + 120_000],
      ["scheduled", s.clock.t + 120_000],
    ]);
    await s.responder.tick(s.clock.t + 119_999);
    expect(s.calls).toEqual([]);
    s.clock.t += 120_000;
    const r = await s.responder.tick();
    expect(r.ran.map((a) => [a.action, a.status])).toEqual([
      ["quarantine_vm", "done"],
      ["notify", "done"],
    ]);
    expect(s.calls.filter((c) => c.what.startsWith("run:")).map((c) => c.what)).toEqual(["run:quarantine_vm", "run:notify"]);
    expect(activeEnforcement(s.db, "quarantine", "web1")?.createdBy).toBe("playbook:escape");
  });

  it("automatic without delay runs now; a failed action is recorded and the rest still run", async () => {
    const s = setup(escape("automatic").replace("  - action: notify", "  - action: broken\n  - action: notify"), {
      registry: (calls) => recordingRegistry(calls, [recordingAction("broken", { calls, fail: "boom" })]),
    });
    const [d] = await s.fire();
    expect(d!.actions.map((a) => [a.action, a.status, a.result])).toEqual([
      ["quarantine_vm", "done", expect.stringContaining("quarantine_vm ran")],
      ["broken", "failed", "boom"],
      ["notify", "done", expect.stringContaining("notify ran")],
    ]);
    expect(d!.actions[0]!.undo).toBe("undo quarantine_vm");
  });
});

describe("responder: repeats", () => {
  it("the same alert update twice acts once", async () => {
    const s = setup(escape("automatic", "cooldown: 0s"));
    const a = alertOf();
    await s.fire(a);
    const [again] = await s.fire(a);
    expect(again!.outcome).toBe("duplicate");
    expect(listActions(s.db)).toHaveLength(2);
    // The alert counted again is a new update (no cooldown here).
    const [grown] = await s.fire({ ...a, count: 2 });
    expect(grown!.outcome).toBe("acted");
  });

  it("cooldown per playbook and entity", async () => {
    const s = setup(escape("automatic", "cooldown: 10m"));
    await s.fire(alertOf());
    expect((await s.fire(alertOf()))[0]!.outcome).toBe("cooldown");
    expect((await s.fire(alertOf({ vm: { name: "db1" }, entity: { kind: "vm", id: "db1" } })))[0]!.outcome).toBe("acted");
    s.clock.t += 10 * 60_000 + 1;
    expect((await s.fire(alertOf()))[0]!.outcome).toBe("acted");
  });

  it("rate limit: further firings are refused and recorded, and do not count", async () => {
    const s = setup(escape("automatic", "cooldown: 0s\nrate_limit: 2/1h").replace("  - action: quarantine_vm\n", ""));
    const out = [];
    for (const vm of ["a", "b", "c", "d"]) out.push((await s.fire(alertOf({ vm: { name: vm }, entity: { kind: "vm", id: vm } })))[0]!);
    expect(out.map((d) => d.outcome)).toEqual(["acted", "acted", "rate-limited", "rate-limited"]);
    expect(out[2]!.actions[0]).toMatchObject({ status: "refused", result: "rate limit: playbook escape acted 2 times in 1h" });
    expect(s.calls.filter((c) => c.what === "run:notify")).toHaveLength(2);
    s.clock.t += HOUR + 1;
    expect((await s.fire(alertOf({ vm: { name: "e" }, entity: { kind: "vm", id: "e" } })))[0]!.outcome).toBe("acted");
  });
});

describe("responder: safety", () => {
  it("always_confirm (playbook list, step flag, config) keeps an action pending in automatic mode", async () => {
    const yaml = escape("automatic").replace("  - action: notify", "  - action: notify\n  - action: block_ip\n    always_confirm: true");
    for (const [extra, response] of [["always_confirm: [quarantine_vm]", undefined], ["", { alwaysConfirm: ["quarantine_vm"] }]] as Array<[string, { alwaysConfirm: string[] } | undefined]>) {
      const s = setup(yaml + extra, response ? { response } : {});
      const [d] = await s.fire(alertOf({ source: { ip: "203.0.113.7" } }));
      expect(d!.actions.map((a) => [a.action, a.status])).toEqual([
        ["quarantine_vm", "pending"],
        ["notify", "done"],
        ["block_ip", "pending"],
      ]);
      expect(d!.actions[0]!.result).toMatch(/waits for approval \(always confirm quarantine_vm\)/);
    }
  });

  it("refuses allowlisted targets of every kind, and calls nothing for them", async () => {
    const yaml = `id: all
title: all
mode: automatic
match: {min_severity: low}
actions:
  - action: quarantine_vm
  - action: block_ip
  - action: kill_process
  - action: lock_account
  - action: notify
`;
    const s = setup(yaml, { allow: { vms: ["11111111-2222-3333-4444-555555555555"], networks: ["203.0.113.0/24"], users: ["backup"], processes: ["/usr/sbin/sshd"] } });
    const [d] = await s.fire(alertOf({ source: { ip: "203.0.113.7" }, user: { name: "backup" }, process: { pid: 4242, executable: "/usr/sbin/sshd" } }));
    expect(d!.actions.map((a) => [a.action, a.status])).toEqual([
      ["quarantine_vm", "refused"],
      ["block_ip", "refused"],
      ["kill_process", "refused"],
      ["lock_account", "refused"],
      ["notify", "done"],
    ]);
    expect(d!.actions.slice(0, 4).map((a) => a.result)).toEqual([
      "allowlist: VM 11111111-2222-3333-4444-555555555555 is allowlisted",
      "allowlist: 203.0.113.7 overlaps 203.0.113.0/24 (allowlisted network)",
      "allowlist: /usr/sbin/sshd is allowlisted",
      "allowlist: user backup is allowlisted",
    ]);
    expect(s.calls.map((c) => c.what)).toEqual(["run:notify"]);
  });

  it("an allowlist in force at run time wins over an approval given before", async () => {
    const s = setup(escape("interactive"));
    const [d] = await s.fire();
    // The CLI process that approves has web1 on its allowlist (config changed meanwhile).
    const cli = createResponder({ db: s.db, registry: s.registry, playbooks: [], env: recordingEnv(s.db, s.calls, { vms: ["web1"] }) });
    const r = await cli.approve(d!.actions[0]!.id, "alice");
    expect(r).toMatchObject({ status: "refused", result: "allowlist: VM web1 is allowlisted" });
    expect(s.calls).toEqual([]);
  });

  it("learns a VM's UUID from libvirt before acting, and refuses when the allowlist names VMs by UUID and libvirt cannot say", async () => {
    const uuid = "99999999-2222-3333-4444-555555555555";
    const noUuid = alertOf({ vm: { name: "web1" } });
    const s = setup(escape("automatic"), { allow: { vms: [uuid] } });
    s.env.vm = recordingEnv(s.db, s.calls, {}, { web1: uuid }).vm;
    const [d] = await s.fire(noUuid);
    expect(d!.actions[0]).toMatchObject({ status: "refused", result: `allowlist: VM ${uuid} is allowlisted` });
    const t = setup(escape("automatic"), { allow: { vms: [uuid] } });
    const [e] = await t.fire(noUuid);
    expect(e!.actions[0]).toMatchObject({ status: "refused", result: "allowlist: cannot learn the UUID of VM web1 from libvirt, and the allowlist names VMs by UUID" });
    expect([...s.calls, ...t.calls].filter((c) => c.what === "run:quarantine_vm")).toEqual([]);
  });

  it("the global quarantine limit refuses quarantines past the hourly maximum, at decision and at run time", async () => {
    const s = setup(escape("automatic", "cooldown: 0s"), { response: { maxQuarantinesPerHour: 2 } });
    const vm = (name: string) => alertOf({ vm: { name }, entity: { kind: "vm", id: name } });
    await s.fire(vm("a"));
    await s.fire(vm("b"));
    const [third] = await s.fire(vm("c"));
    expect(third!.actions[0]).toMatchObject({ status: "refused", result: "limit: 2 quarantines in the last hour (response.maxQuarantinesPerHour 2)" });
    expect(third!.actions[1]!.status).toBe("done");
    // Quarantining a VM already quarantined starts nothing, so it is not refused.
    expect((await s.fire({ ...vm("a"), count: 5 }))[0]!.actions[0]!.status).toBe("done");
    // A row approved later is checked again when it is claimed.
    const pending = insertAction(s.db, { playbook: "escape", action: "quarantine_vm", mode: "interactive", status: "pending", target: "vm:d", detail: { target: { kind: "vm", name: "d" } } });
    expect(await s.responder.approve(pending, "alice")).toMatchObject({ status: "refused", result: expect.stringMatching(/^limit: 2 quarantines/) });
    // An hour later there is room again.
    s.clock.t += HOUR + 1000;
    expect((await s.fire(vm("e")))[0]!.actions[0]!.status).toBe("done");
    expect(activeEnforcements(s.db, "quarantine").map((e) => e.target)).toEqual(["a", "b", "e"]);
  });

  it("a person's manual action goes through the same allowlist and limit", async () => {
    const s = setup([], { allow: { vms: ["prod"] }, response: { maxQuarantinesPerHour: 1 } });
    const refused = await s.responder.act({ action: "quarantine_vm", target: { kind: "vm", name: "prod" }, by: "alice" });
    expect(refused).toMatchObject({ status: "refused", playbook: "manual", approvedBy: "alice" });
    const done = await s.responder.act({ action: "quarantine_vm", target: { kind: "vm", name: "web1" }, params: { keep: ["10.0.0.5"] }, ttlMs: HOUR, by: "alice" });
    expect(done).toMatchObject({ status: "done", expires: s.clock.t + HOUR });
    expect(s.calls.find((c) => c.what === "run:quarantine_vm")).toMatchObject({ by: "user:alice", expires: s.clock.t + HOUR });
    expect(await s.responder.act({ action: "quarantine_vm", target: { kind: "vm", name: "web2" }, by: "alice" })).toMatchObject({ status: "refused", result: expect.stringMatching(/^limit: 1 quarantines/) });
  });
});

describe("responder: TTL, races and restarts", () => {
  it("undoes a done reversible action when its TTL runs out, through tick", async () => {
    const s = setup(escape("automatic", "ttl: 1h"));
    const [d] = await s.fire();
    const q = d!.actions[0]!;
    expect(q.expires).toBe(s.clock.t + HOUR);
    expect(activeEnforcement(s.db, "quarantine", "web1")?.expires).toBe(s.clock.t + HOUR);
    expect((await s.responder.tick(s.clock.t + HOUR - 1)).undone).toEqual([]);
    const r = await s.responder.tick(s.clock.t + HOUR);
    expect(r.undone.map((u) => u.ok)).toEqual([true]);
    expect(getAction(s.db, q.id)).toMatchObject({ status: "done", undoneBy: "ttl" });
    expect(s.calls.filter((c) => c.what.startsWith("undo:"))).toEqual([expect.objectContaining({ what: "undo:quarantine_vm", by: "ttl" })]);
    expect(activeEnforcement(s.db, "quarantine", "web1")).toBeUndefined();
    // Once only.
    await s.responder.tick(s.clock.t + 2 * HOUR);
    expect(s.calls.filter((c) => c.what.startsWith("undo:"))).toHaveLength(1);
  });

  it("releases expired enforcements and syncs the firewall, across a restart (a new responder on the same file)", async () => {
    const s = setup([]);
    enforce(s.db, { kind: "block", target: "198.51.100.9", expires: s.clock.t + 1000, createdBy: "user:alice" });
    const restarted = createResponder({ db: openStore(s.path), registry: s.registry, playbooks: [], env: s.env, now: () => s.clock.t });
    expect((await restarted.tick(s.clock.t + 999)).released).toBe(0);
    expect((await restarted.tick(s.clock.t + 1000)).released).toBe(1);
    expect(activeEnforcements(s.db)).toEqual([]);
    expect(s.calls.map((c) => c.what)).toEqual(["syncFirewall"]);
  });

  it("two processes ticking one store: a due row runs once", async () => {
    const s = setup(escape("automatic", "delay: 1m").replace("  - action: notify\n", ""));
    let open!: () => void;
    const gate = new Promise<void>((r) => (open = r));
    const calls: Call[] = [];
    const slowRegistry = recordingRegistry(calls, [recordingAction("quarantine_vm", { calls, gate: () => gate })]);
    const a = createResponder({ db: openStore(s.path), registry: slowRegistry, playbooks: [], env: recordingEnv(openStore(s.path), calls), pid: 1001 });
    const b = createResponder({ db: openStore(s.path), registry: slowRegistry, playbooks: [], env: recordingEnv(openStore(s.path), calls), pid: 1002 });
    await s.fire();
    const at = s.clock.t + 60_000;
    const ticks = [a.tick(at), b.tick(at), a.tick(at)];
    await new Promise((r) => setTimeout(r, 50));
    open();
    await Promise.all(ticks);
    expect(calls.filter((c) => c.what === "run:quarantine_vm")).toHaveLength(1);
    expect(listActions(s.db)[0]).toMatchObject({ status: "done" });
  });

  it("at start, a row left running by a dead process runs again; a live owner's row is left alone", async () => {
    const s = setup([]);
    const detail = { target: { kind: "vm", name: "web1" }, trigger: { firing: "x", entity: "vm:web1" } };
    const dead = insertAction(s.db, { playbook: "escape", action: "quarantine_vm", mode: "automatic", status: "running", ownerPid: 4_000_000, target: "vm:web1", detail });
    const live = insertAction(s.db, { playbook: "escape", action: "notify", mode: "automatic", status: "running", ownerPid: process.ppid, target: "host", detail: { target: { kind: "host" } } });
    const back = s.responder.recover();
    expect(back.map((a) => [a.id, a.status])).toEqual([[dead, "scheduled"]]);
    await s.responder.tick();
    expect(getAction(s.db, dead)).toMatchObject({ status: "done" });
    expect(getAction(s.db, live)).toMatchObject({ status: "running", ownerPid: process.ppid });
    expect(s.calls.filter((c) => c.what.startsWith("run:")).map((c) => c.what)).toEqual(["run:quarantine_vm"]);
  });
});
