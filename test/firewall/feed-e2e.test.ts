// End to end: a feed served by a real loopback HTTP server syncs into the store (syncFeed), the
// store's desired state is reconciled into a real nft set in a namespace, and real traffic to a
// listed address is dropped (enforce) or counted (monitor). An HTML error page or a poisoned list
// afterwards leaves the previous set in force.

import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { chmod, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type Database from "better-sqlite3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createFirewallSyncer, desiredFirewallState, syncFirewall } from "../../src/firewall/sync.js";
import { syncFeed } from "../../src/feeds/sync.js";
import { validateFeedSpec } from "../../src/feeds/spec.js";
import { listObjects } from "../../src/firewall/nft.js";
import { readStatus } from "../../src/firewall/status.js";
import { addFeed, getFeed, updateFeedSpec } from "../../src/store/feeds.js";
import { openStore } from "../../src/store/open.js";
import { addNetns, deleteAllNetns, link, listen, requireNetnsNft, sh, tcpConnects } from "../helpers/netns-fw.js";

const can = await requireNetnsNft();
const LISTED = "203.0.113.7";
const UNLISTED = "10.212.0.2";
const PORT = 8080;
const GOOD = `# test feed\n${LISTED}\n198.51.100.0/24\n2001:db8:7::/48\n`;

describe.skipIf(!can)("feed → store → nft set → traffic", () => {
  let host: string;
  let remote: string;
  let dir: string;
  let db: Database.Database;
  let server: Server;
  let response: { status: number; type: string; body: string } = { status: 200, type: "text/plain", body: GOOD };
  let stopListener: (() => Promise<void>) | undefined;

  beforeAll(async () => {
    host = await addNetns("e2eh");
    remote = await addNetns("e2er");
    await link({ ns: host, dev: "h0", addrs: ["10.212.0.1/24"] }, { ns: remote, dev: "r0", addrs: [`${UNLISTED}/24`, `${LISTED}/32`] });
    await sh(host, ["ip", "route", "add", "203.0.113.0/24", "via", UNLISTED]);
    stopListener = await listen(remote, "0.0.0.0", PORT);
    server = createServer((_req, res) => {
      res.writeHead(response.status, { "content-type": response.type });
      res.end(response.body);
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    dir = await mkdtemp(join(tmpdir(), "hvfw-e2e-"));
    db = openStore(join(dir, "hv.db"));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/drop.txt`;
    addFeed(db, validateFeedSpec({ name: "e2e-drop", url, format: "plain", action: "block", block: { mode: "enforce", paths: ["output", "input"] } }));
    // An alert-only feed never becomes a set.
    addFeed(db, validateFeedSpec({ name: "e2e-alert", url, format: "plain", action: "alert" }));
  });

  afterAll(async () => {
    db?.close();
    await stopListener?.();
    await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
    await deleteAllNetns();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const sync = () => syncFeed(db, "e2e-drop", { retries: 0, retryBaseMs: 1 });
  const feedRule = async () => (await readStatus({ netns: host })).rules.find((r) => r.path === "output" && r.family === "ip")!;
  const setV4 = async () => (await listObjects(["set", "inet", "hv", "feed_e2e-drop_v4"], { netns: host }))!.find((o) => o.set)!.set!.elem;

  it("a synced block feed becomes an enforced set; traffic to a listed address is dropped", async () => {
    expect(await tcpConnects(host, LISTED, PORT)).toBe(true); // before hv: it works
    expect((await sync()).status).toBe("updated");
    await syncFeed(db, "e2e-alert", { retries: 0 });
    const desired = desiredFirewallState(db, {});
    expect(desired.state.sets.map((s) => s.name)).toEqual(["e2e-drop"]);
    const r = await syncFirewall(db, { netns: host });
    expect(r.action).toBe("replaced");
    expect(await setV4()).toEqual([{ prefix: { addr: "198.51.100.0", len: 24 } }, LISTED]);
    expect(await tcpConnects(host, LISTED, PORT)).toBe(false);
    expect(await tcpConnects(host, UNLISTED, PORT)).toBe(true);
    expect((await feedRule()).packets).toBeGreaterThan(0);
  });

  it("an HTML error page leaves the previous set in force", async () => {
    response = { status: 200, type: "text/html", body: "<!doctype html><html><body><h1>502 Bad Gateway</h1></body></html>" };
    const s = await sync();
    expect(["rejected", "failed"]).toContain(s.status);
    const r = await syncFirewall(db, { netns: host });
    expect(r.action).toBe("unchanged");
    expect(await tcpConnects(host, LISTED, PORT)).toBe(false);
  });

  it("a poisoned list (0.0.0.0/0, ::/0) never reaches the set; the previous set stays in force", async () => {
    response = { status: 200, type: "text/plain", body: "0.0.0.0/0\n::/0\n" };
    expect((await sync()).status).toBe("rejected");
    expect((await syncFirewall(db, { netns: host })).action).toBe("unchanged");
    // The same feed with the poison mixed in: the poison is rejected alone, the rest stays.
    response = { status: 200, type: "text/plain", body: `${GOOD}0.0.0.0/0\n` };
    const s = await sync();
    expect(s.rejected).toBeGreaterThan(0);
    expect((await syncFirewall(db, { netns: host })).action).toBe("unchanged");
    expect(await setV4()).toEqual([{ prefix: { addr: "198.51.100.0", len: 24 } }, LISTED]);
    expect(await tcpConnects(host, LISTED, PORT)).toBe(false);
    expect(await tcpConnects(host, UNLISTED, PORT)).toBe(true);
  });

  it("a grown feed updates only the set (counters kept); monitor mode lets traffic through and counts it", async () => {
    const before = (await feedRule()).packets;
    response = { status: 200, type: "text/plain", body: `${GOOD}192.0.2.77\n` };
    expect((await sync()).status).toBe("updated");
    const r = await syncFirewall(db, { netns: host });
    expect(r.action).toBe("updated-sets");
    expect((await feedRule()).packets).toBe(before);

    updateFeedSpec(db, { ...getFeed(db, "e2e-drop")!, block: { mode: "monitor", paths: ["output", "input"] } });
    expect((await syncFirewall(db, { netns: host })).action).toBe("updated");
    expect(await tcpConnects(host, LISTED, PORT)).toBe(true);
    const rule = await feedRule();
    expect(rule.mode).toBe("monitor");
    expect(rule.packets).toBeGreaterThan(0);
  });

  it("the agent's syncer runs one reconcile at a time and merges requests made meanwhile", async () => {
    const log = join(dir, "nft.log");
    const wrapper = join(dir, "nft-wrapper.sh");
    await writeFile(wrapper, `#!/bin/sh\necho "$*" >> ${log}\nexec nft "$@"\n`);
    await chmod(wrapper, 0o755);
    const syncer = createFirewallSyncer(db, { netns: host, nft: wrapper });
    const [a, b, c] = [syncer.sync(), syncer.sync(), syncer.sync()];
    expect(b).toBe(c);
    expect((await a).action).toBe("unchanged");
    expect((await b).action).toBe("unchanged");
    const lists = (await readFile(log, "utf8")).trim().split("\n").filter((l) => l.includes("list table"));
    expect(lists).toHaveLength(4); // two reconciles, each reading the inet and netdev tables
  });
});
