// Fleet-wide blocks, the agent's side: every host consumes `hv.fleet.blocks` through its own
// durable consumer (hv-blocks-<host>), so a host that was down, or joins later, catches up from
// where it stopped. A block becomes a `block` enforcement in the host's store (created by
// "fleet:<origin>", expiring at the order's time + ttl) and the firewall is synced from the store.
// The host's own allowlist always wins: a block on a protected address is refused and reported.
// An unblock releases only a block the fleet made; a block a local playbook or person made stays.

import type Database from "better-sqlite3";
import { randomUUID } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import type { ConsumerMessages, JetStreamManager, JsMsg, NatsConnection, PubAck } from "nats";
import type { Allowlist } from "../events/allowlist.js";
import { activeEnforcement, enforce, releaseEnforcement } from "../store/enforcements.js";
import { connectFleet, describeNatsError, ensureStream, isNotFound, natsLib, type FleetConnectionOptions, type StreamOptions } from "./connection.js";
import { encode, parseBlockMessage, type BlockMessage } from "./messages.js";
import { BLOCKS_SUBJECT, hostToken, STREAM } from "./subjects.js";
import { canonicalTarget } from "./target.js";

export interface FleetBlocksOptions {
  /** A connection to share (not closed by stop()); else `servers` (and credentials) to connect with. */
  nc?: NatsConnection;
  connection?: FleetConnectionOptions;
  db: Database.Database;
  /** This host's fleet name: names its durable consumer. */
  host: string;
  allowlist: Allowlist;
  /** Makes the firewall match the store; called after each change. */
  syncFirewall: () => Promise<unknown>;
  onReport?: (text: string) => void;
  stream?: StreamOptions;
  /** false: never create HV_FLEET (an administrator manages it). Default true. */
  createStream?: boolean;
}

export interface FleetBlocksStats {
  /** Messages taken from the consumer, good or bad. */
  received: number;
  blocked: number;
  /** A block already in force got a later expiry. */
  extended: number;
  /** Already in force as ordered. */
  unchanged: number;
  unblocked: number;
  /** Unblock of something not blocked here. */
  notBlocked: number;
  /** Unblock of a block made on this host (not by the fleet): kept. */
  keptLocal: number;
  /** Refused by this host's allowlist. */
  refused: number;
  /** The order's ttl had run out before it arrived. */
  expired: number;
  malformed: number;
  /** Store or firewall errors. */
  errors: number;
  /** The consumer is attached and receiving. */
  attached: boolean;
}

export interface FleetBlocksHandle {
  stats(): FleetBlocksStats;
  /** Resolves once the durable consumer is attached the first time. */
  ready: Promise<void>;
  stop(): Promise<void>;
}

/** The durable consumer of one host. */
export function blocksConsumerName(host: string): string {
  return `hv-blocks-${hostToken(host)}`;
}

export function startFleetBlocks(opts: FleetBlocksOptions): FleetBlocksHandle {
  if (!opts.nc && !opts.connection) throw new Error("startFleetBlocks: give nc or connection");
  const report = opts.onReport ?? (() => undefined);
  const counts: FleetBlocksStats = { received: 0, blocked: 0, extended: 0, unchanged: 0, unblocked: 0, notBlocked: 0, keptLocal: 0, refused: 0, expired: 0, malformed: 0, errors: 0, attached: false };
  const abort = new AbortController();
  let messages: ConsumerMessages | undefined;
  let owned: NatsConnection | undefined;
  let markReady: () => void = () => undefined;
  const ready = new Promise<void>((resolve) => (markReady = resolve));

  const attach = async (): Promise<ConsumerMessages> => {
    const nc = opts.nc ?? (owned && !owned.isClosed() ? owned : (owned = await connectFleet({ name: `hv ${opts.host} blocks`, ...opts.connection! })));
    const jsm = await nc.jetstreamManager();
    if (opts.createStream !== false) await ensureStream(jsm, opts.stream);
    await ensureDurable(jsm, blocksConsumerName(opts.host));
    const consumer = await nc.jetstream().consumers.get(STREAM, blocksConsumerName(opts.host));
    return consumer.consume({ max_messages: 64 });
  };

  const run = async (): Promise<void> => {
    for (let attempt = 0; !abort.signal.aborted; attempt++) {
      try {
        messages = await attach();
        if (abort.signal.aborted) break;
        counts.attached = true;
        markReady();
        attempt = 0;
        for await (const m of messages) await handle(m);
      } catch (err) {
        if (!abort.signal.aborted) report(`fleet blocks: ${describeNatsError(err)}; retrying`);
      }
      counts.attached = false;
      await sleep(Math.min(30_000, 500 * 2 ** attempt), undefined, { signal: abort.signal }).catch(() => undefined);
    }
  };

  const handle = async (m: JsMsg): Promise<void> => {
    counts.received++;
    const parsed = parseBlockMessage(m.data);
    if (!parsed.ok) {
      counts.malformed++;
      report(`fleet blocks: skipped malformed message (stream seq ${m.seq}): ${parsed.error}`);
      // term: never redelivered, it will not get better.
      m.term();
      return;
    }
    try {
      if (apply(parsed.value)) await opts.syncFirewall().catch((err: unknown) => {
        counts.errors++;
        report(`fleet blocks: firewall sync failed: ${describeNatsError(err)}`);
      });
      m.ack();
    } catch (err) {
      counts.errors++;
      report(`fleet blocks: ${parsed.value.op} ${parsed.value.target}: ${describeNatsError(err)}; will retry`);
      m.nak(5000);
    }
  };

  /** Applies one order to the store; true when the store changed (the firewall must follow). */
  const apply = (b: BlockMessage): boolean => {
    const c = canonicalTarget(b.target);
    if ("error" in c) throw new Error(c.error); // the schema already checked it
    const target = c.target;
    const by = `fleet:${b.origin}`;
    if (b.op === "unblock") {
      const existing = activeEnforcement(opts.db, "block", target);
      if (!existing) {
        counts.notBlocked++;
        return false;
      }
      if (!existing.createdBy?.startsWith("fleet:")) {
        counts.keptLocal++;
        report(`fleet blocks: kept the block of ${target}: made on this host by ${existing.createdBy ?? "unknown"}, not by the fleet`);
        return false;
      }
      releaseEnforcement(opts.db, "block", target, by, b.reason ?? "fleet unblock");
      counts.unblocked++;
      report(`fleet blocks: unblocked ${target} (ordered by ${b.by ? `${b.by}@` : ""}${b.origin})`);
      return true;
    }
    const expires = b.ttlMs === undefined ? null : Date.parse(b.at) + b.ttlMs;
    if (expires !== null && expires <= Date.now()) {
      counts.expired++;
      return false;
    }
    const protectedWhy = opts.allowlist.address(target);
    if (protectedWhy) {
      counts.refused++;
      report(`fleet blocks: refused to block ${target} (ordered by ${b.origin}): ${protectedWhy}`);
      return false;
    }
    const before = activeEnforcement(opts.db, "block", target);
    const r = enforce(opts.db, {
      kind: "block",
      target,
      detail: { fleet: { id: b.id, origin: b.origin, ...(b.by ? { by: b.by } : {}), ...(b.reason ? { reason: b.reason } : {}) } },
      createdBy: by,
      expires,
    });
    if (r.created) {
      counts.blocked++;
      report(`fleet blocks: blocked ${target}${expires === null ? "" : ` until ${new Date(expires).toISOString()}`} (ordered by ${b.by ? `${b.by}@` : ""}${b.origin}${b.reason ? `: ${b.reason}` : ""})`);
      return true;
    }
    if (before && before.expires !== r.enforcement.expires) {
      counts.extended++;
      return true;
    }
    counts.unchanged++;
    return false;
  };

  void run();
  return {
    stats: () => ({ ...counts }),
    ready,
    stop: async () => {
      abort.abort();
      await messages?.close();
      await owned?.close();
    },
  };
}

async function ensureDurable(jsm: JetStreamManager, name: string): Promise<void> {
  try {
    await jsm.consumers.info(STREAM, name);
    return;
  } catch (err) {
    if (!isNotFound(err)) throw err;
  }
  const { AckPolicy, DeliverPolicy, nanos } = await natsLib();
  await jsm.consumers.add(STREAM, {
    durable_name: name,
    ack_policy: AckPolicy.Explicit,
    // Every order still in the stream: a new host starts with the fleet's blocks.
    deliver_policy: DeliverPolicy.All,
    filter_subject: BLOCKS_SUBJECT,
    ack_wait: nanos(30_000),
    // A message that keeps failing (the store is broken) is not retried forever.
    max_deliver: 20,
  });
}

export interface BlockOrder {
  op: "block" | "unblock";
  target: string;
  ttlMs?: number;
  reason?: string;
  origin: string;
  by?: string;
}

/** Publishes a block or unblock order and waits for JetStream to store it. Throws on a bad target. */
export async function publishBlockOrder(nc: NatsConnection, order: BlockOrder): Promise<{ message: BlockMessage; ack: PubAck }> {
  const c = canonicalTarget(order.target);
  if ("error" in c) throw new Error(c.error);
  const message: BlockMessage = {
    v: 1,
    id: randomUUID(),
    op: order.op,
    target: c.target,
    ...(order.ttlMs !== undefined && order.op === "block" ? { ttlMs: order.ttlMs } : {}),
    ...(order.reason ? { reason: order.reason } : {}),
    origin: order.origin,
    ...(order.by ? { by: order.by } : {}),
    at: new Date().toISOString(),
  };
  const ack = await nc.jetstream().publish(BLOCKS_SUBJECT, encode(message), { msgID: message.id });
  return { message, ack };
}
