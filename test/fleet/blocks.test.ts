// Fleet-wide blocks against a real nats-server and real SQLite stores: an order published to
// hv.fleet.blocks becomes a `block` enforcement on each host, the host's allowlist wins, garbage
// is counted and skipped, a host that starts later (or comes back) catches up through its durable
// consumer, and an unblock lifts only what the fleet made.

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type Database from "better-sqlite3";
import { connect, type NatsConnection } from "nats";
import { Command } from "commander";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { registerFleet } from "../../src/cli/fleet.js";
import { buildAllowlist, type AllowlistSystem } from "../../src/events/allowlist.js";
import { publishBlockOrder, startFleetBlocks, type FleetBlocksHandle } from "../../src/fleet/blocks.js";
import { encode } from "../../src/fleet/messages.js";
import { BLOCKS_SUBJECT } from "../../src/fleet/subjects.js";
import { activeEnforcement, enforce, listEnforcements } from "../../src/store/enforcements.js";
import { openStore } from "../../src/store/open.js";
import { until } from "../outputs/alerts.js";
import { startNatsServer, whyNoNatsServer, type RunningNats } from "../helpers/nats.js";

const inCI = process.env.CI === "true";
const unavailable = whyNoNatsServer();
if (unavailable) console.warn(`\n*** NATS fleet blocks test ${inCI ? "FAILS (CI=true)" : "SKIPPED"}: ${unavailable} ***\n`);

// The allowlist of every test host: 198.51.100.0/24 is protected; no live interfaces, so the
// test does not depend on this machine's addresses.
const NO_INTERFACES: AllowlistSystem = { interfaces: () => ({}), defaultRouteInterfaces: () => [] };
const allowlist = buildAllowlist({ networks: ["198.51.100.0/24"] }, NO_INTERFACES);

interface Agent {
  db: Database.Database;
  handle: FleetBlocksHandle;
  syncs: number;
  reports: string[];
}

describe.skipIf(unavailable !== undefined && !inCI)("fleet blocks (real nats-server, real SQLite)", () => {
  let server: RunningNats;
  let nc: NatsConnection;
  const dir = mkdtempSync(join(tmpdir(), "hv-fleet-blocks-"));
  const agents: Agent[] = [];

  beforeAll(async () => {
    server = await startNatsServer();
    nc = await connect({ servers: server.url });
  });
  afterAll(async () => {
    for (const a of agents) await a.handle.stop();
    for (const a of agents) a.db.close();
    await nc?.close();
    await server?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  async function startAgent(host: string, db = openStore(join(dir, host, "hv.db"))): Promise<Agent> {
    const agent: Agent = { db, syncs: 0, reports: [], handle: undefined as unknown as FleetBlocksHandle };
    agent.handle = startFleetBlocks({
      connection: { servers: [server.url] },
      db,
      host,
      allowlist,
      syncFirewall: async () => void agent.syncs++,
      onReport: (t) => agent.reports.push(t),
    });
    agents.push(agent);
    await agent.handle.ready;
    return agent;
  }

  const order = (op: "block" | "unblock", target: string, extra: { ttlMs?: number; reason?: string } = {}) =>
    publishBlockOrder(nc, { op, target, origin: "ops-laptop", by: "alice", ...extra });

  it("enforces a block, refuses an allowlisted address, skips garbage, and a later host catches up", async () => {
    // The first agent creates the stream and its durable consumer; then the orders come.
    const a = await startAgent("agent-a");
    const js = nc.jetstream();
    const { message } = await order("block", "203.0.113.7/32", { ttlMs: 3_600_000, reason: "C2 seen on web-1" });
    await order("block", "198.51.100.9");
    await js.publish(BLOCKS_SUBJECT, new TextEncoder().encode("\u0000garbage"));
    await js.publish(BLOCKS_SUBJECT, encode({ ...message, id: "bad-1", target: "999.1.1.1" }));
    await js.publish(BLOCKS_SUBJECT, encode({ ...message, id: "bad-2", target: "10.0.0.0/4" }));
    await js.publish(BLOCKS_SUBJECT, encode({ ...message, id: "bad-3", extra: "an unknown field" }));
    // An order whose ttl ran out before it arrived.
    await js.publish(BLOCKS_SUBJECT, encode({ ...message, id: "old-1", target: "203.0.113.99", at: new Date(Date.now() - 7_200_000).toISOString() }));

    await until(() => a.handle.stats().received >= 7, 10_000, "agent-a to take 7 messages");
    expect(a.handle.stats()).toMatchObject({ received: 7, blocked: 1, refused: 1, malformed: 4, expired: 1, errors: 0 });
    const block = activeEnforcement(a.db, "block", "203.0.113.7");
    expect(block).toMatchObject({ kind: "block", createdBy: "fleet:ops-laptop", detail: { fleet: { id: message.id, origin: "ops-laptop", by: "alice", reason: "C2 seen on web-1" } } });
    expect(block!.expires).toBe(Date.parse(message.at) + 3_600_000);
    expect(activeEnforcement(a.db, "block", "198.51.100.9")).toBeUndefined();
    expect(activeEnforcement(a.db, "block", "203.0.113.99")).toBeUndefined();
    expect(a.syncs).toBe(1);
    expect(a.reports.find((r) => r.includes("refused"))).toMatch(/198\.51\.100\.9 .*overlaps 198\.51\.100\.0\/24 \(allowlisted network\)/);
    expect(a.reports.filter((r) => r.includes("malformed")).join("\n")).toMatch(/target: "999\.1\.1\.1" is not an address or CIDR/);

    // Sent again (same id): JetStream stores it once, nothing happens twice.
    await js.publish(BLOCKS_SUBJECT, encode(message), { msgID: message.id });
    // A host that was not running when the orders went out.
    const b = await startAgent("agent-b");
    await until(() => b.handle.stats().received >= 7, 10_000, "agent-b to catch up");
    expect(b.handle.stats()).toMatchObject({ received: 7, blocked: 1, refused: 1, malformed: 4, expired: 1 });
    expect(activeEnforcement(b.db, "block", "203.0.113.7")?.createdBy).toBe("fleet:ops-laptop");
  });

  it("a host that was down resumes where it stopped; unblock lifts fleet blocks and keeps local ones", async () => {
    const a = agents[0]!;
    const before = a.handle.stats().received;
    expect(before).toBe(7);
    await a.handle.stop();
    // A block made on agent-a by its own playbook, and orders sent while agent-a is down.
    enforce(a.db, { kind: "block", target: "192.0.2.50", createdBy: "playbook:block-c2" });
    await order("block", "203.0.113.8");
    await order("unblock", "192.0.2.50");
    await order("unblock", "203.0.113.7", { reason: "false positive" });

    const again = await startAgent("agent-a", a.db);
    await until(() => again.handle.stats().received >= 3, 10_000, "agent-a to resume");
    await new Promise((r) => setTimeout(r, 300));
    // Only the three new orders: the durable consumer remembered what agent-a had done.
    expect(again.handle.stats()).toMatchObject({ received: 3, blocked: 1, keptLocal: 1, unblocked: 1 });
    expect(activeEnforcement(a.db, "block", "203.0.113.8")?.createdBy).toBe("fleet:ops-laptop");
    expect(activeEnforcement(a.db, "block", "192.0.2.50")?.createdBy).toBe("playbook:block-c2");
    expect(activeEnforcement(a.db, "block", "203.0.113.7")).toBeUndefined();
    const released = listEnforcements(a.db, { kind: "block" }).find((e) => e.target === "203.0.113.7");
    expect(released).toMatchObject({ releasedBy: "fleet:ops-laptop", releaseReason: "false positive" });
    expect(again.syncs).toBe(2);

    // agent-b never made 192.0.2.50 itself: the fleet unblock of it is a no-op there.
    const b = agents[1]!;
    await until(() => b.handle.stats().received >= 10, 10_000, "agent-b to follow");
    expect(b.handle.stats()).toMatchObject({ received: 10, blocked: 2, notBlocked: 1, unblocked: 1 });
    expect(activeEnforcement(b.db, "block", "203.0.113.7")).toBeUndefined();
  });

  it("hv fleet block / status: the CLI publishes an order every host applies, and shows each host's consumer", async () => {
    const out = await runFleetCli(["block", "2001:DB8:0:0::1/128", "--ttl", "30m", "--reason", "scanner", "--origin", "cli-box", "--json", "--server", server.url]);
    const printed = JSON.parse(out) as { op: string; target: string; ttlMs: number; origin: string; stream: string; seq: number };
    // The canonical form: the same address always makes the same row.
    expect(printed).toMatchObject({ op: "block", target: "2001:db8::1", ttlMs: 1_800_000, origin: "cli-box", stream: "HV_FLEET" });
    const b = agents[1]!;
    await until(() => b.handle.stats().received >= 11, 10_000, "agent-b to get the CLI's order");
    expect(activeEnforcement(b.db, "block", "2001:db8::1")).toMatchObject({ createdBy: "fleet:cli-box", detail: { fleet: { reason: "scanner" } } });

    const status = JSON.parse(await runFleetCli(["status", "--json", "--server", server.url])) as { messages: number; consumers: Array<{ name: string; pending: number }> };
    expect(status.consumers.map((c) => c.name).sort()).toEqual(["hv-blocks-agent-a", "hv-blocks-agent-b"]);
    expect(status.consumers.find((c) => c.name === "hv-blocks-agent-b")?.pending).toBe(0);

    await expect(runFleetCli(["block", "10.0.0.0/4", "--server", server.url])).rejects.toThrow(/wider than \/8/);
  });
});

/** Runs `hv fleet …` in this process and returns what it printed on stdout. */
async function runFleetCli(args: string[]): Promise<string> {
  const program = new Command("hv").exitOverride();
  registerFleet(program);
  let text = "";
  const spy = vi.spyOn(process.stdout, "write").mockImplementation((chunk: string | Uint8Array) => {
    text += chunk.toString();
    return true;
  });
  try {
    await program.parseAsync(["node", "hv", "fleet", ...args]);
  } finally {
    spy.mockRestore();
  }
  return text;
}
