// desiredFirewallState from a real SQLite store with enforcements: quarantines, blocks and rate
// limits become state sections; allowlisted VMs and addresses, and details that cannot be
// applied, are left out with their reason; a VM's live taps win over the stored ones.

import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type Database from "better-sqlite3";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { desiredFirewallState } from "../../src/firewall/sync.js";
import { parseEntry } from "../../src/firewall/addresses.js";
import { buildTables } from "../../src/firewall/build.js";
import { buildAllowlist } from "../../src/events/allowlist.js";
import { enforce, releaseEnforcement } from "../../src/store/enforcements.js";
import { openStore } from "../../src/store/open.js";

const allowlist = buildAllowlist({ vms: ["mgmt"], networks: ["10.1.0.0/16", "2001:db8:aa::/48"], hostAddresses: false, managementInterfaces: [] });

describe("desiredFirewallState with enforcements", () => {
  let dir: string;
  let db: Database.Database;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "hvfwq-desired-"));
    db = openStore(join(dir, "hv.db"));
    enforce(db, { kind: "quarantine", target: "web1", detail: { taps: ["vnet3"], keep: ["10.0.0.5", "bogus", "0.0.0.0/0"] } });
    enforce(db, { kind: "quarantine", target: "mgmt", detail: { taps: ["vnet1"] } });
    enforce(db, { kind: "quarantine", target: "bad name", detail: { taps: ["vnet8"] } });
    enforce(db, { kind: "quarantine", target: "gone", detail: { taps: ["vnet4"] } });
    releaseEnforcement(db, "quarantine", "gone", "test", "released");
    enforce(db, { kind: "rate_limit", target: "bulk", detail: { taps: ["vnet7"], bytesPerSecond: 125_000 } });
    enforce(db, { kind: "rate_limit", target: "fast", detail: { taps: ["vnet6"], bytesPerSecond: "lots" } });
    for (const target of ["203.0.113.9", "2001:db8:5::/48", "10.1.2.3", "2001:db8:aa::1", "nonsense", "0.0.0.0/0"]) enforce(db, { kind: "block", target });
  });

  afterAll(async () => {
    db?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("builds the sections from the active rows and leaves out the allowlisted and the unusable, saying why", () => {
    const { state, skipped } = desiredFirewallState(db, { allowlist, taps: ["vnet0"] });
    expect(state.quarantines).toEqual([{ vm: "web1", taps: ["vnet3"], keep: ["10.0.0.5"] }]);
    expect(state.rateLimits).toEqual([{ vm: "bulk", taps: ["vnet7"], bytesPerSecond: 125_000 }]);
    expect(state.blocks).toEqual({ v4: ["203.0.113.9"], v6: ["2001:db8:5::/48"] });
    const why = Object.fromEntries(skipped.map((s) => [`${s.enforcement!.kind} ${s.value}`, s.reason]));
    expect(why).toEqual({
      "quarantine bogus": expect.stringMatching(/keep: not an address/),
      "quarantine 0.0.0.0/0": expect.stringMatching(/covers every address/),
      "quarantine mgmt": expect.stringMatching(/^allowlisted: VM mgmt/),
      "quarantine bad name": expect.stringMatching(/VM name/),
      "rate_limit lots": expect.stringMatching(/bytesPerSecond/),
      "block 10.1.2.3": expect.stringMatching(/^allowlisted: 10\.1\.2\.3 overlaps 10\.1\.0\.0\/16/),
      "block 2001:db8:aa::1": expect.stringMatching(/^allowlisted/),
      "block nonsense": "not an address or CIDR",
      "block 0.0.0.0/0": expect.stringMatching(/covers every address/),
    });
    // What is left always builds: nothing the store holds can make the whole reconcile fail.
    expect(buildTables(state).map((t) => t.family)).toEqual(["inet", "netdev"]);
  });

  it("a quarantined VM whose taps changed gets the new ones (the agent's inventory); an unknown VM keeps its stored taps", () => {
    const vmTaps = (vm: string): string[] | undefined => (vm === "web1" ? ["vnet9", "vnet10"] : undefined);
    const { state } = desiredFirewallState(db, { allowlist, vmTaps });
    expect(state.quarantines).toEqual([{ vm: "web1", taps: ["vnet9", "vnet10"], keep: ["10.0.0.5"] }]);
    expect(state.rateLimits![0]!.taps).toEqual(["vnet7"]);
    const tables = buildTables(state);
    expect(tables[1]!.chains.map((c) => c.name)).toContain("quarantine_vnet10_ingress");
    expect(tables[1]!.chains.map((c) => c.name)).not.toContain("quarantine_vnet3_ingress");
  });

  it("property: no set of enforcements puts an allowlisted VM or address into the tables", () => {
    const vms = ["mgmt", "web1", "db2", "cache"];
    const addrs = ["10.1.0.7", "10.1.0.0/24", "10.0.0.0/8", "203.0.113.4", "2001:db8:aa::5", "2001:db8::/32", "198.51.100.0/24", "::ffff:10.1.2.3"];
    const row = fc.oneof(
      fc.record({ kind: fc.constant("quarantine" as const), target: fc.constantFrom(...vms), keep: fc.subarray(addrs) }),
      fc.record({ kind: fc.constant("rate_limit" as const), target: fc.constantFrom(...vms), keep: fc.constant([]) }),
      fc.record({ kind: fc.constant("block" as const), target: fc.constantFrom(...addrs), keep: fc.constant([]) }),
    );
    fc.assert(
      fc.property(fc.array(row, { maxLength: 12 }), (rows) => {
        const d = openStore(":memory:");
        try {
          rows.forEach((r, i) => enforce(d, { kind: r.kind, target: r.target, detail: { taps: [`vnet${i}`], keep: r.keep, bytesPerSecond: 1000 } }));
          const { state } = desiredFirewallState(d, { allowlist });
          for (const q of [...(state.quarantines ?? []), ...(state.rateLimits ?? [])]) expect(allowlist.vm({ name: q.vm })).toBeUndefined();
          for (const b of [...(state.blocks?.v4 ?? []), ...(state.blocks?.v6 ?? [])]) {
            expect(allowlist.address(b)).toBeUndefined();
            expect(parseEntry(b)).toBeDefined();
          }
          buildTables(state);
        } finally {
          d.close();
        }
      }),
      { numRuns: 60 },
    );
  });
});
