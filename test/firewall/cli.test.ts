// `hv firewall status|reconcile|flush` as a user runs them (the built CLI), in a namespace.

import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { validateFeedSpec } from "../../src/feeds/spec.js";
import type { FirewallStatus } from "../../src/firewall/status.js";
import { enforce, releaseEnforcement } from "../../src/store/enforcements.js";
import { addFeed, applyFeedSet, removeFeed } from "../../src/store/feeds.js";
import { openStore } from "../../src/store/open.js";
import { mustSucceed, runHv } from "../helpers/hv-cli.js";
import { addNetns, deleteAllNetns, requireNetnsNft } from "../helpers/netns-fw.js";

const can = await requireNetnsNft();

describe.skipIf(!can)("hv firewall CLI", () => {
  let ns: string;
  let stateDir: string;
  const hv = async (...args: string[]) => mustSucceed(args, await runHv(args, { stateDir, timeoutMs: 30_000 }));

  beforeAll(async () => {
    ns = await addNetns("cli");
    stateDir = await mkdtemp(join(tmpdir(), "hvfw-cli-"));
    const db = openStore(join(stateDir, "hv.db"));
    addFeed(db, validateFeedSpec({ name: "cli-feed", url: "http://127.0.0.1:9/x.txt", format: "plain", action: "block", block: { mode: "monitor", paths: ["input", "output"] } }));
    // The entries as a sync would have stored them.
    applyFeedSet(db, "cli-feed", [{ value: "203.0.113.5", kind: "ip" }, { value: "198.51.100.0/24", kind: "cidr" }, { value: "2001:db8:9::/48", kind: "cidr" }], { now: Date.now(), rejected: 0 });
    // A quarantine as quarantine_vm stores it (libvirt does not know this VM: the stored taps are used).
    enforce(db, { kind: "quarantine", target: "hvfwq-cli-vm", detail: { taps: ["vnet0"], keep: ["10.0.0.5"] } });
    db.close();
  });

  afterAll(async () => {
    await deleteAllNetns();
    if (stateDir) await rm(stateDir, { recursive: true, force: true });
  });

  it("reconcile applies the store's block feeds, then is a no-op", async () => {
    const first = (await hv("firewall", "reconcile", "--netns", ns, "--tap", "vnet0", "--json")).json as { action: string; missingTaps: string[] };
    expect(first.action).toBe("replaced");
    expect(first.missingTaps).toEqual(["vnet0"]);
    const again = (await hv("firewall", "reconcile", "--netns", ns, "--tap", "vnet0", "--json")).json as { action: string };
    expect(again.action).toBe("unchanged");
  });

  it("status shows the feed with its mode, paths and element counts, as a table and as JSON", async () => {
    const status = (await hv("firewall", "status", "--netns", ns, "--json")).json as FirewallStatus;
    expect(status.feeds).toEqual([{ feed: "cli-feed", mode: "monitor", paths: ["input", "output"], v4Elements: 2, v6Elements: 1, packets: 0, bytes: 0 }]);
    const text = (await hv("firewall", "status", "--netns", ns)).stdout;
    expect(text).toMatch(/^cli-feed\s+monitor\s+input,output\s+2\s+1\s+0\s+0$/m);
    // vnet0 does not exist in the namespace: only the forward chain (by name) is there.
    expect(status.quarantines).toEqual([{ vm: "hvfwq-cli-vm", taps: ["vnet0"], keep: ["10.0.0.5"], packets: 0, bytes: 0, keptPackets: 0 }]);
    expect(text).toMatch(/^hvfwq-cli-vm\s+vnet0\s+10\.0\.0\.5\s+0\s+0$/m);
  });

  it("flush removes hv's tables", async () => {
    await hv("firewall", "flush", "--netns", ns);
    const status = (await hv("firewall", "status", "--netns", ns, "--json")).json as FirewallStatus;
    expect(status.tables.some((t) => t.present)).toBe(false);
    // The store still has a feed and a quarantine: a reconcile would bring the tables back.
    expect((await hv("firewall", "status", "--netns", ns)).stdout).toMatch(/no tables here, but the store has 1 block feed\(s\) and 1 enforcement\(s\): run hv firewall reconcile/);
  });

  it("after the last release (and no block feed) an absent table is what should be: no reconcile hint", async () => {
    const db = openStore(join(stateDir, "hv.db"));
    releaseEnforcement(db, "quarantine", "hvfwq-cli-vm", "user:test", "done");
    removeFeed(db, "cli-feed");
    db.close();
    const text = (await hv("firewall", "status", "--netns", ns)).stdout;
    expect(text).toMatch(/the store has nothing to enforce .*: nothing to do/);
    expect(text).not.toMatch(/run hv firewall reconcile/);
  });

  it("a namespace that does not exist is an error, not an empty status", async () => {
    const r = await runHv(["firewall", "status", "--netns", "hvfw-no-such-ns"], { stateDir, timeoutMs: 30_000 });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/Cannot open network namespace/);
  });
});
