// THE fleet failover test: a three-node JetStream cluster of real nats-server processes on
// loopback, HV_FLEET with 3 replicas. A nats sink publishes N alerts at a steady rate; midway the
// node it is connected to — made the stream's leader first — is killed with SIGKILL. The sink
// fails over to another node and retries what was not acked with the same message ids. In the end
// the stream, and a fleet view that watched the whole time, hold every alert exactly once.

import { connect, type NatsConnection } from "nats";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ensureStream } from "../../src/fleet/connection.js";
import { STREAM } from "../../src/fleet/subjects.js";
import { watchFleet } from "../../src/fleet/watch.js";
import { NatsSink } from "../../src/outputs/nats.js";
import { makeAlert, until } from "../outputs/alerts.js";
import { startNatsCluster, whyNoNatsServer, type RunningCluster } from "../helpers/nats.js";

const inCI = process.env.CI === "true";
const unavailable = whyNoNatsServer();
if (unavailable) console.warn(`\n*** NATS cluster test ${inCI ? "FAILS (CI=true)" : "SKIPPED"}: ${unavailable} ***\n`);

const N = Number(process.env.HV_FLEET_TEST_ALERTS ?? 2000);
const PER_TICK = 10;
const TICK_MS = 50; // 200 alerts/s
const KILL_AT = Math.floor(N * 0.4);

describe.skipIf(unavailable !== undefined && !inCI)("fleet over a 3-node JetStream cluster (real nats-server)", () => {
  let cluster: RunningCluster;
  let admin: NatsConnection;

  beforeAll(async () => {
    cluster = await startNatsCluster(3);
    admin = await connect({ servers: cluster.urls });
  });
  afterAll(async () => {
    await admin?.close();
    await cluster?.stop();
  });

  it(`loses and duplicates none of ${N} alerts when the node the publisher uses (and the stream leader) is killed`, { timeout: 180_000 }, async () => {
    const jsm = await admin.jetstreamManager({ timeout: JS_API_TIMEOUT_MS });
    // Right after start the cluster may still be electing its meta leader.
    const created = await retryingJs(() => ensureStream(jsm, { replicas: 3 }));
    expect(created.config.num_replicas).toBe(3);

    const sink = new NatsSink({ servers: cluster.urls, host: "pub-host", stream: { replicas: 3 } });
    // The sink connects on its first alert; a first alert tells us which node it uses.
    await sink.send(makeAlert({ id: 1, count: 1, entity: { kind: "vm", id: "vm-1" } }));
    await sink.flush();
    const victim = sink.stats().server;
    expect(victim).toBeDefined();
    const leaderMoves = await makeLeader(admin, victim!);

    // A fleet view watching the whole time, through a connection of its own.
    const seen = new Map<number, number>();
    const abort = new AbortController();
    const viewer = await connect({ servers: cluster.urls });
    const restarts: string[] = [];
    const watching = watchFleet({
      nc: viewer,
      sinceMs: 3_600_000,
      signal: abort.signal,
      onRestart: (why) => restarts.push(why),
      onItem: (item) => {
        if (item.kind === "alert") seen.set(item.alert.id!, (seen.get(item.alert.id!) ?? 0) + 1);
      },
    });

    const started = Date.now();
    let killedAt = 0;
    let i = 2;
    await new Promise<void>((resolve) => {
      const timer = setInterval(() => {
        for (let k = 0; k < PER_TICK && i <= N; k++, i++) void sink.send(makeAlert({ id: i, count: 1, entity: { kind: "vm", id: `vm-${i}` } }));
        if (killedAt === 0 && i > KILL_AT) {
          killedAt = Date.now();
          void cluster.node(victim!)!.kill();
        }
        if (i > N) {
          clearInterval(timer);
          resolve();
        }
      }, TICK_MS);
    });
    const sentAt = Date.now();
    await sink.flush();
    const flushedAt = Date.now();
    const stats = sink.stats();
    await sink.close();

    await until(() => seen.size >= N, 60_000, `the fleet view to see ${N} alerts`).catch(async (err: unknown) => {
      // Where did the others go: into the stream (the view fell behind) or nowhere (the sink lost them)?
      const stored = await retryingJs(() => jsm.streams.info(STREAM)).then((i) => String(i.state.messages), (e: unknown) => `unknown (${String(e)})`);
      throw new Error(`${(err as Error).message}: has ${seen.size}; the stream holds ${stored}; sink ${JSON.stringify(stats)}; view restarts: ${restarts.join(" | ")}`);
    });
    // Anything duplicated would arrive right behind; give it a moment.
    await new Promise((r) => setTimeout(r, 500));
    abort.abort();
    await watching;
    await viewer.close();

    // The admin connection may have used the killed node: its first requests after can time out.
    const info = await retryingJs(() => jsm.streams.info(STREAM));
    const dupes = [...seen.values()].filter((n) => n > 1).length;
    const missing = Array.from({ length: N }, (_, k) => k + 1).filter((id) => !seen.has(id));
    console.log(
      `fleet cluster: N=${N} at ${(1000 * PER_TICK) / TICK_MS}/s; killed ${victim} (connection + stream leader after ${leaderMoves} step-downs) ${killedAt - started} ms in; ` +
        `publishing took ${sentAt - started} ms, flushed ${flushedAt - sentAt} ms later; sink: sent ${stats.sent}, failed ${stats.failed}, dropped ${stats.dropped}, ` +
        `failed attempts ${stats.failedAttempts}, duplicate acks ${stats.duplicates}, disconnects ${stats.disconnects}, reconnects ${stats.reconnects}, now on ${stats.server}; ` +
        `stream: ${info.state.messages} messages, leader ${info.cluster?.leader}; view: ${seen.size} alerts, ${dupes} seen twice, ${missing.length} missing, ${restarts.length} consumer restarts`,
    );
    expect(cluster.node(victim!)!.alive()).toBe(false);
    expect(stats).toMatchObject({ sent: N, failed: 0, dropped: 0 });
    expect(stats.reconnects).toBeGreaterThanOrEqual(1);
    expect(stats.server).not.toBe(victim);
    expect(missing).toEqual([]);
    expect(dupes).toBe(0);
    expect(info.state.messages).toBe(N);
  });
});

/** JetStream API calls of the test itself wait this long (elections on a loaded machine take seconds). */
const JS_API_TIMEOUT_MS = 15_000;

/**
 * The test's own JetStream API calls (not the code under test) retried while the cluster elects a
 * leader or the admin connection moves to another node: a timeout or "no responders" then says
 * nothing about hv.
 */
async function retryingJs<T>(call: () => Promise<T>, attempts = 5): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await call();
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (i >= attempts || !(code === "TIMEOUT" || code === "503")) throw err;
      await new Promise((r) => setTimeout(r, 500 * i));
    }
  }
}

/** Steps the stream leader down until the given node leads (each step-down elects a random replica). */
async function makeLeader(nc: NatsConnection, name: string): Promise<number> {
  const jsm = await nc.jetstreamManager({ timeout: JS_API_TIMEOUT_MS });
  for (let moves = 0; moves < 12; moves++) {
    const leader = (await retryingJs(() => jsm.streams.info(STREAM))).cluster?.leader;
    if (leader === name) return moves;
    if (leader) await retryingJs(() => nc.request(`$JS.API.STREAM.LEADER.STEPDOWN.${STREAM}`, undefined, { timeout: JS_API_TIMEOUT_MS }));
    for (let k = 0; k < 50; k++) {
      const now = (await retryingJs(() => jsm.streams.info(STREAM))).cluster?.leader;
      if (now && now !== leader) break;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  throw new Error(`could not make ${name} the leader of ${STREAM}`);
}
