// The registry: every action the issue lists, strict params that name the bad field, and
// targetOf for each action on alerts with and without the fields it needs.

import { describe, expect, it } from "vitest";
import type { ActionDefinition, ActionTarget } from "../../src/playbooks/action.js";
import { createRegistry } from "../../src/playbooks/registry.js";
import { makeAlert } from "./actions-env.js";

const registry = createRegistry();
const def = (name: string): ActionDefinition<unknown> => registry.get(name) as unknown as ActionDefinition<unknown>;

// Minimal valid params per action (most have none required).
const PARAMS: Record<string, unknown> = { rate_limit_vm: { rate: "1mbit" }, run: { command: "/usr/local/bin/ticket" } };

const full = makeAlert({
  entity: { kind: "vm", id: "web1" },
  vm: { name: "web1", uuid: "0c5f3a9e-0000-4000-8000-000000000001" },
  user: { name: "alice", id: "1001" },
  process: { pid: 4321, executable: "/usr/bin/curl" },
  source: { ip: "10.20.0.5" },
  destination: { ip: "198.51.100.9" },
});
const bare = makeAlert({ entity: { kind: "host", id: "hv1" } });

const EXPECTED: Record<string, { kind: ActionTarget["kind"]; bare: "error" | "host"; none: "error" | "host"; reversible: boolean }> = {
  notify: { kind: "host", bare: "host", none: "error", reversible: false },
  quarantine_vm: { kind: "vm", bare: "error", none: "error", reversible: true },
  release_vm: { kind: "vm", bare: "error", none: "error", reversible: false },
  pause_vm: { kind: "vm", bare: "error", none: "error", reversible: true },
  resume_vm: { kind: "vm", bare: "error", none: "error", reversible: false },
  shutdown_vm: { kind: "vm", bare: "error", none: "error", reversible: false },
  snapshot_vm: { kind: "vm", bare: "error", none: "error", reversible: false },
  backup_vm: { kind: "vm", bare: "error", none: "error", reversible: false },
  forensic_capture: { kind: "vm", bare: "error", none: "error", reversible: false },
  block_ip: { kind: "ip", bare: "error", none: "error", reversible: true },
  rate_limit_vm: { kind: "vm", bare: "error", none: "error", reversible: true },
  capture_pcap: { kind: "vm", bare: "error", none: "error", reversible: false },
  kill_process: { kind: "process", bare: "error", none: "error", reversible: false },
  lock_account: { kind: "user", bare: "error", none: "error", reversible: true },
  run: { kind: "host", bare: "host", none: "host", reversible: false },
};

describe("registry", () => {
  it("has every action of the issue, each with a summary", () => {
    expect([...registry.keys()].sort()).toEqual(Object.keys(EXPECTED).sort());
    for (const [name, d] of registry) {
      expect(d.name).toBe(name);
      expect(d.summary.length).toBeGreaterThan(10);
    }
  });

  it.each(Object.keys(EXPECTED))("%s: strict params naming the unknown key; reversible with how when it can be undone", (name) => {
    const d = def(name);
    expect(d.params.safeParse(PARAMS[name] ?? {}).success).toBe(true);
    const r = d.params.safeParse({ ...(PARAMS[name] as object | undefined), bogus_key: 1 });
    expect(r.success).toBe(false);
    expect(JSON.stringify(r.error!.issues)).toContain("bogus_key");
    expect(d.reversible !== undefined).toBe(EXPECTED[name]!.reversible);
    if (d.reversible) expect(d.reversible.how.length).toBeGreaterThan(5);
  });

  it.each(Object.keys(EXPECTED))("%s: targetOf with and without the fields it needs", (name) => {
    const d = def(name);
    const e = EXPECTED[name]!;
    const params = d.params.parse(PARAMS[name] ?? {});
    const t = d.targetOf(full, params);
    expect("error" in t ? t.error : t.kind).toBe(e.kind);
    const b = d.targetOf(bare, params);
    expect("error" in b ? "error" : b.kind).toBe(e.bare);
    const n = d.targetOf(undefined, params);
    expect("error" in n ? "error" : n.kind).toBe(e.none);
  });

  it("targets name the alert's own entity", () => {
    expect(def("quarantine_vm").targetOf(full, {})).toEqual({ kind: "vm", name: "web1", uuid: "0c5f3a9e-0000-4000-8000-000000000001" });
    expect(def("kill_process").targetOf(full, def("kill_process").params.parse({}))).toEqual({ kind: "process", pid: 4321, executable: "/usr/bin/curl" });
    expect(def("lock_account").targetOf(full, def("lock_account").params.parse({}))).toEqual({ kind: "user", name: "alice" });
    // An alert about a VM's flow: block the far end.
    expect(def("block_ip").targetOf(full, {})).toEqual({ kind: "ip", address: "198.51.100.9" });
  });
});
