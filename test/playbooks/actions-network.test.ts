// quarantine_vm, release_vm, block_ip, rate_limit_vm against a real SQLite store. The VM is the
// "test" domain of libvirt's test:///default driver (real virsh, no daemon); the firewall sync is
// a recording function (test/firewall covers nft, the E2E test the whole path).

import fc from "fast-check";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { parseEntry } from "../../src/events/address.js";
import { getAction } from "../../src/store/actions.js";
import { activeEnforcement, activeEnforcements, listEnforcements } from "../../src/store/enforcements.js";
import { blockIp, remoteAddress } from "../../src/playbooks/actions/block-ip.js";
import { ActionError } from "../../src/events/errors.js";
import { quarantineVm, releaseVm } from "../../src/playbooks/actions/quarantine.js";
import { parseRateText, rateLimitVm } from "../../src/playbooks/actions/rate-limit.js";
import { makeAlert, makeTestEnv, prepareRun, runAction, type TestEnv } from "./actions-env.js";

const TEST_VM_UUID = "6695eb01-f6a4-8304-79aa-97f2502e193f";
const vmAlert = makeAlert({ entity: { kind: "vm", id: "test" }, vm: { name: "test" } });

let t: TestEnv;
beforeEach(async () => {
  t = await makeTestEnv({ allowlist: { networks: ["203.0.113.0/28"], vms: ["protected-vm"] } });
});
afterEach(async () => {
  await t.close();
});

describe("quarantine_vm / release_vm", () => {
  it("records one quarantine with taps, keep and the VM's UUID; twice is unchanged; sync runs", async () => {
    const { outcome } = await runAction(t, quarantineVm, { alert: vmAlert, params: { keep: ["10.9.8.7", "10.9.0.0/16"] } });
    expect(outcome.unchanged).toBeFalsy();
    const q = activeEnforcement(t.env.db, "quarantine", "test")!;
    expect(q.detail).toEqual({ uuid: TEST_VM_UUID, taps: ["vnet-fake0"], keep: ["10.9.8.7", "10.9.0.0/16"] });
    expect(q.createdBy).toBe("playbook:test");
    expect(q.expires).toBeNull();
    expect(t.syncs).toBe(1);

    const again = await runAction(t, quarantineVm, { alert: vmAlert });
    expect(again.outcome.unchanged).toBe(true);
    expect(listEnforcements(t.env.db, { kind: "quarantine" })).toHaveLength(1);
    // Synced again: a crash between the store write and the sync must heal on a retry.
    expect(t.syncs).toBe(2);
  });

  it("undo releases; a second undo is unchanged", async () => {
    const { run } = await runAction(t, quarantineVm, { alert: vmAlert, by: "user:alice" });
    const undone = await quarantineVm.reversible!.undo({ ...run, by: "user:bob" });
    expect(undone.unchanged).toBeFalsy();
    expect(activeEnforcement(t.env.db, "quarantine", "test")).toBeUndefined();
    const released = listEnforcements(t.env.db, { kind: "quarantine" })[0]!;
    expect(released.releasedBy).toBe("user:bob");
    expect(t.syncs).toBe(2);
    expect((await quarantineVm.reversible!.undo(run)).unchanged).toBe(true);
  });

  it("a TTL undo leaves a quarantine someone else holds longer", async () => {
    const soon = Date.now() - 1;
    const first = await runAction(t, quarantineVm, { alert: vmAlert, expires: soon });
    // A person quarantines the same VM with no end: the row now has no expiry.
    await runAction(t, quarantineVm, { alert: vmAlert, by: "user:alice" });
    expect(activeEnforcement(t.env.db, "quarantine", "test")!.expires).toBeNull();
    const ttl = await quarantineVm.reversible!.undo({ ...first.run, by: "ttl" });
    expect(ttl.unchanged).toBe(true);
    expect(ttl.result).toMatch(/held until released by hand/);
    expect(activeEnforcement(t.env.db, "quarantine", "test")).toBeDefined();
    // Its own TTL, when nobody extended it, does release.
    await releaseVm.run(prepareRun(t, releaseVm, { alert: vmAlert }));
    const second = await runAction(t, quarantineVm, { alert: vmAlert, expires: Date.now() - 1 });
    expect((await quarantineVm.reversible!.undo({ ...second.run, by: "ttl" })).unchanged).toBeFalsy();
    expect(activeEnforcement(t.env.db, "quarantine", "test")).toBeUndefined();
  });

  it("release_vm releases and is unchanged when there is nothing", async () => {
    expect((await runAction(t, releaseVm, { alert: vmAlert })).outcome.unchanged).toBe(true);
    await runAction(t, quarantineVm, { alert: vmAlert });
    const r = await runAction(t, releaseVm, { alert: vmAlert });
    expect(r.outcome.unchanged).toBeFalsy();
    expect(activeEnforcements(t.env.db)).toHaveLength(0);
    expect(t.syncs).toBe(2);
  });

  it("refuses an allowlisted VM (by name) and a VM libvirt does not know", async () => {
    const protectedAlert = makeAlert({ vm: { name: "protected-vm" }, entity: { kind: "vm", id: "protected-vm" } });
    const err = await runAction(t, quarantineVm, { alert: protectedAlert }).catch((e: unknown) => e);
    // test:///default has no protected-vm: libvirt says not-found first, which is a failure, not a refusal.
    expect(err).toBeInstanceOf(ActionError);
    expect((err as Error).message).toMatch(/no VM named protected-vm/);
    const t2 = await makeTestEnv({ allowlist: { vms: [TEST_VM_UUID] } });
    try {
      const e2 = await runAction(t2, quarantineVm, { alert: vmAlert }).catch((e: unknown) => e);
      expect((e2 as ActionError).refused).toBe(true);
      expect((e2 as Error).message).toMatch(/allowlisted/);
      expect(activeEnforcements(t2.env.db)).toHaveLength(0);
      expect(t2.syncs).toBe(0);
    } finally {
      await t2.close();
    }
  });

  it("a failed sync leaves the quarantine recorded and says so", async () => {
    const t2 = await makeTestEnv({ syncFails: true });
    try {
      const err = await runAction(t2, quarantineVm, { alert: vmAlert }).catch((e: unknown) => e);
      expect((err as Error).message).toMatch(/recorded in the store, but syncing the firewall failed/);
      expect(activeEnforcement(t2.env.db, "quarantine", "test")).toBeDefined();
    } finally {
      await t2.close();
    }
  });

  it("params: keep entries are checked and named by index", () => {
    const bad = quarantineVm.params.safeParse({ keep: ["10.0.0.1", "0.0.0.0/0"] });
    expect(bad.success).toBe(false);
    expect(bad.error!.issues[0]!.path).toEqual(["keep", 1]);
    expect(quarantineVm.params.safeParse({ keep: ["::/0"] }).success).toBe(false);
    expect(quarantineVm.params.safeParse({ keep: ["not-an-ip"] }).error!.issues[0]!.message).toMatch(/not an address/);
    expect(quarantineVm.params.safeParse({ kep: [] }).success).toBe(false);
    expect(quarantineVm.params.parse({ keep: ["10.1.2.3/16"] })).toEqual({ keep: ["10.1.0.0/16"] });
  });

  it("targetOf: vm.name, an entity of kind vm, or an error", () => {
    expect(quarantineVm.targetOf(vmAlert, {})).toEqual({ kind: "vm", name: "test" });
    expect(quarantineVm.targetOf(makeAlert({ entity: { kind: "vm", id: "web1" }, vm: { uuid: "u-1" } }), {})).toEqual({ kind: "vm", name: "web1", uuid: "u-1" });
    expect(quarantineVm.targetOf(makeAlert(), {})).toHaveProperty("error");
    expect(quarantineVm.targetOf(undefined, {})).toHaveProperty("error");
    expect(quarantineVm.targetOf(makeAlert({ vm: { name: "-rf" } }), {})).toHaveProperty("error");
  });
});

describe("block_ip", () => {
  it("blocks the threat-intel address, once; undo unblocks", async () => {
    const alert = makeAlert({
      entity: { kind: "vm", id: "test" },
      vm: { name: "test" },
      source: { ip: "10.1.1.5" },
      destination: { ip: "198.51.100.23" },
      threat: { feed: "f", indicator: "198.51.100.0/24", kind: "cidr", matched: "198.51.100.23", field: "destination.ip" },
    });
    const { outcome, run } = await runAction(t, blockIp, { alert, expires: Date.now() + 60_000 });
    expect(run.target).toEqual({ kind: "ip", address: "198.51.100.23" });
    expect(outcome.unchanged).toBeFalsy();
    const row = activeEnforcement(t.env.db, "block", "198.51.100.23")!;
    expect(row.expires).toBeGreaterThan(Date.now());
    expect(t.syncs).toBe(1);
    expect((await runAction(t, blockIp, { alert })).outcome.unchanged).toBe(true);
    expect(listEnforcements(t.env.db, { kind: "block" })).toHaveLength(1);
    // The second run had no TTL: the block now lasts until released.
    expect(activeEnforcement(t.env.db, "block", "198.51.100.23")!.expires).toBeNull();
    expect((await blockIp.reversible!.undo({ ...run, by: "user:alice" })).unchanged).toBeFalsy();
    expect(activeEnforcement(t.env.db, "block", "198.51.100.23")).toBeUndefined();
    expect((await blockIp.reversible!.undo(run)).unchanged).toBe(true);
  });

  it("the default address rule: threat, the far end of a VM's flow, the blamed address, source.ip", () => {
    const flow = { source: { ip: "10.1.1.5" }, destination: { ip: "192.0.2.80" } };
    expect(remoteAddress(makeAlert({ ...flow, entity: { kind: "vm", id: "web1" }, vm: { name: "web1" } }))).toEqual({ address: "192.0.2.80", from: "destination.ip" });
    expect(remoteAddress(makeAlert({ ...flow, entity: { kind: "ip", id: "10.1.1.5" } }))).toEqual({ address: "10.1.1.5", from: "entity" });
    expect(remoteAddress(makeAlert({ ...flow, entity: { kind: "user", id: "bob" } }))).toEqual({ address: "10.1.1.5", from: "source.ip" });
    const domainHit = { feed: "f", indicator: "evil.example", kind: "domain" as const, matched: "x.evil.example", field: "destination.domain" };
    expect(remoteAddress(makeAlert({ ...flow, entity: { kind: "host", id: "h" }, threat: domainHit }))).toEqual({ address: "10.1.1.5", from: "source.ip" });
    expect(remoteAddress(makeAlert())).toHaveProperty("error");
  });

  it("targetOf: field and address params, canonical text, too broad and special addresses", () => {
    const alert = makeAlert({ source: { ip: "192.0.2.9" }, destination: { ip: "198.51.100.1" } });
    expect(blockIp.targetOf(alert, { field: "destination.ip" })).toEqual({ kind: "ip", address: "198.51.100.1" });
    expect(blockIp.targetOf(alert, { field: "threat" })).toHaveProperty("error");
    expect(blockIp.targetOf(undefined, { address: "2001:DB8:0:0::1" })).toEqual({ kind: "ip", address: "2001:db8::1" });
    expect(blockIp.targetOf(undefined, { address: "198.51.100.77/24" })).toEqual({ kind: "ip", address: "198.51.100.0/24" });
    for (const a of ["0.0.0.0/0", "10.0.0.0/7", "::/0", "2001:db8::/31", "127.0.0.1", "fe80::1", "169.254.169.254"]) {
      expect(blockIp.targetOf(undefined, { address: a }), a).toHaveProperty("error");
    }
    expect(blockIp.targetOf(undefined, {})).toHaveProperty("error");
    expect(blockIp.params.safeParse({ address: "999.1.1.1" }).success).toBe(false);
    expect(blockIp.params.safeParse({ field: "dst" }).error!.issues[0]!.path).toEqual(["field"]);
  });

  it("refuses allowlisted networks (any overlap), even when handed the target directly", async () => {
    const err = await runAction(t, blockIp, { target: { kind: "ip", address: "203.0.113.0/24" } }).catch((e: unknown) => e);
    expect((err as ActionError).refused).toBe(true);
    expect((err as Error).message).toMatch(/203\.0\.113\.0\/28/);
    const wide = await runAction(t, blockIp, { target: { kind: "ip", address: "0.0.0.0/0" } }).catch((e: unknown) => e);
    expect((wide as ActionError).refused).toBe(true);
    expect(activeEnforcements(t.env.db)).toHaveLength(0);
    expect(t.syncs).toBe(0);
  });
});

describe("block_ip never blocks what the allowlist protects (property)", () => {
  const v4 = fc.tuple(fc.constantFrom(10, 192, 198, 203), fc.nat(255), fc.nat(255), fc.nat(255)).map(([a, b, c, d]) => `${a}.${b}.${c}.${d}`);
  const cidr = fc.tuple(v4, fc.integer({ min: 4, max: 32 })).map(([a, l]) => `${a}/${l}`);
  const overlaps = (a: string, b: string): boolean => {
    const x = parseEntry(a)!;
    const y = parseEntry(b)!;
    return x.family === y.family && x.interval.start <= y.interval.end && y.interval.start <= x.interval.end;
  };

  it("whatever the address and the allowlist, a created block overlaps no protected network", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(cidr, { minLength: 1, maxLength: 4 }), fc.oneof(v4, cidr), async (networks, address) => {
        const t2 = await makeTestEnv({ allowlist: { networks, hostAddresses: false, managementInterfaces: [] } });
        try {
          await runAction(t2, blockIp, { target: { kind: "ip", address } }).catch(() => undefined);
          for (const e of activeEnforcements(t2.env.db, "block")) {
            for (const n of networks) expect(overlaps(e.target, n), `${e.target} vs ${n}`).toBe(false);
          }
        } finally {
          await t2.close();
        }
      }),
      { numRuns: 150 },
    );
  });
});

describe("rate_limit_vm", () => {
  it("parses rates", () => {
    expect(parseRateText("1mbit")).toBe(125_000);
    expect(parseRateText("512kbit")).toBe(64_000);
    expect(parseRateText("10mbyte")).toBe(10 * 1024 * 1024);
    expect(parseRateText("1.5 Mbit/s")).toBe(187_500);
    expect(parseRateText("fast")).toBeUndefined();
    expect(rateLimitVm.params.parse({ rate: 4096 })).toEqual({ rate: 4096 });
    expect(rateLimitVm.params.safeParse({ rate: "1bit" }).error!.issues[0]!.path).toEqual(["rate"]);
    expect(rateLimitVm.params.safeParse({}).success).toBe(false);
  });

  it("records the limit once, changes the rate when asked, undo removes it", async () => {
    const { outcome, run } = await runAction(t, rateLimitVm, { alert: vmAlert, params: { rate: "1mbit" } });
    expect(outcome.unchanged).toBeFalsy();
    expect(activeEnforcement(t.env.db, "rate_limit", "test")!.detail).toEqual({ bytesPerSecond: 125_000, taps: ["vnet-fake0"], uuid: TEST_VM_UUID });
    expect((await runAction(t, rateLimitVm, { alert: vmAlert, params: { rate: 125_000 } })).outcome.unchanged).toBe(true);
    const changed = await runAction(t, rateLimitVm, { alert: vmAlert, params: { rate: "2mbit" } });
    expect(changed.outcome.unchanged).toBeFalsy();
    expect(activeEnforcement(t.env.db, "rate_limit", "test")!.detail.bytesPerSecond).toBe(250_000);
    expect(listEnforcements(t.env.db, { kind: "rate_limit" })).toHaveLength(1);
    expect(t.syncs).toBe(3);
    expect((await rateLimitVm.reversible!.undo(run)).unchanged).toBeFalsy();
    expect(activeEnforcement(t.env.db, "rate_limit", "test")).toBeUndefined();
    // The action row is the engine's; the action only touched enforcements.
    expect(getAction(t.env.db, run.actionId)!.action).toBe("rate_limit_vm");
  });
});
