// The safety property of issue 7: whatever alerts come and whatever automatic playbooks say, no
// action runs against an allowlisted target. Checked three ways: what the (recording) actions were
// asked to do, the store's done actions, and the enforcements in force.

import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { Alert } from "../../src/events/alert.js";
import type { AllowlistSpec } from "../../src/events/allowlist.js";
import type { ActionTarget } from "../../src/playbooks/action.js";
import { createResponder } from "../../src/playbooks/engine.js";
import { parsePlaybooks } from "../../src/playbooks/load.js";
import type { Playbook } from "../../src/playbooks/schema.js";
import { listActions } from "../../src/store/actions.js";
import { activeEnforcements } from "../../src/store/enforcements.js";
import { openStore } from "../../src/store/open.js";
import { alertOf, recordingEnv, recordingRegistry, type Call } from "./helpers.js";

const VMS = ["web1", "db1", "prod", "dev"];
const UUID = (vm: string): string => `00000000-0000-0000-0000-0000000000${VMS.indexOf(vm) + 10}`;
const IPS = ["203.0.113.5", "203.0.113.77", "198.51.100.7", "10.1.2.3", "192.0.2.44"];
const USERS = ["alice", "backup", "root", "svc"];
const EXES = ["/usr/bin/python3", "/usr/sbin/sshd", "/usr/bin/bash"];
const ACTIONS = ["quarantine_vm", "block_ip", "rate_limit_vm", "kill_process", "lock_account"];

const alertArb = fc
  .record({
    vm: fc.option(fc.constantFrom(...VMS), { nil: undefined }),
    withUuid: fc.boolean(),
    ip: fc.option(fc.constantFrom(...IPS), { nil: undefined }),
    user: fc.option(fc.constantFrom(...USERS), { nil: undefined }),
    // Pids far above any live one here, so /proc does not answer for them.
    pid: fc.option(fc.integer({ min: 3_000_000, max: 3_000_100 }), { nil: undefined }),
    exe: fc.constantFrom(...EXES),
    kind: fc.constantFrom("vm", "ip", "user", "process", "host"),
  })
  .map((r): Alert => {
    const entityId = { vm: r.vm, ip: r.ip, user: r.user, process: r.exe, host: "h" }[r.kind] ?? "h";
    return alertOf({
      entity: { kind: r.kind as Alert["entity"]["kind"], id: entityId },
      vm: r.vm ? { name: r.vm, ...(r.withUuid ? { uuid: UUID(r.vm) } : {}) } : undefined,
      source: r.ip ? { ip: r.ip } : undefined,
      user: r.user ? { name: r.user } : undefined,
      process: r.pid !== undefined ? { pid: r.pid, executable: r.exe } : undefined,
    });
  });

const allowArb = fc.record({
  // By name or by UUID: both must protect.
  vms: fc.subarray(VMS).chain((names) => fc.tuple(...names.map((n) => fc.constantFrom(n, UUID(n))))).map((l) => [...l]),
  networks: fc.subarray(IPS).chain((ips) => fc.tuple(...ips.map((ip) => fc.constantFrom(ip, `${ip.split(".").slice(0, 3).join(".")}.0/24`)))).map((l) => [...l]),
  users: fc.subarray(USERS),
  processes: fc.subarray(EXES),
});

const playbookArb = fc.record({
  actions: fc.array(fc.constantFrom(...ACTIONS), { minLength: 1, maxLength: 5 }),
  delay: fc.constantFrom("", "delay: 1m"),
  ttl: fc.constantFrom("", "ttl: 30m"),
});

// The oracle, written apart from the engine's checks.
function inNetwork(ip: string, net: string): boolean {
  return net.endsWith("/24") ? ip.split(".").slice(0, 3).join(".") === net.split(".").slice(0, 3).join(".") : ip === net;
}
function protectedTarget(spec: AllowlistSpec, t: ActionTarget | { kind: string; name?: string; address?: string; executable?: string }): boolean {
  switch (t.kind) {
    case "vm":
      return (spec.vms ?? []).some((v) => v === (t as { name: string }).name || v === UUID((t as { name: string }).name));
    case "ip":
      return (spec.networks ?? []).some((n) => inNetwork((t as { address: string }).address, n));
    case "user":
      return (t as { name: string }).name === "root" || (spec.users ?? []).includes((t as { name: string }).name);
    case "process":
      return (spec.processes ?? []).includes((t as { executable: string }).executable);
    default:
      return false;
  }
}

describe("allowlist property", () => {
  it("no sequence of alerts and automatic playbooks acts on an allowlisted VM, address, user or process", async () => {
    let runs = 0;
    let refusals = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(alertArb, { minLength: 1, maxLength: 6 }), fc.array(playbookArb, { minLength: 1, maxLength: 3 }), allowArb, async (alerts, pbs, spec) => {
        const db = openStore(":memory:");
        const calls: Call[] = [];
        const registry = recordingRegistry(calls);
        const playbooks = pbs.map((p, i): Playbook => {
          const yaml = `id: p${i}\ntitle: p\nmode: automatic\nmatch: {min_severity: informational}\ncooldown: 0s\n${p.delay}\n${p.ttl}\nactions:\n${p.actions.map((a) => `  - action: ${a}`).join("\n")}\n`;
          const [pb] = parsePlaybooks(yaml, "p.yml", registry);
          if (!pb || "problems" in pb) throw new Error(JSON.stringify(pb));
          return pb;
        });
        const clock = { t: Date.now() };
        // What libvirt would answer for a VM's UUID when the alert did not carry it.
        const libvirtUuids = Object.fromEntries(VMS.map((v) => [v, UUID(v)]));
        // A limit high enough that it never hides what the allowlist must do.
        const responder = createResponder({ db, registry, playbooks, env: recordingEnv(db, calls, spec, libvirtUuids), now: () => clock.t, response: { maxQuarantinesPerHour: 1000 } });
        for (const a of alerts) {
          await responder.onAlert({ alert: a, isNew: true });
          clock.t += 45_000;
          await responder.tick();
        }
        clock.t += 3_600_000;
        await responder.tick();

        for (const c of calls.filter((x) => x.what.startsWith("run:"))) {
          runs++;
          expect(protectedTarget(spec, c.target!), `${c.what} on ${JSON.stringify(c.target)} with ${JSON.stringify(spec)}`).toBe(false);
        }
        for (const row of listActions(db)) {
          const target = (row.detail as { target?: ActionTarget } | undefined)?.target;
          if (row.status === "refused" && row.result?.startsWith("allowlist:")) refusals++;
          if (row.status === "done" && target) expect(protectedTarget(spec, target), `row ${JSON.stringify(row)}`).toBe(false);
        }
        for (const e of activeEnforcements(db)) {
          const t = e.kind === "block" ? { kind: "ip", address: e.target } : { kind: "vm", name: e.target };
          expect(protectedTarget(spec, t), `enforcement ${JSON.stringify(e)}`).toBe(false);
        }
        db.close();
      }),
      { numRuns: 150 },
    );
    // The property is only worth something if both sides happened.
    console.log(`allowlist property: ${runs} actions ran, ${refusals} refused by the allowlist`);
    expect(runs).toBeGreaterThan(0);
    expect(refusals).toBeGreaterThan(0);
  });
});
